/** Builds the lab (boards + clock) a runner drives from its configuration. */
import type { Clock, Lab } from "@tock-hil/board";
import { createEmulatedLab } from "@tock-hil/emulator";
import type { LabConfig } from "./lab-config.ts";

export function createLab(config: LabConfig): Lab {
  // Only emulated boards exist so far; they share one virtual clock and one radio medium.
  const lab = createEmulatedLab({ boards: config.boards.map((b) => ({ name: b.name, type: b.type })) });
  return config.emulation?.speed ? throttle(lab, config.emulation.speed) : lab;
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
        await new Promise<void>((resolve, reject) => {
          if (signal?.aborted) return reject(signal.reason as Error);
          const t = setTimeout(resolve, step / speed);
          signal?.addEventListener(
            "abort",
            () => {
              clearTimeout(t);
              reject(signal.reason as Error);
            },
            { once: true },
          );
        });
        left -= step;
      }
    },
  };
  return {
    clock,
    boards: lab.boards,
    beginSession: (options) => lab.beginSession(options),
    endSession: () => lab.endSession(),
    close: () => lab.close(),
    ...(lab.takeCaptures ? { takeCaptures: () => lab.takeCaptures!() } : {}),
  };
}
