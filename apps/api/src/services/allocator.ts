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
import type { Prisma, PrismaClient } from "../db.ts";
import { planPlacement } from "./matching.ts";
import type { QueuedJobForPlan, RunnerBoardState } from "./matching.ts";
import type { PlannedRole } from "./runs.ts";
import { rollUpRun } from "./runs.ts";

/** Advisory lock key space for per-runner allocation locks. */
const RUNNER_LOCK_SPACE = 0x48494c;
/** How many queued jobs one lease looks at; beyond that, jobs wait for the head of the queue to move. */
const SCAN_LIMIT = 200;

export type LeaseSettings = {
  /** Priority points a queued job gains per minute of waiting, so low priorities are not starved forever. */
  agingPerMinute: number;
  steps: Lease["steps"];
};

export type LeaseDecision = { lease: Lease | null; healthCheck: HealthCheck | null };

export async function lease(db: PrismaClient, runnerId: string, settings: LeaseSettings): Promise<LeaseDecision> {
  // Asking for work is a sign of life, like a heartbeat (outside the transaction: it needs no lock).
  await db.runner.update({ where: { id: runnerId }, data: { lastSeenAt: new Date() } });
  return db.$transaction(async (tx) => {
    // One allocator at a time per runner: its boards cannot be double-booked by concurrent lease requests. Runners
    // do not wait for each other; two runners wanting the same job are settled by the conditional claim below.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(${RUNNER_LOCK_SPACE}, hashtext(${runnerId}))`;
    const boards = await tx.$queryRaw<
      { id: string; name: string; type: string; tags: string[]; group: string | null; health: string; busy: boolean }[]
    >`
      SELECT b.id, b.name, b.type, b.tags, b."group", b.health::text AS health,
             EXISTS (SELECT 1 FROM "AttemptBoard" ab JOIN "Attempt" a ON a.id = ab."attemptId"
                     WHERE ab."boardId" = b.id AND a.status = 'running') AS busy
      FROM "Board" b
      WHERE b."runnerId" = ${runnerId}::uuid AND b.present AND b.health IN ('good', 'unknown')
      ORDER BY b.name`;

    // Health checks come first: a board of unknown health must prove itself before it takes a job.
    for (const board of boards.filter((b) => b.health === "unknown" && !b.busy)) {
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
      .map((b) => ({ id: b.id, name: b.name, type: b.type, tags: b.tags, group: b.group, free: !b.busy }));
    if (!states.some((b) => b.free)) return { lease: null, healthCheck: null };
    const types = [...new Set(states.map((b) => b.type))];

    // Only jobs whose every role is of a board type this runner has can ever run here.
    const order = await tx.$queryRaw<{ id: string }[]>`
      WITH running AS (
        SELECT "projectId", count(*)::int AS n FROM "Job" WHERE status = 'running' GROUP BY "projectId"
      )
      SELECT j.id FROM "Job" j
      JOIN "Run" r ON r.id = j."runId"
      LEFT JOIN running ON running."projectId" IS NOT DISTINCT FROM j."projectId"
      WHERE j.status = 'queued' AND r.status IN ('queued', 'running')
        AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(j.roles) role WHERE NOT (role->>'boardType' = ANY(${types}::text[])))
      ORDER BY j.priority + floor(extract(epoch FROM (now() - j."createdAt")) / 60 * ${settings.agingPerMinute}) DESC,
               coalesce(running.n, 0) ASC, j."createdAt" ASC, j.id ASC
      LIMIT ${SCAN_LIMIT}`;

    // Load candidates a batch at a time: the head of the queue usually fits, so most leases read a few rows.
    const candidates: QueuedJobForPlan[] = [];
    const loaded = new Map<string, Awaited<ReturnType<typeof loadJobs>>[number]>();
    for (let from = 0; from < order.length; from += BATCH) {
      for (const job of await loadJobs(
        tx,
        order.slice(from, from + BATCH).map((o) => o.id),
      ))
        loaded.set(job.id, job);
      candidates.length = 0;
      for (const { id } of order.slice(0, from + BATCH)) {
        const job = loaded.get(id);
        if (!job) continue;
        const avoid = new Set(job.attempts.flatMap((a) => a.boards.map((b) => b.boardId)));
        candidates.push({ id, roles: job.roles as unknown as PlannedRole[], sameGroup: job.sameGroup, avoidBoards: avoid });
      }
      const placement = planPlacement(candidates, states);
      if (!placement) continue;

      const job = loaded.get(placement.jobId)!;
      // Lock the run before touching the job (the order every writer uses), then claim the job only if it is still
      // queued: another runner, a cancel or a queue timeout may have got there first; then this runner asks again.
      await tx.$queryRaw`SELECT id FROM "Run" WHERE id = ${job.runId}::uuid FOR UPDATE`;
      const claimed = await tx.job.updateMany({
        where: { id: job.id, status: "queued" },
        data: { status: "running", startedAt: job.startedAt ?? new Date() },
      });
      if (claimed.count === 0) return { lease: null, healthCheck: null };
      const roles = job.roles as unknown as PlannedRole[];
      const attempt = await tx.attempt.create({
        data: {
          jobId: job.id,
          number: job._count.attempts + 1,
          runnerId,
          boards: { create: roles.map((r) => ({ role: r.role, boardId: placement.boards.get(r.role)!.id })) },
        },
      });
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
          roles: roles.map((r) => ({
            role: r.role,
            board: placement.boards.get(r.role)!.name,
            firmware: r.firmware,
            bootCheck: r.bootCheck !== false,
          })),
          seed: Number(job.run.seed),
          faults: job.faults as Faults | null,
          timeoutMs: job.timeoutMs,
          reruns: job.reruns,
          steps: settings.steps,
        },
      };
    }
    return { lease: null, healthCheck: null };
    // Under load many runners lease at once; wait for a pool connection rather than failing the lease.
  }, TX_OPTIONS);
}

const BATCH = 25;
const TX_OPTIONS = { maxWait: 10_000, timeout: 15_000 };

/** Queued jobs with what placement needs: roles, and the boards of attempts that failed (a retry avoids them). */
function loadJobs(tx: Prisma.TransactionClient, ids: string[]) {
  return tx.job.findMany({
    where: { id: { in: ids } },
    include: {
      run: { select: { seed: true } },
      attempts: { where: { status: "error" }, select: { boards: { select: { boardId: true } } } },
      _count: { select: { attempts: true } },
    },
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
