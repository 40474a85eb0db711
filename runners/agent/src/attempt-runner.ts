/**
 * Runs one leased attempt: verify and fetch firmware, flash every role's board, run the suite's tests against the
 * boards, stream serial output, report each result as soon as it is known, and finish. Every failure before the
 * tests start is an infra error with a precise reason; a test that crashes is an `error` result, not a `fail`.
 */
import type { Board, ConsoleLog, FirmwareImage, Lab, Suite, TestCase, TestOutcome } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import type { FinishAttemptBody, Lease, SubmittedResult } from "@tock-hil/protocol";
import type { Logger } from "pino";
import { ApiError } from "./api-client.ts";
import type { ApiClient } from "./api-client.ts";
import type { FirmwareCache } from "./firmware-cache.ts";
import { SerialRecorder } from "./serial-recorder.ts";

export type AttemptDeps = {
  api: ApiClient;
  lab: Lab;
  cache: FirmwareCache;
  suites: ReadonlyMap<string, Suite>;
  logger: Logger;
};

/** Why the runner stopped an attempt early. */
export type StopReason = "cancelled" | "runner_shutdown";

class AttemptFailure extends Error {
  constructor(readonly finish: FinishAttemptBody) {
    super(finish.message ?? finish.reason);
  }
}

export async function runAttempt(lease: Lease, deps: AttemptDeps, signal: AbortSignal): Promise<FinishAttemptBody> {
  const logger = deps.logger.child({ attemptId: lease.attemptId, jobId: lease.jobId, runId: lease.runId, suite: lease.suite });
  const recorders = new Map<string, SerialRecorder>();
  let finish: FinishAttemptBody;
  try {
    finish = await execute(lease, deps, signal, logger, recorders);
  } catch (err) {
    if (err instanceof AttemptFailure) finish = err.finish;
    else if (signal.aborted) finish = stopped(signal);
    else {
      logger.error({ err }, "attempt crashed");
      finish = { status: "error", reason: "suite_crashed", message: `runner error: ${(err as Error).message}` };
    }
  }
  // Captures (e.g. the radio medium's pcap) are kept whatever the outcome: they explain failures best.
  for (const capture of deps.lab.takeCaptures?.() ?? []) {
    await deps.api
      .uploadAttemptArtifact(lease.attemptId, capture.name, capture.mediaType, capture.bytes)
      .then(() => logger.info({ name: capture.name, bytes: capture.bytes.length }, "capture uploaded"))
      .catch((err: unknown) => logger.warn({ err, name: capture.name }, "capture could not be uploaded"));
  }
  for (const [role, recorder] of recorders) {
    await recorder.close().catch((err: unknown) => logger.warn({ err, role }, "serial log could not be uploaded completely"));
  }
  await deps.lab.endSession().catch((err: unknown) => logger.warn({ err }, "ending the lab session failed"));
  logger.info({ status: finish.status, reason: finish.reason, message: finish.message }, "attempt done");
  return finish;
}

function stopped(signal: AbortSignal): FinishAttemptBody {
  const reason = signal.reason === "runner_shutdown" ? "runner_shutdown" : "cancelled";
  return reason === "cancelled"
    ? { status: "cancelled", reason, message: "the attempt was cancelled" }
    : { status: "error", reason, message: "the runner shut down during the attempt" };
}

async function execute(
  lease: Lease,
  deps: AttemptDeps,
  signal: AbortSignal,
  logger: Logger,
  recorders: Map<string, SerialRecorder>,
): Promise<FinishAttemptBody> {
  const suite = deps.suites.get(lease.suite);
  if (!suite)
    throw new AttemptFailure({ status: "error", reason: "suite_crashed", message: `this runner does not have suite ${lease.suite}` });

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
    session = await deps.lab.beginSession({ seed: lease.seed, faults: lease.faults ?? undefined });
  } catch (err) {
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
  const fetchSignal = AbortSignal.any([signal, AbortSignal.timeout(lease.steps.fetchMs)]);
  const firmware: Record<string, Record<string, FirmwareImage>> = {};
  for (const role of lease.roles) {
    const images: Record<string, FirmwareImage> = {};
    for (const fw of role.firmware) {
      try {
        const image = await deps.cache.get(fw, fetchSignal);
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
    const flashSignal = AbortSignal.any([signal, AbortSignal.timeout(lease.steps.flashMs)]);
    try {
      const report = await board.flash(toFlash, flashSignal);
      logger.info({ role: role.role, board: board.name, written: report.written.map((w) => w.name) }, "board flashed");
    } catch (err) {
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
    if (!(await bootsWithin(board, deps.lab.clock, lease.steps.bootMs, signal))) {
      if (signal.aborted) throw new AttemptFailure(stopped(signal));
      throw new AttemptFailure({
        status: "error",
        reason: "boot_timeout",
        message: `${board.name} (role ${role.role}) printed nothing within ${lease.steps.bootMs} ms of reset`,
      });
    }
    await board.halt();
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
      const result = await runTest(test, attemptTry, { boards, consoles, firmware, lease, deps, signal, logger });
      await recorders.get(result.logSpan?.role ?? "")?.flush(); // the judged span must be readable with the result
      await submit(deps.api, lease.attemptId, result, signal);
      if (result.status !== "fail") break;
      if (attemptTry <= lease.reruns) logger.info({ test: name, try: attemptTry }, "test failed; re-running it");
    }
  }
  return { status: "completed", reason: "completed" };
}

/** Resets the board and waits, on the lab clock, for its first output. */
async function bootsWithin(board: Board, clock: Lab["clock"], ms: number, signal: AbortSignal): Promise<boolean> {
  let seen = false;
  const off = board.serial.onData(() => {
    seen = true;
  });
  try {
    await board.reset();
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
  signal: AbortSignal;
  logger: Logger;
};

async function runTest(test: TestCase, attemptTry: number, run: TestRun): Promise<SubmittedResult> {
  const { deps, signal, logger } = run;
  const limitMs = test.timeoutMs ?? run.lease.steps.testMs;
  // The test gets its own signal: aborted by the attempt's (cancel, shutdown) or by its own wall-time bound.
  const own = new AbortController();
  const timer = setTimeout(() => own.abort(new Error(`test timed out after ${limitMs} ms`)), limitMs);
  const onAbort = () => own.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  logger.info({ test: test.name, try: attemptTry }, "test started");
  const started = deps.lab.clock.now();
  let outcome: TestOutcome;
  try {
    outcome = await Promise.race([
      test.run({
        boards: run.boards,
        consoles: run.consoles,
        clock: deps.lab.clock,
        signal: own.signal,
        firmware: run.firmware,
        log: (m) => logger.info({ test: test.name }, m),
      }),
      new Promise<never>((_, reject) => own.signal.addEventListener("abort", () => reject(own.signal.reason as Error), { once: true })),
    ]);
  } catch (err) {
    if (signal.aborted) throw new AttemptFailure(stopped(signal));
    outcome = own.signal.aborted
      ? { status: "error", message: `test timed out after ${limitMs} ms (wall time)` }
      : { status: "error", message: `test crashed: ${(err as Error).message}` };
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort);
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

async function submit(api: ApiClient, attemptId: string, result: SubmittedResult, signal: AbortSignal) {
  try {
    await api.submitResults(attemptId, [result], signal);
  } catch (err) {
    if (err instanceof ApiError && err.code === "ATTEMPT_NOT_RUNNING")
      throw new AttemptFailure({ status: "cancelled", reason: "cancelled", message: err.message });
    throw err;
  }
}
