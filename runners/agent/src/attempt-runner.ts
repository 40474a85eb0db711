/**
 * Runs one leased attempt: verify and fetch firmware, flash every role's board, run the suite's tests against the
 * boards, stream serial output, report each result as soon as it is known, and clean up. Every failure before the
 * tests start is an infra error with a precise reason; a test that crashes is an `error` result, not a `fail`.
 *
 * Stopping. The attempt's signal (the API ended it, the runner shuts down) and the job's own bound (the lease's
 * `timeoutMs`, kept here) stop whichever step is running: every board operation gets the signal, and the runner
 * walks away from one that has not settled ABORT_SETTLE_MS later. The outcome is fixed when the steps end, before
 * any cleanup, so a stop or the job's bound arriving during the final uploads cannot turn a finished attempt
 * into a timeout. After a stop, cleanup (final uploads, halting the boards) is cut off STOP_CLEANUP_MS after the
 * stop, so a cancelled job is off its boards within 2 seconds of the cancellation (the heartbeat that brings it
 * takes up to 500 ms).
 */
import type { Board, Clock, ConsoleLog, FirmwareImage, Lab, Suite, TestCase, TestContext, TestOutcome } from "@tock-hil/board";
import { ABORT_SETTLE_MS, FlashError } from "@tock-hil/board";
import type { FinishAttemptBody, Lease, SubmittedResult } from "@tock-hil/protocol";
import type { Logger } from "pino";
import { ApiError } from "./api-client.ts";
import type { ApiClient } from "./api-client.ts";
import type { FirmwareCache } from "./firmware-cache.ts";
import { SerialRecorder } from "./serial-recorder.ts";
import { abortError, boundedDelay, raceSignal, settleOrAbandon, settlesWithin } from "./signals.ts";
import { AttemptStop, stopOf } from "./stop-reason.ts";

export type AttemptDeps = {
  api: ApiClient;
  lab: Lab;
  cache: FirmwareCache;
  suites: ReadonlyMap<string, Suite>;
  logger: Logger;
};

/** After a stop, everything the attempt still does (final uploads, halting the boards) ends this long after it. */
export const STOP_CLEANUP_MS = 1_000;
/** Cleanup after an attempt that ran to its end: uploads to an API that is down must not hold the runner for long. */
const CLEANUP_MS = 30_000;
/** How long a test whose own bound ran out may take to return before the runner takes its boards back. */
export const TEST_SETTLE_MS = 1_000;
/** The same when the whole attempt stops: half of the stop's budget, the other half is for cleanup. */
const STOPPED_TEST_SETTLE_MS = STOP_CLEANUP_MS / 2;
/** A test that declares no bound gets at most this fraction of the job's bound (see `testBound`). */
const TEST_SHARE_OF_JOB = 4;
/** Kept back from a test's bound near the end of the job, so the test's own timer fires before the job's. */
const JOB_RESERVE_MS = 2_000;
/** Bound on halting the boards an abandoned test left running, when the attempt goes on. */
const HALT_ABANDONED_MS = 10_000;

/** The result flash errors that the board reports on its own; anything else is the runner stopping the flash. */
const FLASH_FAILURES = new Set<FlashError["code"]>([
  "invalid_image",
  "wrong_board",
  "tool_missing",
  "probe_not_found",
  "verify_failed",
  "tool_failed",
]);

class AttemptFailure extends Error {
  constructor(readonly finish: FinishAttemptBody) {
    super(finish.message ?? finish.reason);
  }
}

