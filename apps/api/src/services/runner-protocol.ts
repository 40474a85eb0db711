/**
 * The runner side of the API: registration, inventory, heartbeats, serial log chunks, results and finishing
 * attempts (leasing is in allocator.ts). Runners reach Postgres only through these functions, over HTTP.
 */
import type { AttemptEndReason, FinishAttemptBody, HeartbeatStop, JobStatus, RunnerBoard, TestStatus } from "@tock-hil/protocol";
import type { Db, PrismaClient } from "../db.ts";
import { AppError, ErrorCode, notFound } from "../errors.ts";
import { lockScheduling } from "./allocator.ts";
import { secondsText } from "./duration-text.ts";
import { rollUpRun } from "./runs.ts";
import { assertTransition } from "./states.ts";
import { generateToken, hashToken } from "./tokens.ts";

export async function registerRunner(
  db: PrismaClient,
  input: { registrationToken: string; name: string; hostname?: string | undefined; version?: string | undefined },
) {
  const token = generateToken("runner");
  return db.$transaction(async (tx) => {
    const reg = await tx.registrationToken.findUnique({ where: { tokenHash: hashToken(input.registrationToken) } });
    if (!reg) throw new AppError(ErrorCode.UNAUTHORIZED, "registration token is not valid; ask an admin for a new one");
    if (reg.usedAt) throw new AppError(ErrorCode.UNAUTHORIZED, "registration token was already used; each token registers one runner");
    if (reg.expiresAt < new Date())
      throw new AppError(ErrorCode.UNAUTHORIZED, "registration token has expired; ask an admin for a new one");
    const existing = await tx.runner.findUnique({ where: { name: input.name } });
    if (existing) {
      throw new AppError(ErrorCode.CONFLICT, `a runner named ${input.name} is already registered; pick another name`);
    }
    const runner = await tx.runner.create({
      data: {
        name: input.name,
        hostname: input.hostname ?? null,
        version: input.version ?? null,
        tokenHash: hashToken(token),
        lastSeenAt: new Date(),
      },
    });
    await tx.registrationToken.update({ where: { id: reg.id }, data: { usedAt: new Date(), runnerId: runner.id } });
    return { runnerId: runner.id, token };
  });
}

/**
 * Replaces the runner's inventory. Boards it no longer reports stay in the database (history refers to them) but
 * are marked not present. A runner (re)starting has no attempt in flight, so attempts the API still believes it
 * runs are returned and ended as runner_lost by the caller.
 */
export async function syncBoards(db: PrismaClient, runnerId: string, boards: RunnerBoard[]) {
  const names = boards.map((b) => b.name);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new AppError(ErrorCode.VALIDATION, `board name ${dup} appears twice in the inventory; names must be unique per runner`);
  const now = new Date();
  const rows = await db.$transaction(async (tx) => {
    // Presence, tags and groups decide what a scheduling pass may place on: wait for one in flight to commit.
    await lockScheduling(tx);
    await tx.board.updateMany({ where: { runnerId, name: { notIn: names } }, data: { present: false } });
    const out = [];
    for (const b of boards) {
      out.push(
        await tx.board.upsert({
          where: { runnerId_name: { runnerId, name: b.name } },
          update: { type: b.type, tags: b.tags, group: b.group ?? null, present: true, lastSeenAt: now },
          create: { runnerId, name: b.name, type: b.type, tags: b.tags, group: b.group ?? null, lastSeenAt: now },
        }),
      );
    }
    await tx.runner.update({ where: { id: runnerId }, data: { lastSeenAt: now } });
    return out;
  });
  const orphans = await db.attempt.findMany({ where: { runnerId, status: "running" }, select: { id: true } });
  return {
    boards: rows.map((b) => ({ id: b.id, name: b.name, type: b.type, health: b.health })),
    orphanedAttempts: orphans.map((o) => o.id),
  };
}

