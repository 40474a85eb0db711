/**
 * Runs the suite end to end against the emulator, as the runner would: flash each role, start a session, run
 * every test with recorded consoles. Only this test imports the emulator; the suite itself never does.
 */
import { describe, expect, it } from "vitest";
import type { Board, ConsoleLog, Faults, FirmwareImage, TestContext, TestOutcome } from "@tock-hil/board";
import { buildFirmware, createEmulatedLab } from "@tock-hil/emulator";
import { manifest, suite } from "../src/index.ts";

/** Minimal ConsoleLog: every byte the board sends, from the moment it is attached. */
function recordConsole(board: Board): ConsoleLog {
  let bytes = new Uint8Array(0);
  board.serial.onData((chunk) => {
    const next = new Uint8Array(bytes.length + chunk.length);
    next.set(bytes);
    next.set(chunk, bytes.length);
    bytes = next;
  });
  return {
    offset: () => bytes.length,
    textSince: (from) => new TextDecoder().decode(bytes.subarray(from)),
  };
}

async function runSuite(seed: number, faults?: Faults): Promise<Map<string, TestOutcome>> {
  const lab = createEmulatedLab({
    boards: [
      { name: "nrf-1", type: "nrf52840dk" },
      { name: "nrf-2", type: "nrf52840dk" },
    ],
  });
  await lab.beginSession({ seed, faults });
  const [b1, b2] = lab.boards;
  if (!b1 || !b2) throw new Error("lab has too few boards");
  const boards: Record<string, Board> = { tx: b1, rx: b2 };
  const consoles: Record<string, ConsoleLog> = {};
  const firmware: Record<string, Record<string, FirmwareImage>> = {};
  const image = (name: string): FirmwareImage => {
    const fw = buildFirmware(name);
    return { name: fw.name, kind: fw.kind, sha256: fw.sha256, bytes: fw.bytes };
  };
  for (const r of manifest.roles) {
    const board = boards[r.name];
    if (!board) throw new Error(`no board for role ${r.name}`);
    consoles[r.name] = recordConsole(board);
    firmware[r.name] = Object.fromEntries([...r.firmware, ...(r.extraFirmware ?? [])].map((n) => [n, image(n)]));
    await board.flash(r.firmware.map(image));
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
  const outcomes = new Map<string, TestOutcome>();
  for (const t of suite.tests) outcomes.set(t.name, await t.run(ctx));
  await lab.endSession();
  expect(progress.length).toBe(suite.tests.length);
  return outcomes;
}

describe("ieee802154 suite on the emulated lab", () => {
  it("passes both tests on a clean medium", async () => {
    const outcomes = await runSuite(1);
    const tx = outcomes.get("radio_tx");
    const rx = outcomes.get("radio_rx");
    expect(tx?.status, tx?.message).toBe("pass");
    expect(tx?.measurements?.transmitted).toBeGreaterThanOrEqual(38);
    expect(tx?.logSpan?.role).toBe("tx");
    expect((tx?.logSpan?.end ?? 0) - (tx?.logSpan?.start ?? 0)).toBeGreaterThan(38 * 26);
    expect(rx?.status, rx?.message).toBe("pass");
    expect(rx?.measurements?.received).toBeGreaterThanOrEqual(230);
    expect(rx?.measurements?.malformedBlocks).toBe(0);
    expect(rx?.logSpan?.role).toBe("rx");
  });

  it("fails radio_rx with the ratio in the message when 90% of frames are lost", async () => {
    const outcomes = await runSuite(1, { loss: 0.9 });
    expect(outcomes.get("radio_tx")?.status).toBe("pass");
    const rx = outcomes.get("radio_rx");
    expect(rx?.status).toBe("fail");
    expect(rx?.message).toMatch(/^radio_rx: received \d+ of 240 expected packets \(\d+\.\d%\), needs 50%$/);
    expect(Number(rx?.measurements?.ratio)).toBeLessThan(0.5);
  });

  it("fails radio_rx when every frame is corrupted", async () => {
    const outcomes = await runSuite(2, { corruption: 1 });
    expect(outcomes.get("radio_rx")?.measurements?.received).toBe(0);
    expect(outcomes.get("radio_rx")?.status).toBe("fail");
  });
});
