/** The emulated lab: boards sharing one virtual clock and one 802.15.4 medium. */
import type { Faults, Lab, SessionOptions } from "@tock-hil/board";
import { EmulatedBoard, SUPPORTED_BOARD_TYPES } from "./board.ts";
import { createRng, hashString } from "./prng.ts";
import { Medium } from "./radio.ts";
import { Scheduler } from "./scheduler.ts";

export type EmulatedBoardConfig = { name: string; type: string };
export type EmulatedLabOptions = { boards: EmulatedBoardConfig[] };

export type EmulatedLab = Lab & {
  readonly boards: readonly EmulatedBoard[];
  readonly scheduler: Scheduler;
  readonly medium: Medium;
  /** Looks a board up by name; throws if there is none. */
  board(name: string): EmulatedBoard;
};

function checkProbability(name: string, v: number | undefined): number {
  if (v === undefined) return 0;
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new RangeError(`fault ${name} must be a probability in 0..1, got ${v}`);
  return v;
}

export function createEmulatedLab(options: EmulatedLabOptions): EmulatedLab {
  const scheduler = new Scheduler();
  const medium = new Medium(scheduler);
  const names = new Set<string>();
  const boards = options.boards.map((cfg) => {
    if (!(SUPPORTED_BOARD_TYPES as readonly string[]).includes(cfg.type)) {
      throw new Error(`board ${cfg.name}: type ${cfg.type} is not emulated (supported: ${SUPPORTED_BOARD_TYPES.join(", ")})`);
    }
    if (names.has(cfg.name)) throw new Error(`duplicate board name ${cfg.name}`);
    names.add(cfg.name);
    return new EmulatedBoard({ name: cfg.name, type: cfg.type, sched: scheduler, medium });
  });
  let closed = false;

  const applySeed = (seed: number, faults: Faults | undefined): void => {
    const loss = checkProbability("loss", faults?.loss);
    const corruption = checkProbability("corruption", faults?.corruption);
    // Independent streams per component, so adding a board does not perturb another board's backoffs.
    medium.configure(createRng(seed, hashString("medium")), { loss, corruption });
    for (const b of boards) b.radio.setRng(createRng(seed, hashString(`radio:${b.name}`)));
  };
  applySeed(0, undefined);

  return {
    clock: scheduler.clock,
    boards,
    scheduler,
    medium,
    board(name) {
      const b = boards.find((x) => x.name === name);
      if (!b) throw new Error(`no emulated board named ${name}`);
      return b;
    },
    async beginSession(session: SessionOptions) {
      if (closed) throw new Error("emulated lab is closed");
      if (!Number.isInteger(session.seed)) throw new RangeError(`seed must be an integer, got ${session.seed}`);
      applySeed(session.seed, session.faults);
      for (const b of boards) await b.halt();
      const loss = session.faults?.loss ?? 0;
      const corruption = session.faults?.corruption ?? 0;
      return {
        notes: [`emulated lab: seed ${session.seed}, radio loss ${loss}, corruption ${corruption}, clock at ${scheduler.clock.now()} ms`],
      };
    },
    async endSession() {
      for (const b of boards) await b.halt();
    },
    async close() {
      closed = true;
      for (const b of boards) await b.halt();
    },
  };
}