/**
 * How long after its lease a running attempt may be missing from its runner's heartbeats before it counts as
 * unknown to the runner. A heartbeat sent while the lease answer was still on its way (an idle beat crossing the
 * lease) does not list it yet; hil-runner lists a new attempt within half a second of receiving it. Five seconds
 * covers the delivery of both, and is far below the job timeout a lost lease would otherwise hold its boards for.
 */
export const LEASE_DELIVERY_MS = 5_000;

export type HeartbeatOptions = {
  runnerName: string;
  /** When the request arrived (Date.now()): an attempt leased after that cannot be in it. */
  receivedAt: number;
  boardBadAfter: number;
  leaseDeliveryMs?: number;
};

/**
 * Records that the runner is alive; tells it which of the attempts it lists to stop (cancelled, timed out, taken
 * away). A running attempt of this runner that the heartbeat does not list, leased more than `leaseDeliveryMs`
 * before the heartbeat arrived, is one the runner does not know (its lease answer was lost, or it dropped the
 * attempt): it is ended as error `lease_lost` at once, and its job retried, instead of holding its boards until
 * the job timeout. Returns the attempts so ended too.
 */
export async function heartbeat(
  db: PrismaClient,
  runnerId: string,
  attemptIds: string[],
  options: HeartbeatOptions,
): Promise<{ cancel: string[]; stops: HeartbeatStop[]; lost: string[] }> {
  const now = new Date();
  await db.runner.update({ where: { id: runnerId }, data: { lastSeenAt: now } });
  await db.board.updateMany({ where: { runnerId, present: true }, data: { lastSeenAt: now } });
  // Ages are measured on the database's clock (startedAt is its now()), back from when the heartbeat arrived: the
  // time it spent waiting here for a connection is added, so a slow answer cannot make a new lease look old.
  const windowMs = (options.leaseDeliveryMs ?? LEASE_DELIVERY_MS) + Math.max(0, Date.now() - options.receivedAt);
  const running = await db.$queryRaw<{ id: string; ageMs: number; due: boolean }[]>`
    SELECT id::text AS id, (extract(epoch FROM now() - "startedAt") * 1000)::float8 AS "ageMs",
           "startedAt" < now() - ${windowMs} * interval '1 millisecond' AS due
    FROM "Attempt" WHERE "runnerId" = ${runnerId}::uuid AND status = 'running'`;
  const listed = new Set(attemptIds);
  const alive = new Set(running.map((a) => a.id));
  const lost: string[] = [];
  for (const a of running) {
    if (listed.has(a.id) || !a.due) continue;
    const ended = await db.$transaction((tx) =>
      endAttempt(tx, a.id, {
        status: "error",
        reason: "lease_lost",
        message: `runner ${options.runnerName} does not know this attempt: its heartbeat did not list it ${Math.round(a.ageMs / 1000)} s after the lease (the lease answer was lost, or the runner dropped the attempt)`,
        boardBadAfter: options.boardBadAfter,
      }),
    );
    if (ended !== undefined) lost.push(a.id);
  }
  const cancel = attemptIds.filter((id) => !alive.has(id));
  // Why each one ended, so the runner's log says "cancelled by …" or "timeout" rather than only "stopped".
  const ended =
    cancel.length === 0
      ? []
      : await db.attempt.findMany({
          where: { id: { in: cancel }, runnerId },
          select: { id: true, status: true, endReason: true, message: true },
        });
  const byId = new Map(ended.map((a) => [a.id, a]));
  const stops = cancel.map((attemptId): HeartbeatStop => {
    const a = byId.get(attemptId);
    return a
      ? { attemptId, status: a.status, reason: a.endReason, message: a.message }
      : { attemptId, status: "unknown", reason: null, message: `this runner has no attempt ${attemptId}` };
  });
  return { cancel, stops, lost };
}

/**
 * Appends a serial log chunk. Chunks must arrive in order: a chunk that was already stored (a retry) is accepted
 * and ignored; one that would leave a gap is refused with the offset the server expects.
 */
