/**
 * Runs one leased attempt: verify and fetch firmware, flash every role's board, run the suite's tests against the
 * boards, stream serial output, report each result as soon as it is known, and finish. Every failure before the
 * tests start is an infra error with a precise reason; a test that crashes is an `error` result, not a `fail`.
 */
import type { Board, ConsoleLog, FirmwareImage, Lab, Suite, TestOutcome } from "@tock-hil/board";
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

  const session = await deps.lab.beginSession({ seed: lease.seed, faults: lease.faults ?? undefined });
  for (const note of session.notes) logger.info({ note }, "lab session note");

  // Record from before flashing, so boot output and anything printed during flashing is in the log.
  const consoles: Record<string, ConsoleLog> = {};
  for (const role of lease.roles) {
    const recorder = new SerialRecorder(boards[role.role]!, role.role, lease.attemptId, deps.api, logger);
    recorders.set(role.role, recorder);
    consoles[role.role] = recorder;
  }

  const firmware: Record<string, Record<string, FirmwareImage>> = {};
  for (const role of lease.roles) {
    const images: FirmwareImage[] = [];
    for (const fw of role.firmware) {
      try {
        const image = await deps.cache.get(fw, signal);
        logger.info({ role: role.role, firmware: fw.name, sha256: fw.sha256, cached: image.cached }, "firmware ready");
        images.push(image);
      } catch (err) {
        if (signal.aborted) throw err;
        throw new AttemptFailure({ status: "error", reason: "firmware_unavailable", message: (err as Error).message });
      }
    }
    firmware[role.role] = Object.fromEntries(images.map((i) => [i.name, i]));
    const board = boards[role.role]!;
    const toFlash = images.filter((_, i) => role.firmware[i]!.flash);
    try {
      const report = await board.flash(toFlash, signal);
      logger.info({ role: role.role, board: board.name, written: report.written.map((w) => w.name) }, "board flashed");
    } catch (err) {
      if (err instanceof FlashError) {
        if (err.code === "cancelled" || signal.aborted) throw new AttemptFailure(stopped(signal));
        throw new AttemptFailure({
          status: "error",
          reason: "flash_failed",
          message: `flashing ${board.name} (role ${role.role}) failed: ${err.message}`,
        });
      }
      throw err;
    }
  }

  const tests = lease.tests.map((name) => suite.tests.find((t) => t.name === name));
  for (const [i, test] of tests.entries()) {
    if (signal.aborted) throw new AttemptFailure(stopped(signal));
    const name = lease.tests[i]!;
    if (!test) {
      await submit(
        deps.api,
        lease.attemptId,
        { test: name, status: "error", durationMs: 0, message: `suite ${lease.suite} on this runner has no test ${name}` },
        signal,
      );
      continue;
    }
    logger.info({ test: name }, "test started");
    const started = deps.lab.clock.now();
    let outcome: TestOutcome;
    try {
      outcome = await test.run({
        boards,
        consoles,
        clock: deps.lab.clock,
        signal,
        firmware,
        log: (message) => logger.info({ test: name }, message),
      });
    } catch (err) {
      if (signal.aborted) throw new AttemptFailure(stopped(signal));
      outcome = { status: "error", message: `test crashed: ${(err as Error).message}` };
    }
    const result: SubmittedResult = {
      test: name,
      status: outcome.status,
      durationMs: Math.max(0, Math.round(deps.lab.clock.now() - started)),
      ...(outcome.message !== undefined ? { message: outcome.message } : {}),
      ...(outcome.measurements !== undefined ? { measurements: outcome.measurements } : {}),
      ...(outcome.logSpan !== undefined ? { logSpan: outcome.logSpan } : {}),
    };
    logger.info({ test: name, status: result.status, message: result.message, measurements: result.measurements }, "test finished");
    // The judged span must be readable when the result is: upload the log before the result.
    await recorders.get(outcome.logSpan?.role ?? "")?.flush();
    await submit(deps.api, lease.attemptId, result, signal);
  }
  return { status: "completed", reason: "completed" };
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