export async function runAttempt(lease: Lease, deps: AttemptDeps, signal: AbortSignal): Promise<FinishAttemptBody> {
  const logger = deps.logger.child({ attemptId: lease.attemptId, jobId: lease.jobId, runId: lease.runId, suite: lease.suite });
  const recorders = new Map<string, SerialRecorder>();
  // The job's own bound covers the steps only: once they end, the outcome is known and must not change.
  const job = new AbortController();
  const jobDeadline = performance.now() + boundedDelay(lease.timeoutMs);
  const jobTimer = setTimeout(() => {
    logger.warn({ timeoutMs: lease.timeoutMs }, "the job's own time bound ran out; stopping the attempt");
    job.abort(new AttemptStop("timeout", `the suite did not finish within ${lease.timeoutMs} ms`));
  }, boundedDelay(lease.timeoutMs));
  const steps = AbortSignal.any([signal, job.signal]);
  let stoppedAt: number | undefined;
  const onStop = () => {
    stoppedAt = performance.now();
    if (stopOf(steps.reason).kind !== "timeout") logger.info({ stoppedBecause: abortError(steps).message }, "stopping the attempt");
  };
  steps.addEventListener("abort", onStop, { once: true });
  warnIfClamped(lease, logger);

  let finish: FinishAttemptBody;
  try {
    finish = await execute(lease, deps, { signal: steps, logger, recorders, jobDeadline, stoppedAt: () => stoppedAt });
  } catch (err) {
    if (err instanceof AttemptFailure) finish = err.finish;
    else if (steps.aborted) finish = stopped(steps);
    else {
      logger.error({ err }, "attempt crashed");
      finish = { status: "error", reason: "suite_crashed", message: `runner error: ${(err as Error).message}` };
    }
  } finally {
    clearTimeout(jobTimer);
    steps.removeEventListener("abort", onStop);
  }

  const cleanup = cleanupBound(signal, stoppedAt);
  try {
    await cleanUp(lease, deps, logger, recorders, cleanup.signal);
  } finally {
    cleanup.dispose();
  }
  logger.info({ status: finish.status, reason: finish.reason, message: finish.message }, "attempt done");
  return finish;
}

/** Final uploads and halting the boards, all at once, within `signal`; failures are logged, never thrown. */
async function cleanUp(lease: Lease, deps: AttemptDeps, logger: Logger, recorders: Map<string, SerialRecorder>, signal: AbortSignal) {
  const work: Promise<unknown>[] = [];
  // Captures (e.g. the radio medium's pcap) are kept whatever the outcome: they explain failures best.
  for (const capture of deps.lab.takeCaptures?.() ?? []) {
    work.push(
      deps.api
        .uploadAttemptArtifact(lease.attemptId, capture.name, capture.mediaType, capture.bytes, signal)
        .then(() => logger.info({ name: capture.name, bytes: capture.bytes.length }, "capture uploaded"))
        .catch((err: unknown) => logger.warn({ err: (err as Error).message, name: capture.name }, "capture could not be uploaded")),
    );
  }
  // Closing a recorder stops recording at once (its upload goes on), so halting the boards is not in the log.
  for (const [role, recorder] of recorders) {
    work.push(
      recorder
        .close(signal)
        .catch((err: unknown) => logger.warn({ err: (err as Error).message, role }, "serial log could not be uploaded completely")),
    );
  }
  work.push(
    settleOrAbandon(deps.lab.endSession(signal), signal, ABORT_SETTLE_MS, () =>
      logger.error({ graceMs: ABORT_SETTLE_MS }, "ending the lab session did not stop when told to; left behind"),
    ).catch((err: unknown) => logger.warn({ err: (err as Error).message }, "ending the lab session failed")),
  );
  await Promise.all(work);
}

/**
 * The bound on cleanup: STOP_CLEANUP_MS after the stop when the attempt was stopped (or is stopped while cleaning
 * up), else CLEANUP_MS.
 */
function cleanupBound(external: AbortSignal, stoppedAt: number | undefined): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let deadline = stoppedAt !== undefined ? stoppedAt + STOP_CLEANUP_MS : performance.now() + CLEANUP_MS;
  let timer: NodeJS.Timeout;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => controller.abort(new Error(stoppedAt !== undefined ? "the attempt was stopped" : `cleanup took longer than ${CLEANUP_MS} ms`)),
      Math.max(0, deadline - performance.now()),
    );
  };
  const onStop = () => {
    stoppedAt ??= performance.now();
    deadline = Math.min(deadline, performance.now() + STOP_CLEANUP_MS);
    arm();
  };
  arm();
  if (stoppedAt === undefined) external.addEventListener("abort", onStop, { once: true });
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      external.removeEventListener("abort", onStop);
    },
  };
}

/** The attempt's end when a stop ended its steps. */
function stopped(signal: AbortSignal): FinishAttemptBody {
  const stop = stopOf(signal.reason);
  switch (stop.kind) {
    case "timeout":
      return { status: "error", reason: "timeout", message: stop.message };
    case "runner_shutdown":
      return { status: "error", reason: "runner_shutdown", message: "the runner shut down during the attempt" };
    case "ended_by_api":
      return { status: "cancelled", reason: "cancelled", message: stop.message };
  }
}

