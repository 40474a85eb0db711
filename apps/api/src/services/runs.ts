/**
 * Runs: planning (validate and resolve everything up front so bad input is a 4xx and never a half-written run),
 * expansion into jobs, queries, and the roll-up of job outcomes into the run's status.
 */
import { randomInt } from "node:crypto";
import type { CreateRunBody, Faults, LeasedFirmware, ResultItem, Run, RunFaults, RunSummary, RunTrigger } from "@tock-hil/protocol";
import { Prisma } from "../db.ts";
import type { Db, PrismaClient } from "../db.ts";
import { AppError, ErrorCode, notFound } from "../errors.ts";
import type { SuiteCatalog } from "../suites.ts";
import { waitingReasons } from "./inventory.ts";
import { statusesForRunOutcome } from "./quarantine.ts";
import { assertTransition, isTerminalJob, isTerminalRun, runOutcome } from "./states.ts";

export type PlannedRole = { role: string; boardType: string; tags: string[]; firmware: LeasedFirmware[]; bootCheck?: boolean };
export type PlannedJob = {
  suite: string;
  tests: string[];
  roles: PlannedRole[];
  timeoutMs: number;
  faults: Faults | null;
  sameGroup: boolean;
  reruns: number;
};
export type RunParameters = {
  suites: string[];
  boards: string[];
  faults: RunFaults | null;
  firmware: Record<string, string>;
  plan: PlannedJob[];
};

const DEFAULT_PROJECT = "default";

/** Resolves suites, board types and firmware for a run request; throws a 4xx AppError saying what to fix. */
export async function planRun(db: Db, catalog: SuiteCatalog, input: CreateRunBody): Promise<RunParameters> {
  const known = [...catalog.keys()];
  const suites = input.suites ?? known;
  const unknown = suites.filter((s) => !catalog.has(s));
  if (unknown.length > 0) {
    throw new AppError(ErrorCode.VALIDATION, `unknown suite(s): ${unknown.join(", ")}; known suites: ${known.join(", ")}`);
  }
  const faultSuites = Object.keys(input.faults?.suites ?? {}).filter((s) => !suites.includes(s));
  if (faultSuites.length > 0) {
    throw new AppError(ErrorCode.VALIDATION, `faults.suites names suites this run does not include: ${faultSuites.join(", ")}`);
  }
  const plan: PlannedJob[] = [];
  for (const name of new Set(suites)) {
    const suite = catalog.get(name)!;
    const types = [...new Set(suite.roles.map((r) => r.boardType))];
    if (input.boards && !types.every((t) => input.boards!.includes(t))) {
      throw new AppError(
        ErrorCode.UNSATISFIABLE,
        `suite ${name} needs board type(s) ${types.join(", ")}, but boards limits the run to ${input.boards.join(", ")}`,
      );
    }
    const roles: PlannedRole[] = [];
    for (const role of suite.roles) {
      const firmware: LeasedFirmware[] = [];
      for (const fw of role.firmware) firmware.push(await resolveFirmware(db, fw, role.boardType, input.firmware?.[fw], true));
      for (const fw of role.extraFirmware ?? []) firmware.push(await resolveFirmware(db, fw, role.boardType, input.firmware?.[fw], false));
      roles.push({ role: role.name, boardType: role.boardType, tags: role.tags ?? [], firmware, bootCheck: !role.silentBoot });
    }
    plan.push({
      suite: name,
      tests: suite.tests.map((t) => t.name),
      roles,
      timeoutMs: suite.timeoutMs,
      faults: jobFaults(input.faults, name),
      sameGroup: suite.sameGroup ?? false,
      reruns: suite.reruns ?? 0,
    });
  }
  const usedNames = new Set(plan.flatMap((j) => j.roles.flatMap((r) => r.firmware.map((f) => f.name))));
  const unusedPins = Object.keys(input.firmware ?? {}).filter((n) => !usedNames.has(n));
  if (unusedPins.length > 0) {
    throw new AppError(
      ErrorCode.VALIDATION,
      `firmware pins ${unusedPins.join(", ")} are not used by the selected suites (they use ${[...usedNames].join(", ")})`,
    );
  }
  return {
    suites: plan.map((j) => j.suite),
    boards: [...new Set(plan.flatMap((j) => j.roles.map((r) => r.boardType)))],
    faults: input.faults ?? null,
    firmware: input.firmware ?? {},
    plan,
  };
}

/** A job's faults: the run-wide ones with its suite's overrides merged on top; null when there are none. */
function jobFaults(faults: RunFaults | undefined, suite: string): Faults | null {
  if (!faults) return null;
  const { suites, ...global } = faults;
  const merged = { ...global, ...suites?.[suite] };
  return Object.keys(merged).length > 0 ? merged : null;
}