export async function appendLogChunk(
  db: PrismaClient,
  runnerId: string,
  attemptId: string,
  chunk: { role: string; offset: number; data: Buffer },
) {
  return db.$transaction(async (tx) => {
    const attempt = await tx.attempt.findUnique({ where: { id: attemptId }, include: { boards: true } });
    if (!attempt || attempt.runnerId !== runnerId) throw notFound("attempt", attemptId);
    const board = attempt.boards.find((b) => b.role === chunk.role);
    if (!board) {
      throw new AppError(
        ErrorCode.VALIDATION,
        `attempt ${attemptId} has no role ${chunk.role}; roles: ${attempt.boards.map((b) => b.role).join(", ")}`,
      );
    }
    await tx.serialLog.upsert({
      where: { attemptId_role: { attemptId, role: chunk.role } },
      update: {},
      create: { attemptId, role: chunk.role, boardId: board.boardId },
    });
    // Row lock: concurrent uploads for one log are serialised here.
    const [log] = await tx.$queryRaw<{ id: string; size: number }[]>`
      SELECT id, size FROM "SerialLog" WHERE "attemptId" = ${attemptId}::uuid AND role = ${chunk.role} FOR UPDATE`;
    if (!log) throw notFound("serial log", `${attemptId}/${chunk.role}`);
    const end = chunk.offset + chunk.data.length;
    if (end <= log.size) return { size: log.size };
    if (chunk.offset !== log.size) {
      throw new AppError(
        ErrorCode.LOG_GAP,
        `chunk starts at byte ${chunk.offset} but the log has ${log.size} bytes; resend from ${log.size}`,
        {
          expectedOffset: log.size,
        },
      );
    }
    if (chunk.data.length === 0) return { size: log.size };
    await tx.serialChunk.create({ data: { logId: log.id, offset: chunk.offset, data: new Uint8Array(chunk.data) } });
    await tx.serialLog.update({ where: { id: log.id }, data: { size: end } });
    return { size: end };
  });
}

/** Reads bytes [start, end) of a role's serial log of an attempt. */
export async function readLogRange(db: Db, attemptId: string, role: string, start: number, end?: number): Promise<Buffer> {
  const log = await db.serialLog.findUnique({ where: { attemptId_role: { attemptId, role } } });
  if (!log) throw notFound("serial log", `${attemptId}/${role}`);
  const stop = Math.min(end ?? log.size, log.size);
  if (start >= stop) return Buffer.alloc(0);
  // The chunk containing `start` begins at the greatest offset <= start.
  const first = await db.serialChunk.findFirst({
    where: { logId: log.id, offset: { lte: start } },
    orderBy: { offset: "desc" },
    select: { offset: true },
  });
  const chunks = await db.serialChunk.findMany({
    where: { logId: log.id, offset: { gte: first?.offset ?? 0, lt: stop } },
    orderBy: { offset: "asc" },
  });
  const joined = Buffer.concat(chunks.map((c) => Buffer.from(c.data)));
  const base = chunks[0]?.offset ?? 0;
  return joined.subarray(start - base, stop - base);
}

/** Infra reasons that put the boards in doubt: they get a health check before their next job. */
const BOARD_SUSPECT_REASONS: ReadonlySet<AttemptEndReason> = new Set([
  "flash_failed",
  "flash_timeout",
  "boot_timeout",
  "board_unavailable",
  "timeout",
  "runner_lost",
]);

export type EndAttemptInput = {
  status: "completed" | "error" | "cancelled";
  reason: AttemptEndReason;
  message?: string | undefined;
  /** Consecutive infra errors after which a board is `bad` (HIL_BOARD_BAD_AFTER). */
  boardBadAfter?: number | undefined;
};

export type EndAttemptOptions = {
  /**
   * Checked after the locks, for a caller that picked the attempt from a read made before them: false leaves the
   * attempt running (endAttempt returns undefined), because what made it due no longer holds.
   */
  stillDue?: (db: Db) => Promise<boolean>;
};

