/** Read models of runners and boards for the REST API. */
import type { BoardView, RunnerView } from "@tock-hil/protocol";
import type { Db } from "../db.ts";

const isOnline = (lastSeenAt: Date | null, timeoutMs: number) => lastSeenAt !== null && Date.now() - lastSeenAt.getTime() < timeoutMs;

export async function listRunners(db: Db, runnerTimeoutMs: number): Promise<RunnerView[]> {
  const rows = await db.runner.findMany({
    orderBy: { name: "asc" },
    include: { boards: { where: { present: true }, select: { name: true } } },
  });
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    hostname: r.hostname,
    version: r.version,
    online: isOnline(r.lastSeenAt, runnerTimeoutMs),
    lastSeenAt: r.lastSeenAt?.toISOString() ?? null,
    createdAt: r.createdAt.toISOString(),
    boards: r.boards.map((b) => b.name),
  }));
}

export async function listBoards(db: Db, runnerTimeoutMs: number): Promise<BoardView[]> {
  const rows = await db.board.findMany({
    where: { present: true },
    orderBy: [{ type: "asc" }, { name: "asc" }],
    include: {
      runner: { select: { name: true, lastSeenAt: true } },
      attempts: { where: { attempt: { status: "running" } }, select: { attemptId: true }, take: 1 },
    },
  });
  return rows.map((b) => ({
    id: b.id,
    name: b.name,
    type: b.type,
    runner: b.runner.name,
    tags: b.tags,
    state: !isOnline(b.runner.lastSeenAt, runnerTimeoutMs) ? "offline" : b.attempts.length > 0 ? "busy" : "idle",
    health: b.health,
    lastSeenAt: b.lastSeenAt?.toISOString() ?? null,
  }));
}
