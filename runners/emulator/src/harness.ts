/**
 * Runs a suite against an emulated lab the way the runner does: roles get boards in order, every image of the
 * manifest (flashed and extra) is built and handed to the tests, job-start images are flashed, consoles are
 * recorded from the start, tests run in manifest order, and the session's captures are taken at the end. Used by
 * the suites' integration tests and the nightly benchmark; the agent has its own runner for real jobs.
 */
import type { Board, Capture, ConsoleLog, Faults, FirmwareImage, Suite, TestContext, TestOutcome } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import { buildFirmware } from "./firmware.ts";
import type { EmulatedLab } from "./lab.ts";
import { createEmulatedLab } from "./lab.ts";

export type SuiteRun = {
  outcomes: Map<string, TestOutcome>;
  /** Everything each role's board printed during the run. */
  transcripts: Record<string, string>;
  captures: Capture[];
  virtualMs: number;
  progress: string[];
};

/** The default emulated lab: four nRF52840DKs in one RF group. */
export function createDefaultLab(boards = 4): EmulatedLab {
  return createEmulatedLab({ boards: Array.from({ length: boards }, (_, i) => ({ name: `nrf-${i + 1}`, type: "nrf52840dk" })) });
}

export function firmwareImage(name: string): FirmwareImage {
  const fw = buildFirmware(name);
  return { name: fw.name, kind: fw.kind, sha256: fw.sha256, bytes: fw.bytes };
}

function recordConsole(board: Board): ConsoleLog & { bytes(): Uint8Array } {
  const chunks: Uint8Array[] = [];
  let length = 0;
  board.serial.onData((chunk) => {
    chunks.push(chunk.slice());
    length += chunk.length;
  });
  const all = (): Uint8Array => {
    const out = new Uint8Array(length);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  };
  return {
    offset: () => length,
    textSince: (from) => new TextDecoder().decode(all().subarray(from)),
    bytes: all,
  };
}

export async function runSuiteOnEmulatedLab(
  suite: Suite,
  options: { seed: number; faults?: Faults | undefined; lab?: EmulatedLab },
): Promise<SuiteRun> {
  const lab = options.lab ?? createDefaultLab();
  const roles = suite.manifest.roles;
  if (roles.length > lab.boards.length)
    throw new Error(`suite ${suite.manifest.name} needs ${roles.length} boards, lab has ${lab.boards.length}`);
  await lab.beginSession({ seed: options.seed, faults: options.faults });
  const t0 = lab.clock.now();
  const boards: Record<string, Board> = {};
  const consoles: Record<string, ReturnType<typeof recordConsole>> = {};
  const firmware: Record<string, Record<string, FirmwareImage>> = {};
  const outcomes = new Map<string, TestOutcome>();
  let flashError: string | undefined;
  for (const [i, role] of roles.entries()) {
    const board = lab.boards[i] as Board;
    boards[role.name] = board;
    consoles[role.name] = recordConsole(board);
    firmware[role.name] = Object.fromEntries([...role.firmware, ...(role.extraFirmware ?? [])].map((n) => [n, firmwareImage(n)]));
    try {
      await board.flash(role.firmware.map((n) => firmware[role.name]?.[n] as FirmwareImage));
    } catch (err) {
      if (!(err instanceof FlashError)) throw err;
      flashError ??= `flashing role ${role.name} failed (${err.code}): ${err.message}`;
    }
  }
  const progress: string[] = [];
  const ctx: TestContext = {
    boards,
    consoles,
    clock: lab.clock,
    signal: new AbortController().signal,
    firmware,
    log: (m) => progress.push(m),
  };
  for (const test of suite.tests) {
    // A failed job-start flash is an infrastructure error for every test, as in the runner.
    outcomes.set(test.name, flashError ? { status: "error", message: flashError } : await test.run(ctx));
  }
  await lab.endSession();
  const transcripts = Object.fromEntries(Object.entries(consoles).map(([r, c]) => [r, new TextDecoder().decode(c.bytes())]));
  return { outcomes, transcripts, captures: lab.takeCaptures?.() ?? [], virtualMs: lab.clock.now() - t0, progress };
}
