/**
 * Leasing: decides what a runner does next, atomically in Postgres. First a health check for any board whose
 * health is unknown (new boards, boards after an infra error); otherwise the first queued job, in scheduling order,
 * whose every role its free healthy boards can fill at once (gang allocation, no hold-and-wait), with reservations
 * that stop big jobs from starving (see plan in matching.ts).
 *
 * Scheduling order: effective priority (trigger priority plus aging) first, then fair share (the project with fewer
 * running jobs first), then age.
 */
import type { BoardHealth, Faults, HealthCheck, Lease } from "@tock-hil/protocol";
import type { PrismaClient } from "../db.ts";
import { plan } from "./matching.ts";
import type { RunnerBoardState } from "./matching.ts";
import type { PlannedRole } from "./runs.ts";

/** Advisory lock key space for per-runner allocation locks. */
const RUNNER_LOCK_SPACE = 0x48494c;
/** How many queued jobs one lease looks at; beyond that, jobs wait for the head of the queue to move. */
const SCAN_LIMIT = 100;

export type LeaseSettings = {
  /** Priority points a queued job gains per minute of waiting, so low priorities are not starved forever. */
  agingPerMinute: number;
  /** A reservation held by a runner silent for this long is taken over by others. */
  runnerTimeoutMs: number;
  steps: Lease["steps"];
};

export type LeaseDecision = { lease: Lease | null; healthCheck: HealthCheck | null };

type BoardRow = { id: string; name: string; type: string; tags: string[]; group: string | null; health: string; busy: boolean };
type CandidateRow = {
  id: string;
  runId: string;
  suite: string;
  tests: string[];
  roles: PlannedRole[];
  sameGroup: boolean;
  faults: Faults | null;
  timeoutMs: number;
  reruns: number;
  seed: bigint;
  mayReserve: boolean;
};

/**
 * Plans outside any lock (reads only), then commits the plan in a short transaction under the runner's lock that
 * re-checks what the plan assumed: the boards still free, the job still queued. If anything moved, it plans again.
 * Keeping the locked section to a handful of statements is what keeps a freed board's next job milliseconds away.
 */
