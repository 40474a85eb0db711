/** Builds the lab (boards + clock) a runner drives from its configuration. */
import type { Capture, Clock, Lab } from "@tock-hil/board";
import { createEmulatedLab } from "@tock-hil/emulator";
import { pino } from "pino";
import type { Logger } from "pino";
import type { HardwareBoardConfig, LabConfig } from "./lab-config.ts";
import { sleep } from "./signals.ts";

export type CreateLabOptions = {
  logger?: Logger;
  /** Scratch directory for flash files (LoadedLabConfig.workPath). */
  workDir?: string;
};

/**
 * The hardware adapter (and its native serial-port binding) is loaded only for labs that have real boards, so an
 * emulated lab runs wherever Node does.
 */
export async function createLab(config: LabConfig, options: CreateLabOptions = {}): Promise<Lab> {
  const emulatedBoards = config.boards.filter((b) => b.adapter === "emulated");
  const hardwareBoards = config.boards.filter((b): b is HardwareBoardConfig => b.adapter === "hardware");
  const logger = options.logger ?? pino({ level: "silent" });
  const workDir = options.workDir ?? "work";
  const hardwareLab = async () => (await import("./adapters/hardware-lab.ts")).createHardwareLab;
  if (emulatedBoards.length === 0) return (await hardwareLab())({ boards: hardwareBoards, workDir, logger });

  // Emulated boards share one virtual clock and one radio medium.
  const emulated = createEmulatedLab({ boards: emulatedBoards.map((b) => ({ name: b.name, type: b.type })) });
  if (hardwareBoards.length === 0) return config.emulation?.speed ? throttle(emulated, config.emulation.speed) : emulated;
  // Mixed: the virtual clock is paced to wall time, so one clock serves both kinds and real boards keep real time.
  const paced = throttle(emulated, 1);
  const hardware = (await hardwareLab())({ boards: hardwareBoards, workDir, logger, clock: paced.clock });
  return combine(paced, hardware);
}

/** One lab over two: the first one's clock, both sets of boards, sessions and captures of both. */
function combine(a: Lab, b: Lab): Lab {
  return {
    clock: a.clock,
    boards: [...a.boards, ...b.boards],
    async beginSession(options) {
      const [x, y] = await Promise.all([a.beginSession(options), b.beginSession(options)]);
      return { notes: [...x.notes, ...y.notes] };
    },
    async endSession(signal) {
      await Promise.all([a.endSession(signal), b.endSession(signal)]);
    },
    takeCaptures(): Capture[] {
      return [...(a.takeCaptures?.() ?? []), ...(b.takeCaptures?.() ?? [])];
    },
    async close() {
      await Promise.all([a.close(), b.close()]);
    },
  };
}

const STEP_MS = 100;

/**
 * Runs an emulated lab at most `speed` times faster than wall time (1 = real time). Unthrottled, a minute of radio
 * traffic passes in milliseconds; throttled, people can watch a run live and cancellation and runner-loss can be
 * exercised mid-test, exactly as on hardware.
 */
export function throttle(lab: Lab, speed: number): Lab {
  const inner = lab.clock;
  const clock: Clock = {
    now: () => inner.now(),
    async sleep(ms, signal) {
      let left = ms;
      while (left > 0) {
        const step = Math.min(STEP_MS, left);
        await inner.sleep(step, signal);
        // Through the runner's abortable sleep: its abort listener goes when the step ends, so a long test's
        // signal does not collect one per step.
        await sleep(step / speed, signal);
        left -= step;
      }
    },
  };
  return {
    clock,
    boards: lab.boards,
    beginSession: (options) => lab.beginSession(options),
    endSession: (signal) => lab.endSession(signal),
    close: () => lab.close(),
    ...(lab.takeCaptures ? { takeCaptures: () => lab.takeCaptures!() } : {}),
  };
}