async function resolveFirmware(
  db: Db,
  name: string,
  boardType: string,
  pinned: string | undefined,
  flash: boolean,
): Promise<LeasedFirmware> {
  const artifact = pinned
    ? await db.artifact.findUnique({ where: { sha256: pinned } })
    : await db.artifact.findFirst({
        where: { name, OR: [{ boardType }, { boardType: null }] },
        orderBy: { createdAt: "desc" },
      });
  if (!artifact) {
    throw new AppError(
      ErrorCode.UNSATISFIABLE,
      pinned
        ? `firmware ${name} is pinned to sha256 ${pinned}, which has not been uploaded (POST /api/v1/artifacts)`
        : `no firmware named ${name} for ${boardType} has been uploaded; upload it with POST /api/v1/artifacts?name=${name}`,
    );
  }
  if (artifact.boardType && artifact.boardType !== boardType) {
    throw new AppError(
      ErrorCode.UNSATISFIABLE,
      `firmware ${name} (${artifact.sha256}) is built for ${artifact.boardType}, not ${boardType}`,
    );
  }
  return { name, kind: artifact.kind, sha256: artifact.sha256, size: artifact.size, flash };
}

/** Writes a planned run. Jobs are created by the `hil.run.expand` job (see jobs/catalog.ts). */
export async function insertRun(
  db: Db,
  input: {
    project?: string | undefined;
    trigger: RunTrigger;
    ref?: string | undefined;
    seed?: number | undefined;
    priority: number;
    parameters: RunParameters;
  },
) {
  const projectName = input.project ?? DEFAULT_PROJECT;
  const project = await db.project.upsert({ where: { name: projectName }, update: {}, create: { name: projectName } });
  return db.run.create({
    data: {
      projectId: project.id,
      trigger: input.trigger,
      ref: input.ref ?? null,
      seed: BigInt(input.seed ?? randomInt(0, 0xffffffff)),
      priority: input.priority,
      parameters: input.parameters,
    },
  });
}

/**
 * Locks a run's row for the rest of the transaction. Every writer of a run's jobs and attempts takes this lock
 * first (run before attempts), so concurrent writers serialise per run without deadlocks.
 */
export async function lockRun(db: Db, runId: string): Promise<void> {
  await db.$queryRaw`SELECT id FROM "Run" WHERE id = ${runId}::uuid FOR UPDATE`;
}

/**
 * Creates the run's jobs from its plan. Idempotent: a run that already has jobs is left alone, so a redelivered
 * BullMQ job (or the boot-time reconciliation) cannot duplicate them.
 */
export async function expandRun(db: Db, runId: string, options: { maxAttempts: number; queueTimeoutMs: number }): Promise<string[]> {
  // A cancel or a priority change in flight is either seen here or waits for us.
  await lockRun(db, runId);
  const run = await db.run.findUnique({ where: { id: runId }, include: { _count: { select: { jobs: true } } } });
  if (!run || run.status !== "queued" || run._count.jobs > 0) return [];
  const params = run.parameters as unknown as RunParameters;
  const queueDeadline = new Date(Date.now() + options.queueTimeoutMs);
  const jobs = await db.job.createManyAndReturn({
    data: params.plan.map((job) => ({
      runId,
      projectId: run.projectId,
      priority: run.priority,
      suite: job.suite,
      tests: job.tests,
      roles: job.roles,
      faults: job.faults ?? Prisma.DbNull,
      sameGroup: job.sameGroup,
      reruns: job.reruns,
      timeoutMs: job.timeoutMs,
      queueTimeoutMs: options.queueTimeoutMs,
      queueDeadline,
      maxAttempts: options.maxAttempts,
    })),
    select: { id: true },
  });
  return jobs.map((j) => j.id);
}

/** Runs still queued without jobs: their expansion was lost (e.g. Redis restarted) and must be enqueued again. */
export async function runsAwaitingExpansion(db: Db): Promise<string[]> {
  const rows = await db.run.findMany({ where: { status: "queued", jobs: { none: {} } }, select: { id: true } });
  return rows.map((r) => r.id);
}

/**
 * Re-prioritises a run that has not finished: its jobs that have not started take the new priority at the next
 * scheduling pass (jobs already running keep their boards, and retry with the new priority). Locks the run first,
 * as every writer does.
 */
export async function setRunPriority(db: PrismaClient, runId: string, priority: number): Promise<void> {
  await db.$transaction(async (tx) => {
    await lockRun(tx, runId);
    const run = await tx.run.findUnique({ where: { id: runId }, select: { status: true } });
    if (!run) throw notFound("run", runId);
    if (isTerminalRun(run.status)) {
      throw new AppError(ErrorCode.CONFLICT, `run ${runId} already ended as ${run.status}; its priority no longer matters`);
    }
    await tx.run.update({ where: { id: runId }, data: { priority } });
    // Running jobs too: one that goes back to the queue for a retry is scheduled with the new priority.
    await tx.job.updateMany({ where: { runId, status: { in: ["queued", "running"] } }, data: { priority } });
  });
}