export type EndDecision = {
  /** Tests the attempt did not report, with the status and message they get. */
  missing: { test: string; status: TestStatus; message: string }[];
  next: JobStatus;
  willRetry: boolean;
};

/**
 * What ending an attempt means for its job (pure, shared by the single and the batched finish): unreported tests
 * get `error` with the infra message or `not_run`; the job passes, fails, errors, is cancelled or goes back to the
 * queue for a retry. The last try of each test is its verdict; earlier tries are kept for flaky detection.
 */
export function decideEnd(
  job: { tests: readonly string[]; maxAttempts: number },
  attemptNumber: number,
  results: readonly { test: string; try: number; status: TestStatus }[],
  input: Pick<EndAttemptInput, "status" | "reason" | "message">,
): EndDecision {
  const last = new Map<string, TestStatus>();
  for (const r of [...results].sort((a, b) => a.try - b.try)) last.set(r.test, r.status);
  const willRetry = input.status === "error" && attemptNumber < job.maxAttempts;
  const fill: { status: TestStatus; message: string } =
    input.status === "error"
      ? { status: "error", message: `infra error (${input.reason})${input.message ? `: ${input.message}` : ""}` }
      : input.status === "cancelled"
        ? { status: "not_run", message: `attempt cancelled${input.message ? `: ${input.message}` : ""}` }
        : { status: "not_run", message: "the suite finished without reporting this test" };
  const missing = job.tests.filter((t) => !last.has(t)).map((test) => ({ test, ...fill }));
  let next: JobStatus;
  if (willRetry) next = "queued";
  else if (input.status === "cancelled") next = "cancelled";
  else if (input.status === "error") next = "error";
  else {
    const statuses = [...last.values(), ...missing.map((m) => m.status)];
    // A test failure is what developers need to see first; an unreported or errored test is an infra problem.
    if (statuses.includes("fail")) next = "failed";
    else if (statuses.includes("error") || statuses.includes("not_run")) next = "error";
    else next = "passed";
  }
  return { missing, next, willRetry };
}

/**
 * Ends an attempt and moves its job on, in one transaction: tests the attempt did not report get a status
 * (`error` with the infra message, or `not_run`), the job passes/fails/errors or goes back to the queue for a
 * retry, and the run's status is rolled up. Returns undefined when the attempt had already ended (idempotent).
 */
export async function endAttempt(
  db: Db,
  attemptId: string,
  input: EndAttemptInput,
  options: EndAttemptOptions = {},
): Promise<JobStatus | undefined> {
  // Row locks, always run before attempt (the order every writer uses, so they cannot deadlock): a finish, the
  // reaper, a watchdog and a cancel may race to end the same attempt; the first one wins and the others see it ended.
  await db.$queryRaw`SELECT r.id FROM "Run" r JOIN "Job" j ON j."runId" = r.id JOIN "Attempt" a ON a."jobId" = j.id
    WHERE a.id = ${attemptId}::uuid FOR UPDATE OF r`;
  await db.$queryRaw`SELECT id FROM "Attempt" WHERE id = ${attemptId}::uuid FOR UPDATE`;
  const attempt = await db.attempt.findUnique({ where: { id: attemptId }, include: { job: true, results: true } });
  if (!attempt) throw notFound("attempt", attemptId);
  if (attempt.status !== "running") return undefined;
  if (options.stillDue && !(await options.stillDue(db))) return undefined;
  assertTransition("attempt", attemptId, attempt.status, input.status);
  await db.attempt.update({
    where: { id: attemptId },
    data: { status: input.status, endReason: input.reason, message: input.message ?? null, finishedAt: new Date() },
  });

  const job = attempt.job;
  const { missing, next, willRetry } = decideEnd(job, attempt.number, attempt.results, input);
  if (missing.length > 0) {
    await db.testResult.createMany({
      data: missing.map((m) => ({
        attemptId,
        jobId: job.id,
        suite: job.suite,
        test: m.test,
        status: m.status,
        durationMs: 0,
        message: m.message,
      })),
    });
  }
  assertTransition("job", job.id, job.status, next);
  await db.job.update({
    where: { id: job.id },
    data:
      next === "queued"
        ? // Back in the queue for a retry: the wait for other boards gets the full queue timeout again.
          { status: next, finishedAt: null, queueDeadline: job.queueTimeoutMs === null ? null : new Date(Date.now() + job.queueTimeoutMs) }
        : { status: next, finishedAt: new Date() },
  });
  await updateBoardHealth(db, attemptId, input);
  await rollUpRun(db, job.runId);
  if (input.status === "error" && !willRetry) {
    await db.run.updateMany({
      where: { id: job.runId, message: null },
      data: { message: `${job.suite}: ${input.reason}${input.message ? `: ${input.message}` : ""}` },
    });
  }
  return next;
}

