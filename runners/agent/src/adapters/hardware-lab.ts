/**
 * A lab of real boards: wall-clock time, one serial line per board opened at start, and per-session hygiene
 * (every board halted and its console drained silent before a job; halted again after it).
 */
import type { Capture, Clock, Lab, SessionOptions } from "@tock-hil/board";
import type { Logger } from "pino";
import type { HardwareBoardConfig } from "../lab-config.ts";
import { HardwareBoard } from "./hardware-board.ts";

/** Wall time in milliseconds since the lab was created; sleeps are timers. */
export function wallClock(): Clock {
  const origin = performance.now();
  return {
    now: () => performance.now() - origin,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason as Error);
        // Timers may fire a fraction of a millisecond early against performance.now(): wait until the clock itself
        // has moved `ms`, so a sleep never ends before its time on this clock.
        const deadline = performance.now() + Math.max(0, ms);
        let timer: NodeJS.Timeout;
        const onAbort = () => {
          clearTimeout(timer);
          reject(signal!.reason as Error);
        };
        const wait = () => {
          const left = deadline - performance.now();
          if (left <= 0) {
            signal?.removeEventListener("abort", onAbort);
            resolve();
            return;
          }
          timer = setTimeout(wait, Math.ceil(left));
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        wait();
      }),
  };
}

export type HardwareLabOptions = {
  boards: HardwareBoardConfig[];
  workDir: string;
  logger: Logger;
  /** Defaults to wall time; a mixed lab passes its shared clock. */
  clock?: Clock;
};

export type HardwareLab = Lab & { readonly boards: readonly HardwareBoard[] };

export function createHardwareLab(options: HardwareLabOptions): HardwareLab {
  const clock = options.clock ?? wallClock();
  const logger = options.logger.child({ adapter: "hardware" });
  const boards = options.boards.map((config) => new HardwareBoard({ config, clock, logger, workDir: options.workDir }));
  for (const b of boards) b.start();
  return {
    clock,
    boards,
    async beginSession(session: SessionOptions) {
      for (const b of boards) b.takeLog();
      // All boards at once: a halt is a subprocess (about a second with a J-Link), the drain a few hundred ms.
      const prepared = await Promise.all(boards.map(async (b) => ({ board: b, ...(await b.prepare(session.signal)) })));
      const notes = [`hardware boards: seed ${session.seed} is recorded but real radios are not seeded`];
      const faults = Object.entries(session.faults ?? {}).filter(
        ([, v]) => v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0),
      );
      if (faults.length > 0)
        notes.push(`hardware boards: faults cannot be injected on real hardware, ignored: ${faults.map(([k]) => k).join(", ")}`);
      for (const p of prepared) {
        notes.push(...p.notes);
        if (p.dropped > 0) notes.push(`${p.board.name}: drained ${p.dropped} bytes of leftover serial output before the job`);
        if (p.board.haltMethod === "mute") notes.push(`${p.board.name}: no halt or power command; "halted" only mutes its console`);
      }
      return { notes };
    },
    async endSession(signal?: AbortSignal) {
      // Halt everything so boards neither print nor radiate between jobs; a failure here is logged, not thrown. A
      // halt cut short by the signal is made up for by the next session, which halts every board before it starts.
      await Promise.all(
        boards.map((b) =>
          b.halt(signal).catch((err: unknown) => {
            if (signal?.aborted) logger.info({ board: b.name, err: (err as Error).message }, "halt after the job cut short");
            else logger.warn({ board: b.name, err: (err as Error).message }, "halt after the job failed");
          }),
        ),
      );
    },
    takeCaptures(): Capture[] {
      const out: Capture[] = [];
      for (const b of boards) {
        const log = b.takeLog();
        if (log) out.push({ name: `flash-${b.name}.log`, mediaType: "text/plain", bytes: new TextEncoder().encode(log) });
      }
      return out;
    },
    async close() {
      await Promise.all(boards.map((b) => b.close()));
    },
  };
}