/**
 * Recomputes a run's status after one of its jobs changed. Must run in the same transaction as the job change.
 */
export async function rollUpRun(db: Db, runId: string): Promise<void> {
  // Serialises roll-ups of one run: two jobs finishing at once must not both miss that the other one finished.
  await lockRun(db, runId);
  const run = await db.run.findUniqueOrThrow({ where: { id: runId }, include: { jobs: { select: { id: true, status: true } } } });
  const statuses = run.jobs.map((j) => j.status);
  if (statuses.length > 0 && statuses.every(isTerminalJob)) {
    // A job failed only by quarantined tests does not fail the run (those tests still ran and are reported).
    const outcome = runOutcome(await statusesForRunOutcome(db, run.jobs));
    if (run.status === "queued") {
      assertTransition("run", runId, run.status, "running");
    }
    if (run.status !== outcome) {
      assertTransition("run", runId, run.status === "queued" ? "running" : run.status, outcome);
      await db.run.update({
        where: { id: runId },
        data: { status: outcome, finishedAt: new Date(), startedAt: run.startedAt ?? new Date() },
      });
    }
    return;
  }
  if (run.status === "queued" && statuses.some((s) => s !== "queued")) {
    assertTransition("run", runId, run.status, "running");
    await db.run.update({ where: { id: runId }, data: { status: "running", startedAt: new Date() } });
  }
}

const runInclude = {
  project: { select: { name: true } },
  jobs: {
    orderBy: { createdAt: "asc" },
    include: {
      attempts: {
        orderBy: { number: "asc" },
        include: { runner: { select: { name: true } }, boards: { include: { board: { select: { name: true } } } } },
      },
    },
  },
} satisfies Prisma.RunInclude;

type RunRow = Prisma.RunGetPayload<{ include: { project: { select: { name: true } } } }>;

function summaryView(run: RunRow): RunSummary {
  const params = run.parameters as unknown as RunParameters;
  return {
    id: run.id,
    project: run.project.name,
    status: run.status,
    trigger: run.trigger,
    ref: run.ref,
    suites: params.suites,
    boards: params.boards,
    faults: params.faults,
    seed: Number(run.seed),
    priority: run.priority,
    message: run.message,
    createdAt: run.createdAt.toISOString(),
    startedAt: run.startedAt?.toISOString() ?? null,
    finishedAt: run.finishedAt?.toISOString() ?? null,
  };
}

/** With `runnerTimeoutMs`, every queued job says why it is waiting (one more read of the lab inventory). */
export async function getRun(db: Db, id: string, options: { runnerTimeoutMs?: number } = {}): Promise<Run> {
  const run = await db.run.findUnique({ where: { id }, include: runInclude });
  if (!run) throw notFound("run", id);
  const waiting =
    options.runnerTimeoutMs === undefined
      ? new Map<string, string>()
      : await waitingReasons(
          db,
          run.jobs.filter((j) => j.status === "queued"),
          options.runnerTimeoutMs,
        );
  return {
    ...summaryView(run),
    jobs: run.jobs.map((job) => ({
      id: job.id,
      suite: job.suite,
      status: job.status,
      endReason: job.endReason,
      ...(options.runnerTimeoutMs === undefined ? {} : { waiting: waiting.get(job.id) ?? null }),
      attempts: job.attempts.map((a) => ({
        id: a.id,
        number: a.number,
        status: a.status,
        endReason: a.endReason,
        message: a.message,
        runner: a.runner?.name ?? null,
        boards: Object.fromEntries(a.boards.map((b) => [b.role, b.board.name])),
      })),
    })),
  };
}

/** Cursor = base64url of `<createdAt ISO>|<id>` of the last row of the previous page. */
const encodeCursor = (createdAt: Date, id: string) => Buffer.from(`${createdAt.toISOString()}|${id}`).toString("base64url");

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [iso, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  const createdAt = new Date(iso ?? "");
  if (!id || Number.isNaN(createdAt.getTime())) {
    throw new AppError(ErrorCode.VALIDATION, "cursor is not valid; pass the nextCursor of a previous response unchanged");
  }
  return { createdAt, id };
}

