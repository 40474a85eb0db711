/**
 * Leasing: decides what a runner does next, atomically in Postgres. First a health check for any board whose
 * health is unknown (new boards, boards after an infra error); otherwise the first queued job, in scheduling order,
 * whose every role its free healthy boards can fill at once (gang allocation, no hold-and-wait), with reservations
 * that stop big jobs from starving (see planPlacement).
 *
 * Scheduling order: effective priority (trigger priority plus aging) first, then fair share (the project with fewer
 * running jobs first), then age.
 */
import type { BoardHealth, Faults, HealthCheck, Lease } from "@tock-hil/protocol";
import type { PrismaClient } from "../db.ts";
import { planPlacement } from "./matching.ts";
import type { QueuedJobForPlan, RunnerBoardState } from "./matching.ts";
import type { PlannedRole } from "./runs.ts";
import { rollUpRun } from "./runs.ts";
import { assertTransition } from "./states.ts";

// Serialises allocation across API processes: two leases can never take the same board. Allocation is a few
// indexed queries, so holding one transaction-scoped advisory lock costs little and rules out deadlocks.
const ALLOCATOR_LOCK = 0x48494c01;
/** How many queued jobs one lease looks at; beyond that, jobs wait for the head of the queue to move. */
const SCAN_LIMIT = 200;

export type LeaseSettings = {
  /** Priority points a queued job gains per minute of waiting, so low priorities are not starved forever. */
  agingPerMinute: number;
  steps: Lease["steps"];
};

export type LeaseDecision = { lease: Lease | null; healthCheck: HealthCheck | null };

