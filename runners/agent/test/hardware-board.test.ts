/**
 * The hardware adapter against emulated boards behind pseudo-terminals and fake flash-tool executables (see
 * helpers/pty-lab.ts): the one conformance suite, every flash failure class, the skipped reflash and the drain.
 */
import { closeSync, constants, openSync } from "node:fs";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FirmwareImage } from "@tock-hil/board";
import { ABORT_SETTLE_MS, FlashError } from "@tock-hil/board";
import { buildFirmware } from "@tock-hil/emulator";
import { execa } from "execa";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { HardwareLab } from "../src/adapters/hardware-lab.ts";
import { createHardwareLab } from "../src/adapters/hardware-lab.ts";
import type { ToolFlashError } from "../src/adapters/tool-runner.ts";
import { HardwareBoardConfig } from "../src/lab-config.ts";
import { describeBoardConformance } from "./board-conformance.ts";
import { PtyLab } from "./helpers/pty-lab.ts";

const PROBE = "683000001";
const BOOT_LINE = "Initialization complete. Entering main loop";

const image = (name: string, corruptHeader = false): FirmwareImage => {
  const fw = buildFirmware(name, { corruptHeader });
  return { name: fw.name, kind: fw.kind, sha256: fw.sha256, bytes: fw.bytes };
};

let pty: PtyLab;
let workDir: string;
const savedEnv = { ...process.env };

beforeAll(async () => {
  pty = await PtyLab.start([{ name: "nrf-1", probe: PROBE }]);
  workDir = await mkdtemp(join(tmpdir(), "hw-work-"));
  // The adapter runs tools through execa with this process's environment, as the runner does on a lab machine.
  Object.assign(process.env, pty.env());
});
afterAll(async () => {
  process.env = savedEnv;
  await pty?.close();
});

function boardConfig(overrides: Record<string, unknown> = {}, flash: Record<string, unknown> = {}): HardwareBoardConfig {
  return HardwareBoardConfig.parse({
    name: "nrf-1",
    type: "nrf52840dk",
    adapter: "hardware",
    serial: { device: pty.device("nrf-1") },
    probe: { kind: "jlink", serial: PROBE },
    flash: { method: "nrfjprog", timeoutMs: 10_000, ...flash },
    ...overrides,
  });
}

function hardwareLab(config: HardwareBoardConfig): HardwareLab {
  return createHardwareLab({ boards: [config], workDir, logger: pino({ level: "silent" }) });
}

const conformance = {
  boardType: "nrf52840dk",
  images: () => [image("nrf52840dk"), image("radio_tx")],
  appName: "radio_tx",
  corruptImages: () => [image("nrf52840dk"), image("radio_tx", true)],
  bootLine: BOOT_LINE,
  bootMs: 1500,
};

describeBoardConformance("hardware adapter (nrfjprog, pty console)", { ...conformance, createLab: () => hardwareLab(boardConfig()) });

describeBoardConformance("hardware adapter (tockloader + nrfjprog reset, pty console)", {
  ...conformance,
  createLab: () =>
    hardwareLab(
      boardConfig(
        { reset: "nrfjprog -f NRF52 --snr {serial} --reset", halt: ["nrfjprog", "-f", "NRF52", "--snr", "{serial}", "--halt"] },
        { method: "tockloader" },
      ),
    ),
});