/** A lease bound no timer can wait is treated as the longest one (about 24.8 days) rather than firing at once. */
function warnIfClamped(lease: Lease, logger: Logger) {
  const bounds = { timeoutMs: lease.timeoutMs, ...lease.steps };
  const clamped = Object.entries(bounds).filter(([, ms]) => boundedDelay(ms) !== ms);
  if (clamped.length > 0)
    logger.warn({ bounds: Object.fromEntries(clamped) }, "lease bounds beyond what a timer can wait are treated as about 24.8 days");
}

type Run = {
  signal: AbortSignal;
  logger: Logger;
  recorders: Map<string, SerialRecorder>;
  /** `performance.now()` at which the job's own bound runs out. */
  jobDeadline: number;
  /** When the attempt was stopped, if it was. */
  stoppedAt: () => number | undefined;
};

async function execute(lease: Lease, deps: AttemptDeps, run: Run): Promise<FinishAttemptBody> {
  const { signal, logger, recorders } = run;
  const suite = deps.suites.get(lease.suite);
  if (!suite)
    throw new AttemptFailure({ status: "error", reason: "suite_crashed", message: `this runner does not have suite ${lease.suite}` });
  // A board that does not stop when told to is left behind so the attempt can end; it is logged as a defect.
  const guarded = <T>(what: string, op: Promise<T>, opSignal: AbortSignal = signal) =>
    settleOrAbandon(op, opSignal, ABORT_SETTLE_MS, () =>
      logger.error({ operation: what, graceMs: ABORT_SETTLE_MS }, "a board operation did not stop when told to; left behind"),
    );

  const boards: Record<string, Board> = {};
  for (const role of lease.roles) {
    const board = deps.lab.boards.find((b) => b.name === role.board);
    if (!board)
      throw new AttemptFailure({
        status: "error",
        reason: "board_unavailable",
        message: `board ${role.board} (role ${role.role}) is not in this runner's lab`,
      });
    boards[role.role] = board;
  }

  let session: { notes: string[] };
  try {
    session = await guarded("preparing the boards", deps.lab.beginSession({ seed: lease.seed, faults: lease.faults ?? undefined, signal }));
  } catch (err) {
    if (signal.aborted) throw new AttemptFailure(stopped(signal));
    // On hardware this means a board would not go quiet or could not be halted: the board is in doubt.
    throw new AttemptFailure({
      status: "error",
      reason: "board_unavailable",
      message: `preparing the boards failed: ${(err as Error).message}`,
    });
  }
  for (const note of session.notes) logger.info({ note }, "lab session note");

  // Record from before flashing, so boot output and anything printed during flashing is in the log.
  const consoles: Record<string, ConsoleLog> = {};
  for (const role of lease.roles) {
    const recorder = new SerialRecorder(boards[role.role]!, role.role, lease.attemptId, deps.api, logger);
    recorders.set(role.role, recorder);
    consoles[role.role] = recorder;
  }

  // Step 1: fetch and verify every image, bounded as a whole.
  const fetchSignal = AbortSignal.any([signal, AbortSignal.timeout(boundedDelay(lease.steps.fetchMs))]);
  const firmware: Record<string, Record<string, FirmwareImage>> = {};
  for (const role of lease.roles) {
    const images: Record<string, FirmwareImage> = {};
    for (const fw of role.firmware) {
      try {
        const image = await raceSignal(deps.cache.get(fw, fetchSignal), fetchSignal);
        logger.info({ role: role.role, firmware: fw.name, sha256: fw.sha256, cached: image.cached }, "firmware ready");
        images[fw.name] = image;
      } catch (err) {
        if (signal.aborted) throw new AttemptFailure(stopped(signal));
        if (fetchSignal.aborted) {
          throw new AttemptFailure({
            status: "error",
            reason: "fetch_timeout",
            message: `fetching firmware took longer than ${lease.steps.fetchMs} ms (at ${fw.name})`,
          });
        }
        throw new AttemptFailure({ status: "error", reason: "firmware_unavailable", message: (err as Error).message });
      }
    }
    firmware[role.role] = images;
  }

  // Step 2: flash each board, bounded per board.
  for (const role of lease.roles) {
    const board = boards[role.role]!;
    const toFlash = role.firmware.filter((f) => f.flash).map((f) => firmware[role.role]![f.name]!);
    const flashSignal = AbortSignal.any([signal, AbortSignal.timeout(boundedDelay(lease.steps.flashMs))]);
    try {
      const report = await guarded(`flashing ${board.name}`, board.flash(toFlash, flashSignal), flashSignal);
      logger.info({ role: role.role, board: board.name, written: report.written.map((w) => w.name) }, "board flashed");
    } catch (err) {
      // What the board reported on its own (a bad image, a missing probe) is the precise outcome, even if a stop
      // came at the same moment.
      if (err instanceof FlashError && FLASH_FAILURES.has(err.code)) {
        throw new AttemptFailure({
          status: "error",
          reason: "flash_failed",
          message: `flashing ${board.name} (role ${role.role}) failed: ${err.message}`,
        });
      }
      if (signal.aborted) throw new AttemptFailure(stopped(signal));
      if (flashSignal.aborted) {
        throw new AttemptFailure({
          status: "error",
          reason: "flash_timeout",
          message: `flashing ${board.name} (role ${role.role}) took longer than ${lease.steps.flashMs} ms`,
        });
      }
      // The flash tool's own bound (a lab's per-board `flash.timeoutMs`) is a flash timeout too, not a failed write.
      if (err instanceof FlashError && err.code === "timeout") {
        throw new AttemptFailure({
          status: "error",
          reason: "flash_timeout",
          message: `flashing ${board.name} (role ${role.role}) timed out: ${err.message}`,
        });
      }
      if (err instanceof FlashError) {
        throw new AttemptFailure({
          status: "error",
          reason: "flash_failed",
          message: `flashing ${board.name} (role ${role.role}) failed: ${err.message}`,
        });
      }
      throw err;
    }
  }

  // Step 3: every board must boot (print something after reset) before any test runs: a board that never boots is
  // an infra error, not a test failure.
  for (const role of lease.roles.filter((r) => r.bootCheck)) {
    const board = boards[role.role]!;
    const booted = await bootsWithin(board, deps.lab.clock, lease.steps.bootMs, signal, guarded).catch((err: unknown) => {
      if (signal.aborted) return false;
      throw err;
    });
    if (!booted) {
      if (signal.aborted) throw new AttemptFailure(stopped(signal));
      throw new AttemptFailure({
        status: "error",
        reason: "boot_timeout",
        message: `${board.name} (role ${role.role}) printed nothing within ${lease.steps.bootMs} ms of reset`,
      });
    }
    try {
      await guarded(`halting ${board.name}`, board.halt(signal));
    } catch (err) {
      if (signal.aborted) throw new AttemptFailure(stopped(signal));
      throw err;
    }
  }

  // Step 4: the tests, in order, each bounded; a failed test is re-run up to `reruns` times.
  const tests = lease.tests.map((name) => suite.tests.find((t) => t.name === name));
  for (const [i, test] of tests.entries()) {
    const name = lease.tests[i]!;
    if (!test) {
      await submit(
        deps.api,
        lease.attemptId,
        { test: name, try: 1, status: "error", durationMs: 0, message: `suite ${lease.suite} on this runner has no test ${name}` },
        signal,
      );
      continue;
    }
    for (let attemptTry = 1; attemptTry <= lease.reruns + 1; attemptTry++) {
      if (signal.aborted) throw new AttemptFailure(stopped(signal));
      const result = await runTest(test, attemptTry, { boards, consoles, firmware, lease, deps, run });
      await recorders.get(result.logSpan?.role ?? "")?.flush(signal); // the judged span must be readable with the result
      await submit(deps.api, lease.attemptId, result, signal);
      if (result.status !== "fail") break;
      if (attemptTry <= lease.reruns) logger.info({ test: name, try: attemptTry }, "test failed; re-running it");
    }
  }
  return { status: "completed", reason: "completed" };
}

