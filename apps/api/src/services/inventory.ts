/** Read models of runners and boards for the REST API. */
import type { BoardView, RunnerView } from "@tock-hil/protocol";
import type { Db } from "../db.ts";
import { whyWaiting } from "./matching.ts";
import type { InventoryBoard, MatchRole } from "./matching.ts";

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

/** Every present board with its runner's liveness and whether a running attempt holds it. */
async function presentBoards(db: Db, runnerTimeoutMs: number) {
  const rows = await db.board.findMany({
    where: { present: true },
    orderBy: [{ type: "asc" }, { name: "asc" }],
    include: {
      runner: { select: { name: true, lastSeenAt: true } },
      attempts: { where: { attempt: { status: "running" } }, select: { attemptId: true }, take: 1 },
    },
  });
  return rows.map((b) => ({ ...b, online: isOnline(b.runner.lastSeenAt, runnerTimeoutMs), busy: b.attempts.length > 0 }));
}

export async function listBoards(db: Db, runnerTimeoutMs: number): Promise<BoardView[]> {
  return (await presentBoards(db, runnerTimeoutMs)).map((b) => ({
    id: b.id,
    name: b.name,
    type: b.type,
    runner: b.runner.name,
    tags: b.tags,
    state: !b.online ? "offline" : b.busy ? "busy" : "idle",
    health: b.health,
    lastSeenAt: b.lastSeenAt?.toISOString() ?? null,
  }));
}

/**
 * Why each of these queued jobs has not started (job id -> reason), from one read of the lab inventory. Board
 * names are only unique per runner, so they are shown as runner/board when names repeat across runners.
 */
export async function waitingReasons(
  db: Db,
  jobs: readonly { id: string; roles: unknown; sameGroup: boolean }[],
  runnerTimeoutMs: number,
): Promise<Map<string, string>> {
  if (jobs.length === 0) return new Map();
  const boards: InventoryBoard[] = (await presentBoards(db, runnerTimeoutMs)).map((b) => ({
    id: b.id,
    name: b.name,
    type: b.type,
    tags: b.tags,
    group: b.group,
    runner: b.runner.name,
    online: b.online,
    health: b.health,
    busy: b.busy,
  }));
  const names = new Map<string, number>();
  for (const b of boards) names.set(b.name, (names.get(b.name) ?? 0) + 1);
  for (const b of boards) if ((names.get(b.name) ?? 0) > 1) b.name = `${b.runner}/${b.name}`;
  return new Map(jobs.map((j) => [j.id, whyWaiting({ roles: j.roles as MatchRole[], sameGroup: j.sameGroup }, boards)]));
}