/**
 * After an attempt: a completed one clears its boards' infra error counts; an infra error that puts the boards in
 * doubt sends them to `unknown` (health check before the next job), or `bad` after `badAfter` in a row.
 */
async function updateBoardHealth(db: Db, attemptId: string, input: EndAttemptInput) {
  if (input.status === "completed") {
    // The common case, in one statement: it runs on every finished attempt.
    await db.$executeRaw`UPDATE "Board" SET "infraErrors" = 0
      WHERE id IN (SELECT "boardId" FROM "AttemptBoard" WHERE "attemptId" = ${attemptId}::uuid) AND "infraErrors" > 0`;
    return;
  }
  if (input.status !== "error" || !BOARD_SUSPECT_REASONS.has(input.reason)) return;
  const boards = await db.attemptBoard.findMany({ where: { attemptId }, select: { board: true } });
  for (const { board } of boards) {
    if (board.health !== "good" && board.health !== "unknown") continue;
    const infraErrors = board.infraErrors + 1;
    await db.board.update({
      where: { id: board.id },
      data: {
        infraErrors,
        health: infraErrors >= (input.boardBadAfter ?? 3) ? "bad" : "unknown",
        healthMessage: `after ${input.reason}${input.message ? `: ${input.message}` : ""}`,
      },
    });
  }
}

/**
 * Ends an attempt as its runner reports (an infra error, or the acknowledgement of a cancellation). A repeat of
 * the finish that ended it (a retry after a lost response, or the same finish sent twice at once) gets the same
 * answer; a finish that contradicts how it ended is refused.
 */
export async function finishAttempt(db: PrismaClient, runnerId: string, attemptId: string, body: FinishAttemptBody, boardBadAfter: number) {
  return db.$transaction(async (tx) => {
    const owner = await tx.attempt.findUnique({ where: { id: attemptId }, select: { runnerId: true } });
    if (!owner || owner.runnerId !== runnerId) throw notFound("attempt", attemptId);
    // A runner's `cancelled` only acknowledges a cancellation the API made: ending a running attempt that way would
    // end its job for good, without the retry an infra error gets.
    const status = body.status === "cancelled" ? undefined : await endAttempt(tx, attemptId, { ...body, boardBadAfter });
    if (status !== undefined) return { jobStatus: status };
    // Read again now, after endAttempt's locks: a finish racing this one may have ended the attempt meanwhile, and
    // a read from before the locks would still say running.
    const attempt = await tx.attempt.findUniqueOrThrow({
      where: { id: attemptId },
      select: { status: true, endReason: true, number: true, job: { select: { status: true, tests: true, maxAttempts: true } } },
    });
    if (attempt.status === "running") {
      throw new AppError(
        ErrorCode.CONFLICT,
        `attempt ${attemptId} is running: only the API cancels an attempt (POST /api/v1/runs/:id/cancel); finish it as error with a reason so its job is retried`,
      );
    }
    if (attempt.status !== body.status || attempt.endReason !== body.reason) {
      // Finishing an attempt the server already ended otherwise (cancelled, timed out, runner lost) is refused.
      throw new AppError(
        ErrorCode.ATTEMPT_NOT_RUNNING,
        `attempt ${attemptId} already ended as ${attempt.status} (${attempt.endReason ?? "no reason"})`,
      );
    }
    // The outcome this end gave its job (for an error or a cancellation it does not depend on the results), not
    // the job's status now: a retry may have moved the job on since.
    const jobStatus = body.status === "completed" ? attempt.job.status : decideEnd(attempt.job, attempt.number, [], body).next;
    return { jobStatus };
  });
}