describe("hardware adapter", () => {
  let lab: HardwareLab | undefined;
  const open = async (config = boardConfig()) => {
    lab = hardwareLab(config);
    await lab.beginSession({ seed: 1 });
    return { lab, board: lab.boards[0]! };
  };
  afterEach(async () => {
    pty.setMode(PROBE, "ok");
    await lab?.endSession();
    await lab?.close();
    lab = undefined;
  });
  const flashError = async (promise: Promise<unknown>) => {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FlashError);
    return err as ToolFlashError;
  };

  it("classifies a tool that is not installed as tool_missing", async () => {
    const { board } = await open(boardConfig({}, { tool: join(workDir, "no-such-dir", "nrfjprog") }));
    const err = await flashError(board.flash(conformance.images()));
    expect(err.code).toBe("tool_missing");
    expect(err.message).toMatch(/not installed or not executable/);
  });

  it("classifies an absent probe as probe_not_found, from nrfjprog's exit code and from tockloader's output", async () => {
    pty.setMode(PROBE, "absent");
    const { board } = await open();
    const err = await flashError(board.flash(conformance.images()));
    expect(err.code).toBe("probe_not_found");
    expect(err.output).toContain("There is no debugger connected");
    expect(err.message).toContain("exit code 41");
    await lab!.close();

    const tl = await open(
      boardConfig(
        { reset: "nrfjprog -f NRF52 --snr {serial} --reset", halt: "nrfjprog -f NRF52 --snr {serial} --halt" },
        { method: "tockloader" },
      ),
    );
    const err2 = await flashError(tl.board.flash(conformance.images()));
    expect(err2.code).toBe("probe_not_found");
    expect(err2.output).toContain("No J-Link device found");
  });

  it("kills a hanging tool at the configured timeout and at the job's signal, as timeout; cancels as cancelled", async () => {
    const { board } = await open(boardConfig({}, { timeoutMs: 800 }));
    pty.setMode(PROBE, "hang");
    let t0 = performance.now();
    const byTool = await flashError(board.flash(conformance.images()));
    expect(byTool.code).toBe("timeout");
    expect(byTool.message).toMatch(/within 800 ms/);
    expect(performance.now() - t0).toBeLessThan(5_000);

    t0 = performance.now();
    const bySignal = await flashError(board.flash(conformance.images(), AbortSignal.timeout(500)));
    expect(bySignal.code).toBe("timeout");

    const controller = new AbortController();
    setTimeout(() => controller.abort("cancelled"), 300);
    const cancelled = await flashError(board.flash(conformance.images(), controller.signal));
    expect(cancelled.code).toBe("cancelled");
    expect(performance.now() - t0).toBeLessThan(8_000);
  });

  it("classifies a read-back mismatch as verify_failed and keeps the tool output as a session capture", async () => {
    const { lab, board } = await open();
    pty.setMode(PROBE, "verify_fail");
    const err = await flashError(board.flash(conformance.images()));
    expect(err.code).toBe("verify_failed");
    expect(err.message).toContain("Write verify failed");
    const captures = lab.takeCaptures!();
    const log = captures.find((c) => c.name === "flash-nrf-1.log");
    expect(log?.mediaType).toBe("text/plain");
    const text = Buffer.from(log!.bytes).toString("utf8");
    expect(text).toMatch(/\$ nrfjprog -f NRF52 --snr 683000001 --program .*firmware\.hex --chiperase --verify/);
    expect(text).toContain("[exit (exit 55)");
  });

  it("does not reflash a board that holds the same images and booted from them, and records that", async () => {
    const { lab, board } = await open();
    const programs = () => pty.count("nrfjprog", "--program");
    const before = programs();
    await board.flash(conformance.images());
    await board.reset();
    await lab.clock.sleep(conformance.bootMs);
    expect(programs()).toBe(before + 1);

    const again = await board.flash(conformance.images());
    expect(programs()).toBe(before + 1);
    expect(again.log).toMatch(/not reflashed: nrf-1 already holds nrf52840dk .*radio_tx/);
    expect(again.written.map((w) => w.name)).toEqual(["nrf52840dk", "radio_tx"]);

    // Other images are written; and a board that stayed silent after its reset is reflashed even with the same ones.
    await board.flash([image("nrf52840dk"), image("radio_rx")]);
    expect(programs()).toBe(before + 2);
    pty.setMode(PROBE, "absent"); // the reset fails, so the board never prints
    await board.reset();
    await lab.clock.sleep(500);
    pty.setMode(PROBE, "ok");
    await board.flash([image("nrf52840dk"), image("radio_rx")]);
    expect(programs()).toBe(before + 3);
  });

  it("drains leftover serial output before the next job, and refuses a console that never goes quiet", async () => {
    const { lab, board } = await open(boardConfig({ serial: { device: pty.device("nrf-1"), quietMs: 200, drainMaxMs: 1500 } }));
    let injecting = true;
    const stale = (async () => {
      for (let i = 0; injecting; i++) {
        await pty.inject("nrf-1", `LEFTOVER ${i} from the previous job\r\n`);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    setTimeout(() => (injecting = false), 400);
    const session = await lab.beginSession({ seed: 2 });
    expect(session.notes.join("\n")).toMatch(/nrf-1: drained \d+ bytes of leftover serial output/);
    await stale;
    let text = "";
    const off = board.serial.onData((c) => (text += Buffer.from(c).toString("utf8")));
    await board.flash(conformance.images());
    await board.reset();
    await lab.clock.sleep(conformance.bootMs);
    off();
    expect(text).toContain(BOOT_LINE);
    expect(text).not.toContain("LEFTOVER");

    injecting = true;
    const noisy = (async () => {
      while (injecting) {
        await pty.inject("nrf-1", "still printing\r\n");
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    await expect(lab.beginSession({ seed: 3 })).rejects.toThrow(/kept printing for 1500 ms after the board was halted/);
    injecting = false;
    await noisy;
  });

  /** Resolves to how long `op` took to settle after `controller` was aborted `afterMs` into it. */
  const settleAfterAbort = async (op: (signal: AbortSignal) => Promise<unknown>, afterMs = 300) => {
    const controller = new AbortController();
    const pending = op(controller.signal);
    await new Promise((r) => setTimeout(r, afterMs));
    const t0 = performance.now();
    controller.abort(new Error("the job was cancelled"));
    const outcome = await pending.then(
      () => undefined,
      (err: unknown) => err,
    );
    return { ms: performance.now() - t0, outcome };
  };

  it(`stops preparing, resetting and halting within ${ABORT_SETTLE_MS} ms of the signal although the tool ignores SIGTERM`, async () => {
    const { lab, board } = await open();
    pty.setHang(PROBE, { actions: [], ignoreTerm: true });
    try {
      const halt = await settleAfterAbort((signal) => board.halt(signal));
      expect(halt.ms).toBeLessThan(ABORT_SETTLE_MS);
      expect(halt.outcome).toBeInstanceOf(FlashError);
      expect((halt.outcome as FlashError).code).toBe("cancelled");
      expect((halt.outcome as FlashError).message).toMatch(/halt was stopped \(the job was cancelled\); nrfjprog was killed/);

      // A reset that does not happen is not an error of its own: the boot check reports the silent board.
      const reset = await settleAfterAbort((signal) => board.reset(signal));
      expect(reset.ms).toBeLessThan(ABORT_SETTLE_MS);
      expect(reset.outcome).toBeUndefined();

      const session = await settleAfterAbort((signal) => lab.beginSession({ seed: 4, signal }));
      expect(session.ms).toBeLessThan(ABORT_SETTLE_MS);
      expect((session.outcome as Error).message).toMatch(/the job was cancelled/);
    } finally {
      pty.setHang(PROBE, undefined);
    }
  });

  it("ends a copy to a UF2 boot drive that stopped answering at the job's signal and at the flash bound", async () => {
    const mount = await mkdtemp(join(tmpdir(), "uf2-drive-"));
    await writeFile(join(mount, "INFO_UF2.TXT"), "UF2 Bootloader v3.0\nBoard-ID: RPI-RP2\n");
    // Opening a FIFO for writing blocks until someone reads it: a drive whose writes never complete.
    const drive = join(mount, "firmware.uf2");
    await execa("mkfifo", [drive]);
    const pico = boardConfig(
      { type: "raspberry_pi_pico", probe: { kind: "none" }, reset: "true" },
      { method: "uf2-copy", mount, timeoutMs: 800 },
    );
    try {
      const { board } = await open(pico);
      const images = [image("nrf52840dk"), image("radio_tx")];
      const stopped = await settleAfterAbort((signal) => board.flash(images, signal));
      expect(stopped.ms).toBeLessThan(ABORT_SETTLE_MS);
      expect((stopped.outcome as FlashError).code).toBe("cancelled");
      expect((stopped.outcome as FlashError).message).toMatch(/was stopped \(the job was cancelled\)/);

      const t0 = performance.now();
      const timedOut = await flashError(board.flash(images));
      expect(timedOut.code).toBe("timeout");
      expect(timedOut.message).toMatch(/within 800 ms/);
      expect(performance.now() - t0).toBeLessThan(800 + ABORT_SETTLE_MS);
    } finally {
      // Let the writes left behind go (a reader ends their wait), so no thread of the pool stays blocked.
      const reader = openSync(drive, constants.O_RDONLY | constants.O_NONBLOCK);
      await new Promise((r) => setTimeout(r, 200));
      closeSync(reader);
    }
  });
});