export async function listRuns(
  db: Db,
  options: {
    limit: number;
    cursor?: string | undefined;
    status?: string | undefined;
    // Filters (issue 6): all optional and combined with AND; the date range is on createdAt, [from, to).
    project?: string | undefined;
    trigger?: string | undefined;
    ref?: string | undefined;
    from?: string | undefined;
    to?: string | undefined;
  },
) {
  const where: Prisma.RunWhereInput = {};
  if (options.status) where.status = options.status as Prisma.EnumRunStatusFilter["equals"];
  if (options.project) where.project = { name: options.project };
  if (options.trigger) where.trigger = options.trigger as Prisma.EnumRunTriggerFilter["equals"];
  if (options.ref) where.ref = options.ref;
  if (options.from || options.to) {
    where.createdAt = { ...(options.from ? { gte: new Date(options.from) } : {}), ...(options.to ? { lt: new Date(options.to) } : {}) };
  }
  if (options.cursor) {
    const c = decodeCursor(options.cursor);
    where.OR = [{ createdAt: { lt: c.createdAt } }, { createdAt: c.createdAt, id: { lt: c.id } }];
  }
  const rows = await db.run.findMany({
    where,
    include: { project: { select: { name: true } } },
    orderBy: [{ createdAt: "desc" }, { id: "desc" }],
    take: options.limit + 1,
  });
  const page = rows.slice(0, options.limit);
  const last = page.at(-1);
  return {
    runs: page.map(summaryView),
    nextCursor: rows.length > options.limit && last ? encodeCursor(last.createdAt, last.id) : null,
  };
}

/** A planned test without a verdict: its job ended before running it (queue timeout, cancellation). */
const notRun = (suite: string, test: string, attempt: number, tries: number, message: string): ResultItem => ({
  suite,
  test,
  boards: [],
  status: "not_run",
  durationMs: 0,
  attempt,
  tries,
  flaky: false,
  message,
});

/**
 * Results of a run: for each job, the results of its latest attempt that reported any (the attempt that decided
 * the job's outcome), one item per test with its last try as the verdict. Planned tests of jobs that never got
 * boards are listed as `not_run` with the reason, so every planned test has a status.
 */
export async function getRunResults(db: Db, catalog: SuiteCatalog, runId: string): Promise<ResultItem[]> {
  const run = await db.run.findUnique({ where: { id: runId }, select: { id: true } });
  if (!run) throw notFound("run", runId);
  const jobs = await db.job.findMany({
    where: { runId },
    orderBy: { createdAt: "asc" },
    include: {
      attempts: {
        orderBy: { number: "desc" },
        include: { results: { orderBy: { try: "asc" } }, boards: { include: { board: { select: { name: true } } } } },
      },
    },
  });
  const items: ResultItem[] = [];
  for (const job of jobs) {
    const attempt = job.attempts.find((a) => a.results.length > 0);
    if (!attempt) {
      if (job.status === "queued" || job.status === "running") continue;
      const why =
        job.endReason === "queue_timeout"
          ? `queue_timeout: ${job.endMessage ?? "not started before its queue timeout"}`
          : `${job.endMessage ?? `job ${job.status}`} before it got boards`;
      for (const test of job.tests) items.push(notRun(job.suite, test, 0, 0, why));
      continue;
    }
    const boardOf = new Map(attempt.boards.map((b) => [b.role, b.board.name]));
    const testRoles = new Map((catalog.get(job.suite)?.tests ?? []).map((t) => [t.name, t.roles]));
    // Ended in the queue while waiting for a retry (cancelled, or its queue timeout): tests the failed attempt
    // gave no verdict are unfinished, so they are not_run for that reason; what it did decide stays.
    const endedWaiting =
      job.endReason === null
        ? undefined
        : `${
            job.endReason === "queue_timeout"
              ? `queue_timeout: ${job.endMessage ?? "not retried before its queue timeout"}`
              : `${job.endMessage ?? `job ${job.status}`} while waiting for a retry`
          } (attempt ${attempt.number} ended ${attempt.endReason ?? attempt.status})`;
    for (const test of job.tests) {
      const tries = attempt.results.filter((r) => r.test === test);
      const r = tries.at(-1);
      if (!r) continue;
      if (endedWaiting !== undefined && (r.status === "error" || r.status === "not_run")) {
        items.push(notRun(job.suite, test, attempt.number, tries.length, endedWaiting));
        continue;
      }
      const roles = testRoles.get(test) ?? [...boardOf.keys()];
      items.push({
        suite: r.suite,
        test: r.test,
        boards: roles.map((role) => boardOf.get(role)).filter((b): b is string => b !== undefined),
        status: r.status,
        durationMs: r.durationMs,
        attempt: attempt.number,
        tries: tries.length,
        flaky: r.status === "pass" && tries.some((t) => t.status === "fail"),
        ...(r.message !== null ? { message: r.message } : {}),
        ...(r.measurements !== null ? { measurements: r.measurements as Record<string, number | string | boolean> } : {}),
        ...(r.logRole !== null && r.logStart !== null && r.logEnd !== null
          ? { logSpan: { role: r.logRole, board: boardOf.get(r.logRole) ?? "", start: r.logStart, end: r.logEnd } }
          : {}),
      });
    }
  }
  return items;
}