/**
 * Ends the attempts of runners silent for longer than `timeoutMs` as runner_lost. Returns the attempts ended.
 * The silence is checked again after each attempt's locks: heartbeats may have resumed since the list was read.
 */
export async function reapLostRunners(db: PrismaClient, timeoutMs: number, boardBadAfter: number): Promise<string[]> {
  const cutoff = new Date(Date.now() - timeoutMs);
  const stale = await db.attempt.findMany({
    where: { status: "running", OR: [{ runner: { lastSeenAt: { lt: cutoff } } }, { runnerId: null }] },
    select: { id: true, runner: { select: { name: true } } },
  });
  const ended: string[] = [];
  for (const a of stale) {
    const done = await db.$transaction((tx) =>
      endAttempt(
        tx,
        a.id,
        {
          status: "error",
          reason: "runner_lost",
          message: `runner ${a.runner?.name ?? "(deleted)"} stopped sending heartbeats`,
          boardBadAfter,
        },
        {
          // The runner row is read, not locked: a scheduling pass locks runners before runs, so locking it after the
          // run would risk a deadlock. A heartbeat that lands after this check is told to stop by the next one.
          stillDue: async (tx) => {
            const [row] = await tx.$queryRaw<{ due: boolean }[]>`
              SELECT r.id IS NULL OR r."lastSeenAt" < ${cutoff} AS due
              FROM "Attempt" a LEFT JOIN "Runner" r ON r.id = a."runnerId" WHERE a.id = ${a.id}::uuid`;
            return row?.due === true;
          },
        },
      ),
    );
    if (done) ended.push(a.id);
  }
  return ended;
}

/**
 * Ends attempts that ran past their job's timeout plus `graceMs` (slack for fetching, flashing and uploads; the
 * runner enforces the suite's own bound, this is the backstop). Returns what it ended.
 */
export async function timeOutAttempts(
  db: PrismaClient,
  graceMs: number,
  boardBadAfter: number,
): Promise<{ attemptId: string; timeoutMs: number; jobStatus: JobStatus }[]> {
  const late = await db.$queryRaw<{ id: string; timeoutMs: number }[]>`
    SELECT a.id::text AS id, j."timeoutMs" FROM "Attempt" a JOIN "Job" j ON j.id = a."jobId"
    WHERE a.status = 'running' AND a."startedAt" + (j."timeoutMs" + ${graceMs}) * interval '1 millisecond' < now()`;
  const ended = [];
  for (const a of late) {
    const jobStatus = await db.$transaction((tx) =>
      endAttempt(tx, a.id, {
        status: "error",
        reason: "timeout",
        message: `attempt did not finish within the job's ${secondsText(a.timeoutMs)} s and ${secondsText(graceMs)} s of grace (HIL_ATTEMPT_GRACE_MS); the runner's own bound did not end it either`,
        boardBadAfter,
      }),
    );
    if (jobStatus) ended.push({ attemptId: a.id, timeoutMs: a.timeoutMs, jobStatus });
  }
  return ended;
}

/** Ends attempts the runner itself reports as orphaned (it restarted while they were running). */
export async function endOrphanedAttempts(db: PrismaClient, attemptIds: string[], runnerName: string, boardBadAfter: number) {
  for (const id of attemptIds) {
    await db.$transaction((tx) =>
      endAttempt(tx, id, {
        status: "error",
        reason: "runner_lost",
        message: `runner ${runnerName} restarted while the attempt was running`,
        boardBadAfter,
      }),
    );
  }
}