export async function lease(db: PrismaClient, runnerId: string, settings: LeaseSettings): Promise<LeaseDecision> {
  // Asking for work is a sign of life, like a heartbeat.
  await db.runner.update({ where: { id: runnerId }, data: { lastSeenAt: new Date() } });
  for (let round = 0; round < 3; round++) {
    const boards = await db.$queryRaw<BoardRow[]>`
      SELECT b.id, b.name, b.type, b.tags, b."group", b.health::text AS health,
             EXISTS (SELECT 1 FROM "AttemptBoard" ab JOIN "Attempt" a ON a.id = ab."attemptId"
                     WHERE ab."boardId" = b.id AND a.status = 'running') AS busy
      FROM "Board" b
      WHERE b."runnerId" = ${runnerId}::uuid AND b.present AND b.health IN ('good', 'unknown')
      ORDER BY b.name`;

    // Health checks come first: a board of unknown health must prove itself before it takes a job.
    const check = await healthCheckFor(db, boards, settings);
    if (check) return { lease: null, healthCheck: check };

    const states: RunnerBoardState[] = boards
      .filter((b) => b.health === "good")
      .map((b) => ({ id: b.id, name: b.name, type: b.type, tags: b.tags, group: b.group, free: !b.busy }));
    if (!states.some((b) => b.free)) return { lease: null, healthCheck: null };
    const types = [...new Set(states.map((b) => b.type))];

    // Queued jobs in scheduling order, only those whose every role is of a board type this runner has.
    const candidates = await db.$queryRaw<CandidateRow[]>`
      WITH running AS (
        SELECT "projectId", count(*)::int AS n FROM "Job" WHERE status = 'running' GROUP BY "projectId"
      )
      SELECT j.id, j."runId", j.suite, j.tests, j.roles, j."sameGroup", j.faults, j."timeoutMs", j.reruns, r.seed,
             (j."reservedRunnerId" IS NULL OR j."reservedRunnerId" = ${runnerId}::uuid
              OR rr."lastSeenAt" IS NULL OR rr."lastSeenAt" < now() - ${settings.runnerTimeoutMs} * interval '1 millisecond') AS "mayReserve"
      FROM "Job" j
      JOIN "Run" r ON r.id = j."runId"
      LEFT JOIN "Runner" rr ON rr.id = j."reservedRunnerId"
      LEFT JOIN running ON running."projectId" IS NOT DISTINCT FROM j."projectId"
      WHERE j.status = 'queued' AND r.status IN ('queued', 'running')
        AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(j.roles) role WHERE NOT (role->>'boardType' = ANY(${types}::text[])))
      ORDER BY j.priority + floor(extract(epoch FROM (now() - j."createdAt")) / 60 * ${settings.agingPerMinute}) DESC,
               coalesce(running.n, 0) ASC, j."createdAt" ASC, j.id ASC
      LIMIT ${SCAN_LIMIT}`;
    // Earlier attempts of these jobs (retries): their number, and the boards of failed ones, which a retry avoids.
    const previous = candidates.length
      ? await db.$queryRaw<{ jobId: string; status: string; boardId: string | null }[]>`
          SELECT a."jobId"::text AS "jobId", a.status::text AS status, ab."boardId"::text AS "boardId"
          FROM "Attempt" a LEFT JOIN "AttemptBoard" ab ON ab."attemptId" = a.id
          WHERE a."jobId" = ANY(${candidates.map((c) => c.id)}::uuid[])`
      : [];
    const avoid = new Map<string, Set<string>>();
    for (const p of previous) {
      if (p.status !== "error" || !p.boardId) continue;
      avoid.set(p.jobId, (avoid.get(p.jobId) ?? new Set()).add(p.boardId));
    }
    const { placement, reservedFor } = plan(
      candidates.map((c) => ({
        id: c.id,
        roles: c.roles,
        sameGroup: c.sameGroup,
        avoidBoards: avoid.get(c.id) ?? new Set<string>(),
        mayReserve: c.mayReserve,
      })),
      states,
    );
    if (reservedFor.length > 0) {
      // Claim the reservations (first runner wins; a lost runner's reservation is taken over).
      await db.$executeRaw`UPDATE "Job" SET "reservedRunnerId" = ${runnerId}::uuid
        WHERE id = ANY(${reservedFor}::uuid[]) AND status = 'queued'
          AND ("reservedRunnerId" IS NULL OR "reservedRunnerId" = ${runnerId}::uuid OR "reservedRunnerId" IN
               (SELECT id FROM "Runner" WHERE "lastSeenAt" IS NULL OR "lastSeenAt" < now() - ${settings.runnerTimeoutMs} * interval '1 millisecond'))`;
    }
    if (!placement) return { lease: null, healthCheck: null };
    const job = candidates.find((c) => c.id === placement.jobId)!;
    const boardIds = job.roles.map((r) => placement.boards.get(r.role)!.id);

    const attempt = await db.$transaction(async (tx) => {
      // One committer at a time per runner, so its boards cannot be double-booked by concurrent leases; runners do
      // not wait for each other (two runners wanting one job are settled by the conditional claim).
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${RUNNER_LOCK_SPACE}, hashtext(${runnerId}))`;
      const busy = await tx.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM "AttemptBoard" ab JOIN "Attempt" a ON a.id = ab."attemptId"
        WHERE ab."boardId" = ANY(${boardIds}::uuid[]) AND a.status = 'running'`;
      if ((busy[0]?.n ?? 0) > 0) return undefined;
      // The run before the job: the lock order every writer uses.
      await tx.$queryRaw`SELECT id FROM "Run" WHERE id = ${job.runId}::uuid FOR UPDATE`;
      const claimed = await tx.$executeRaw`
        UPDATE "Job" SET status = 'running', "startedAt" = coalesce("startedAt", now()), "reservedRunnerId" = NULL
        WHERE id = ${job.id}::uuid AND status = 'queued'`;
      if (claimed === 0) return undefined;
      const created = await tx.attempt.create({
        data: {
          jobId: job.id,
          number: (await tx.attempt.count({ where: { jobId: job.id } })) + 1,
          runnerId,
          boards: { create: job.roles.map((r) => ({ role: r.role, boardId: placement.boards.get(r.role)!.id })) },
        },
        select: { id: true, number: true },
      });
      await tx.$executeRaw`UPDATE "Run" SET status = 'running', "startedAt" = now() WHERE id = ${job.runId}::uuid AND status = 'queued'`;
      return created;
    }, TX_OPTIONS);
    if (!attempt) continue; // something moved under the plan: plan again
    return {
      healthCheck: null,
      lease: {
        attemptId: attempt.id,
        attemptNumber: attempt.number,
        jobId: job.id,
        runId: job.runId,
        suite: job.suite,
        tests: job.tests,
        roles: job.roles.map((r) => ({
          role: r.role,
          board: placement.boards.get(r.role)!.name,
          firmware: r.firmware,
          bootCheck: r.bootCheck !== false,
        })),
        seed: Number(job.seed),
        faults: job.faults,
        timeoutMs: job.timeoutMs,
        reruns: job.reruns,
        steps: settings.steps,
      },
    };
  }
  return { lease: null, healthCheck: null };
}

const TX_OPTIONS = { maxWait: 10_000, timeout: 15_000 };

async function healthCheckFor(db: PrismaClient, boards: BoardRow[], settings: LeaseSettings): Promise<HealthCheck | undefined> {
  for (const board of boards.filter((b) => b.health === "unknown" && !b.busy)) {
    const kernel =
      (await db.artifact.findFirst({ where: { kind: "kernel", name: board.type }, orderBy: { createdAt: "desc" } })) ??
      (await db.artifact.findFirst({ where: { kind: "kernel", boardType: board.type }, orderBy: { createdAt: "desc" } }));
    if (!kernel) {
      await db.board.update({
        where: { id: board.id },
        data: { healthMessage: `no kernel image for ${board.type} has been uploaded, so the health check cannot run` },
      });
      continue;
    }
    await db.board.update({
      where: { id: board.id },
      data: { healthMessage: `health check started with ${kernel.name} (${kernel.sha256.slice(0, 12)})` },
    });
    return {
      board: board.name,
      firmware: [{ name: kernel.name, kind: kernel.kind, sha256: kernel.sha256, size: kernel.size, flash: true }],
      bootTimeoutMs: settings.steps.bootMs,
    };
  }
  return undefined;
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