/** Resets the board and waits, on the lab clock, for its first output. */
async function bootsWithin(
  board: Board,
  clock: Lab["clock"],
  ms: number,
  signal: AbortSignal,
  guarded: <T>(what: string, op: Promise<T>) => Promise<T>,
): Promise<boolean> {
  let seen = false;
  const off = board.serial.onData(() => {
    seen = true;
  });
  try {
    await guarded(`resetting ${board.name}`, board.reset(signal));
    const deadline = clock.now() + ms;
    while (!seen && clock.now() < deadline && !signal.aborted)
      await clock.sleep(Math.min(50, deadline - clock.now()), signal).catch(() => {});
    return seen;
  } finally {
    off();
  }
}

type TestRun = {
  boards: Record<string, Board>;
  consoles: Record<string, ConsoleLog>;
  firmware: Record<string, Record<string, FirmwareImage>>;
  lease: Lease;
  deps: AttemptDeps;
  run: Run;
};

/**
 * A test's wall-time bound: its own `timeoutMs` if the suite declares one, else HIL_STEP_TEST_MS (the lease's
 * `steps.testMs`) but at most a quarter of the job's bound, so that one hung test ends as that test's `error`
 * "timed out" and leaves the job time for the others. Near the end of the job the bound is cut to what is left
 * (less a reserve for reporting), so the test's own timer still fires before the job's.
 */
