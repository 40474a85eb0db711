/** Board statistics for the lab page: health, what it is doing, and how often its attempts end in infra errors. */
import type { BoardHealthBody, BoardStats } from "@tock-hil/protocol";
import type { Db, PrismaClient } from "../db.ts";
import { AppError, ErrorCode, notFound } from "../errors.ts";
import { lockScheduling } from "./allocator.ts";
import { canTransition } from "./states.ts";

type Row = {
  id: string;
  name: string;
  type: string;
  runner: string;
  runnerSeen: Date | null;
  health: BoardStats["health"];
  healthMessage: string | null;
  healthCheckedAt: Date | null;
  infraErrors: number;
  lastSeenAt: Date | null;
  attempts: bigint;
  errored: bigint;
  lastAttemptAt: Date | null;
  current: { jobId: string; runId: string; suite: string; attemptId: string } | null;
};

export async function boardStats(db: Db, options: { days: number; runnerTimeoutMs: number }): Promise<BoardStats[]> {
  const since = new Date(Date.now() - options.days * 86_400_000);
  const rows = await db.$queryRaw<Row[]>`
    SELECT b.id, b.name, b.type, r.name AS runner, r."lastSeenAt" AS "runnerSeen", b.health, b."healthMessage",
      b."healthCheckedAt", b."infraErrors", b."lastSeenAt",
      count(a.id) FILTER (WHERE a."startedAt" >= ${since}) AS attempts,
      count(a.id) FILTER (WHERE a."startedAt" >= ${since} AND a.status = 'error') AS errored,
      max(a."startedAt") AS "lastAttemptAt",
      (SELECT json_build_object('jobId', j.id, 'runId', j."runId", 'suite', j.suite, 'attemptId', ra.id)
        FROM "AttemptBoard" rab JOIN "Attempt" ra ON ra.id = rab."attemptId" JOIN "Job" j ON j.id = ra."jobId"
        WHERE rab."boardId" = b.id AND ra.status = 'running' LIMIT 1) AS current
    FROM "Board" b
    JOIN "Runner" r ON r.id = b."runnerId"
    LEFT JOIN "AttemptBoard" ab ON ab."boardId" = b.id
    LEFT JOIN "Attempt" a ON a.id = ab."attemptId"
    WHERE b.present
    GROUP BY b.id, r.id
    ORDER BY b.type, b.name`;
  const now = Date.now();
  return rows.map((b) => {
    const online = b.runnerSeen !== null && now - b.runnerSeen.getTime() < options.runnerTimeoutMs;
    const attempts = Number(b.attempts);
    const errored = Number(b.errored);
    return {
      id: b.id,
      name: b.name,
      type: b.type,
      runner: b.runner,
      runnerOnline: online,
      state: !online ? "offline" : b.current ? "busy" : "idle",
      health: b.health,
      healthMessage: b.healthMessage,
      healthCheckedAt: b.healthCheckedAt?.toISOString() ?? null,
      consecutiveInfraErrors: b.infraErrors,
      lastSeenAt: b.lastSeenAt?.toISOString() ?? null,
      currentJob: b.current,
      attempts,
      infraErrors: errored,
      infraErrorRate: attempts > 0 ? Math.round((errored / attempts) * 1000) / 1000 : null,
      lastAttemptAt: b.lastAttemptAt?.toISOString() ?? null,
    };
  });
}

/**
 * Admin health changes. `unknown` is "health check now": the allocator runs a health check on a board of unknown
 * health before giving it a job. `good` and `bad` are only ever set by health checks and infra errors, so a person
 * cannot declare a broken board good without it proving so.
 */
export async function setBoardHealth(db: PrismaClient, boardId: string, body: BoardHealthBody, who: string): Promise<void> {
  await db.$transaction(async (tx) => {
    // Health decides what a scheduling pass may allocate: the change waits for a pass in flight to commit.
    await lockScheduling(tx);
    const board = await tx.board.findUnique({ where: { id: boardId }, select: { health: true, name: true } });
    if (!board) throw notFound("board", boardId);
    if (!canTransition("board", board.health, body.health)) {
      throw new AppError(
        ErrorCode.CONFLICT,
        `board ${board.name} is ${board.health}; set health unknown to bring it back through a health check`,
      );
    }
    await tx.board.update({
      where: { id: boardId },
      data: {
        health: body.health,
        healthMessage: body.message ?? `set to ${body.health} by ${who}`,
        ...(body.health === "unknown" ? { infraErrors: 0 } : {}),
      },
    });
  });
}