export async function lease(db: PrismaClient, runnerId: string, settings: LeaseSettings): Promise<LeaseDecision> {
  return db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${ALLOCATOR_LOCK})`;
    // Asking for work is a sign of life, like a heartbeat.
    await tx.runner.update({ where: { id: runnerId }, data: { lastSeenAt: new Date() } });
    const boards = await tx.board.findMany({
      where: { runnerId, present: true, health: { in: ["good", "unknown"] } },
      orderBy: { name: "asc" },
      include: { _count: { select: { attempts: { where: { attempt: { status: "running" } } } } } },
    });

    // Health checks come first: a board of unknown health must prove itself before it takes a job.
    for (const board of boards.filter((b) => b.health === "unknown" && b._count.attempts === 0)) {
      const kernel =
        (await tx.artifact.findFirst({ where: { kind: "kernel", name: board.type }, orderBy: { createdAt: "desc" } })) ??
        (await tx.artifact.findFirst({ where: { kind: "kernel", boardType: board.type }, orderBy: { createdAt: "desc" } }));
      if (!kernel) {
        await tx.board.update({
          where: { id: board.id },
          data: { healthMessage: `no kernel image for ${board.type} has been uploaded, so the health check cannot run` },
        });
        continue;
      }
      await tx.board.update({
        where: { id: board.id },
        data: { healthMessage: `health check started with ${kernel.name} (${kernel.sha256.slice(0, 12)})` },
      });
      return {
        lease: null,
        healthCheck: {
          board: board.name,
          firmware: [{ name: kernel.name, kind: kernel.kind, sha256: kernel.sha256, size: kernel.size, flash: true }],
          bootTimeoutMs: settings.steps.bootMs,
        },
      };
    }

    const states: RunnerBoardState[] = boards
      .filter((b) => b.health === "good")
      .map((b) => ({ id: b.id, name: b.name, type: b.type, tags: b.tags, group: b.group, free: b._count.attempts === 0 }));
    if (!states.some((b) => b.free)) return { lease: null, healthCheck: null };

    const order = await tx.$queryRaw<{ id: string }[]>`
      WITH running AS (
        SELECT "projectId", count(*)::int AS n FROM "Job" WHERE status = 'running' GROUP BY "projectId"
      )
      SELECT j.id FROM "Job" j
      JOIN "Run" r ON r.id = j."runId"
      LEFT JOIN running ON running."projectId" IS NOT DISTINCT FROM j."projectId"
      WHERE j.status = 'queued' AND r.status IN ('queued', 'running')
      ORDER BY j.priority + floor(extract(epoch FROM (now() - j."createdAt")) / 60 * ${settings.agingPerMinute}) DESC,
               coalesce(running.n, 0) ASC, j."createdAt" ASC, j.id ASC
      LIMIT ${SCAN_LIMIT}`;
    if (order.length === 0) return { lease: null, healthCheck: null };
    const rows = await tx.job.findMany({
      where: { id: { in: order.map((o) => o.id) } },
      include: {
        run: { select: { seed: true } },
        attempts: { select: { number: true, status: true, boards: { select: { boardId: true } } } },
      },
    });
    const byId = new Map(rows.map((r) => [r.id, r]));
    const jobs: QueuedJobForPlan[] = order.flatMap(({ id }) => {
      const job = byId.get(id);
      if (!job) return [];
      const avoid = new Set(job.attempts.filter((a) => a.status === "error").flatMap((a) => a.boards.map((b) => b.boardId)));
      return [{ id, roles: job.roles as unknown as PlannedRole[], sameGroup: job.sameGroup, avoidBoards: avoid }];
    });
    const placement = planPlacement(jobs, states);
    if (!placement) return { lease: null, healthCheck: null };

    const job = byId.get(placement.jobId)!;
    // Lock the run before touching the job (the order every writer uses), then make sure a cancel or a queue
    // timeout did not end the job since we read it; if so, the runner simply asks again.
    await tx.$queryRaw`SELECT id FROM "Run" WHERE id = ${job.runId}::uuid FOR UPDATE`;
    const current = await tx.job.findUniqueOrThrow({ where: { id: job.id }, select: { status: true } });
    if (current.status !== "queued") return { lease: null, healthCheck: null };
    const roles = job.roles as unknown as PlannedRole[];
    assertTransition("job", job.id, current.status, "running");
    const attempt = await tx.attempt.create({
      data: {
        jobId: job.id,
        number: job.attempts.length + 1,
        runnerId,
        boards: { create: roles.map((r) => ({ role: r.role, boardId: placement.boards.get(r.role)!.id })) },
      },
    });
    await tx.job.update({ where: { id: job.id }, data: { status: "running", startedAt: job.startedAt ?? new Date() } });
    await rollUpRun(tx, job.runId);
    return {
      healthCheck: null,
      lease: {
        attemptId: attempt.id,
        attemptNumber: attempt.number,
        jobId: job.id,
        runId: job.runId,
        suite: job.suite,
        tests: job.tests,
        roles: roles.map((r) => ({ role: r.role, board: placement.boards.get(r.role)!.name, firmware: r.firmware })),
        seed: Number(job.run.seed),
        faults: job.faults as Faults | null,
        timeoutMs: job.timeoutMs,
        reruns: job.reruns,
        steps: settings.steps,
      },
    };
  });
}

/**
 * Records a health check's outcome. A pass makes the board `good` and clears its infra error count; a failure
 * counts as an infra error, and after `badAfter` in a row the board is `bad` (taken out until an admin acts).
 */
export async function reportHealth(
  db: PrismaClient,
  runnerId: string,
  boardName: string,
  ok: boolean,
  message: string,
  badAfter: number,
): Promise<BoardHealth | undefined> {
  return db.$transaction(async (tx) => {
    const board = await tx.board.findUnique({ where: { runnerId_name: { runnerId, name: boardName } } });
    if (!board) return undefined;
    if (board.health === "maintenance" || board.health === "retired") return board.health;
    const infraErrors = ok ? 0 : board.infraErrors + 1;
    const health: BoardHealth = ok ? "good" : infraErrors >= badAfter ? "bad" : "unknown";
    await tx.board.update({ where: { id: board.id }, data: { health, infraErrors, healthCheckedAt: new Date(), healthMessage: message } });
    return health;
  });
}