export function testBound(test: Pick<TestCase, "timeoutMs">, lease: Pick<Lease, "timeoutMs" | "steps">, leftMs: number) {
  const own = test.timeoutMs ?? Math.min(lease.steps.testMs, Math.floor(lease.timeoutMs / TEST_SHARE_OF_JOB));
  const usable = leftMs - JOB_RESERVE_MS;
  if (usable > 0 && usable < own) return { ms: Math.floor(usable), cutToJob: true };
  return { ms: own, cutToJob: false };
}

async function runTest(test: TestCase, attemptTry: number, t: TestRun): Promise<SubmittedResult> {
  const { deps, run, lease } = t;
  const { signal, logger } = run;
  const bound = testBound(test, lease, run.jobDeadline - performance.now());
  // The test gets its own signal: aborted by the attempt's (cancel, shutdown, job bound) or by its own wall-time
  // bound, and also once it is over, so work it left running in the background stops too.
  const own = new AbortController();
  const timer = setTimeout(() => own.abort(new Error(`test timed out after ${bound.ms} ms`)), boundedDelay(bound.ms));
  const onAbort = () => own.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  const fence = new Fence(test.name);
  logger.info({ test: test.name, try: attemptTry, boundMs: bound.ms }, "test started");
  const started = deps.lab.clock.now();
  const ctx: TestContext = {
    boards: Object.fromEntries(Object.entries(t.boards).map(([role, board]) => [role, fence.board(board)])),
    consoles: t.consoles,
    clock: fence.clock(deps.lab.clock),
    signal: own.signal,
    firmware: t.firmware,
    log: (m) => logger.info({ test: test.name, ...(fence.closed ? { abandoned: true } : {}) }, m),
  };
  const running = (async () => test.run(ctx))();
  let outcome: TestOutcome;
  try {
    outcome = await raceSignal(running, own.signal);
  } catch (err) {
    if (!own.signal.aborted) {
      outcome = { status: "error", message: `test crashed: ${(err as Error).message}` };
    } else {
      // Stopped: give the test a moment to return (its board operations are being stopped by the signal), then
      // take its boards back whether it did or not.
      const settleMs = signal.aborted
        ? Math.max(0, (run.stoppedAt() ?? performance.now()) + STOPPED_TEST_SETTLE_MS - performance.now())
        : TEST_SETTLE_MS;
      // A stop of the whole attempt during a timed-out test's settle ends the wait at once, so the attempt's
      // cleanup (ending the session halts the boards) keeps its whole budget after the stop.
      const settled = await settlesWithin(signal.aborted ? running : raceSignal(running, signal), settleMs);
      fence.close();
      if (!settled) {
        logger.warn({ test: test.name, settleMs }, "the test did not return after it was stopped; its boards were taken back");
        // Whatever it left running on the boards (a kernel it reset, a radio it turned on) must not leak into the
        // next test; when the whole attempt stops, ending the session halts them instead.
        if (!signal.aborted) await haltAbandoned(test, t, logger);
      }
      if (signal.aborted) throw new AttemptFailure(stopped(signal));
      outcome = {
        status: "error",
        message: bound.cutToJob
          ? `test timed out after ${bound.ms} ms (wall time; what was left of the job's ${lease.timeoutMs} ms)`
          : `test timed out after ${bound.ms} ms (wall time)`,
      };
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
    own.abort(new Error(`test ${test.name} is over`));
    fence.close();
  }
  const result: SubmittedResult = {
    test: test.name,
    try: attemptTry,
    status: outcome.status,
    durationMs: Math.max(0, Math.round(deps.lab.clock.now() - started)),
    ...(outcome.message !== undefined ? { message: outcome.message } : {}),
    ...(outcome.measurements !== undefined ? { measurements: outcome.measurements } : {}),
    ...(outcome.logSpan !== undefined ? { logSpan: outcome.logSpan } : {}),
  };
  logger.info(
    { test: test.name, try: attemptTry, status: result.status, message: result.message, measurements: result.measurements },
    "test finished",
  );
  return result;
}

/** Halts the boards of a test that did not return after it was stopped. */
async function haltAbandoned(test: TestCase, t: TestRun, logger: Logger) {
  const roles = test.roles.length > 0 ? test.roles : Object.keys(t.boards);
  const bound = AbortSignal.any([t.run.signal, AbortSignal.timeout(HALT_ABANDONED_MS)]);
  await Promise.all(
    roles.flatMap((role) => {
      const board = t.boards[role];
      if (!board) return [];
      return [
        settleOrAbandon(board.halt(bound), bound, ABORT_SETTLE_MS, () => {}).catch((err: unknown) =>
          logger.warn({ test: test.name, board: board.name, err: (err as Error).message }, "halting the abandoned test's board failed"),
        ),
      ];
    }),
  );
}

/**
 * What a test may touch, taken back when the test is over or abandoned: after `close()` its board operations, its
 * console writes and its clock reject, and its console subscriptions are dropped. Board operations in flight are
 * aborted at that moment too. A test that ignores its signal can therefore never drive a board (or, on an emulated
 * lab, advance the shared clock) during the next test or attempt.
 */
class Fence {
  private readonly controller = new AbortController();
  private readonly unsubscribers = new Set<() => void>();

  constructor(private readonly test: string) {}

  get closed(): boolean {
    return this.controller.signal.aborted;
  }

  close(): void {
    if (this.closed) return;
    this.controller.abort(new Error(`test ${this.test} is over; its boards were taken back`));
    for (const off of this.unsubscribers) off();
    this.unsubscribers.clear();
  }

  private refused(what: string): Error {
    return new Error(`test ${this.test} is over: ${what} refused (its boards were taken back)`);
  }

  private combined(signal: AbortSignal | undefined): AbortSignal {
    return signal ? AbortSignal.any([signal, this.controller.signal]) : this.controller.signal;
  }

  board(board: Board): Board {
    const op = <T>(what: string, run: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> =>
      this.closed ? Promise.reject(this.refused(`${what} ${board.name}`)) : run(this.combined(signal));
    return {
      name: board.name,
      type: board.type,
      serial: {
        onData: (listener) => {
          if (this.closed) return () => {};
          const off = board.serial.onData(listener);
          const unsubscribe = () => {
            this.unsubscribers.delete(unsubscribe);
            off();
          };
          this.unsubscribers.add(unsubscribe);
          return unsubscribe;
        },
        write: (data) => (this.closed ? Promise.reject(this.refused(`writing to ${board.name}`)) : board.serial.write(data)),
      },
      flash: (images, signal) => op("flashing", (s) => board.flash(images, s), signal),
      reset: (signal) => op("resetting", (s) => board.reset(s), signal),
      halt: (signal) => op("halting", (s) => board.halt(s), signal),
    };
  }

  clock(clock: Clock): Clock {
    return {
      now: () => clock.now(),
      // The test's own signal (aborted when it is stopped or over) is passed through as is: combining signals on
      // every sleep of a polling test would cost more than the sleep.
      sleep: (ms, signal) => (this.closed ? Promise.reject(this.refused("sleeping")) : clock.sleep(ms, signal ?? this.controller.signal)),
    };
  }
}

async function submit(api: ApiClient, attemptId: string, result: SubmittedResult, signal: AbortSignal) {
  try {
    await api.submitResults(attemptId, [result], signal);
  } catch (err) {
    if (err instanceof ApiError && err.code === "ATTEMPT_NOT_RUNNING")
      throw new AttemptFailure({ status: "cancelled", reason: "cancelled", message: err.message });
    throw err;
  }
}
