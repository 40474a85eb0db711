/**
 * A board health check: flash a known-good kernel, reset, and require boot output and an answer from the process
 * console. Any failure is reported with what was observed, so a lab maintainer can tell a dead probe from a dead
 * board.
 */
import type { Lab } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import type { HealthCheck } from "@tock-hil/protocol";
import type { FirmwareCache } from "./firmware-cache.ts";
import { boundedDelay } from "./signals.ts";

/** The flash bound when the API does not send one (the API's default HIL_STEP_FLASH_MS). */
const DEFAULT_FLASH_MS = 120_000;
/** Bound on halting the board and ending the session after the check, also when a shutdown interrupted it. */
const CLEANUP_MS = 10_000;

export async function runHealthCheck(
  check: HealthCheck,
  lab: Lab,
  cache: FirmwareCache,
  signal: AbortSignal,
): Promise<{ ok: boolean; message: string }> {
  const board = lab.boards.find((b) => b.name === check.board);
  if (!board) return { ok: false, message: `board ${check.board} is not in this runner's lab configuration` };
  let output = "";
  const off = board.serial.onData((chunk) => {
    output += Buffer.from(chunk).toString("utf8");
  });
  try {
    await lab.beginSession({ seed: 0, signal });
    const images = [];
    // Downloads are bounded by the API client; the flash is bounded like a job's, so a wedged probe cannot hold
    // the runner forever.
    for (const fw of check.firmware) images.push(await cache.get(fw, signal));
    await board.flash(images, AbortSignal.any([signal, AbortSignal.timeout(boundedDelay(check.flashTimeoutMs ?? DEFAULT_FLASH_MS))]));
    await board.reset(signal);
    const deadline = lab.clock.now() + check.bootTimeoutMs;
    while (output.length === 0 && lab.clock.now() < deadline) await lab.clock.sleep(50, signal);
    if (output.length === 0)
      return {
        ok: false,
        message: `no output within ${check.bootTimeoutMs} ms of reset after flashing ${check.firmware.map((f) => f.name).join(", ")}`,
      };
    const booted = output;
    await board.serial.write("list\r\n");
    const answerBy = lab.clock.now() + 2000;
    while (!/PID/.test(output.slice(booted.length)) && lab.clock.now() < answerBy) await lab.clock.sleep(50, signal);
    if (!/PID/.test(output.slice(booted.length))) {
      return {
        ok: false,
        message: `booted (${JSON.stringify(booted.trim().slice(0, 120))}) but the process console did not answer 'list'`,
      };
    }
    return { ok: true, message: `booted and the process console answered (kernel ${check.firmware.map((f) => f.name).join(", ")})` };
  } catch (err) {
    const detail = err instanceof FlashError ? `flash failed (${err.code}): ${err.message}` : (err as Error).message;
    return { ok: false, message: detail };
  } finally {
    off();
    const cleanup = AbortSignal.timeout(CLEANUP_MS);
    await board.halt(cleanup).catch(() => {});
    await lab.endSession(cleanup).catch(() => {});
  }
}
