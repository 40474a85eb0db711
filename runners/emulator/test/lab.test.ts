import { describe, expect, it } from "vitest";
import { FlashError } from "@tock-hil/board";
import { crc16Kermit } from "../src/crc.ts";
import { encodeKernelImage } from "../src/kernel-image.ts";
import type { EmulatedLab } from "../src/lab.ts";
import { createEmulatedLab } from "../src/lab.ts";
import { Radio } from "../src/radio.ts";
import type { AirFrame } from "../src/radio.ts";
import { sha256Hex } from "../src/firmware.ts";
import { countBlocks, countLines, image, record } from "./helpers.ts";

function twoBoardLab(): EmulatedLab {
  return createEmulatedLab({
    boards: [
      { name: "nrf-1", type: "nrf52840dk" },
      { name: "nrf-2", type: "nrf52840dk" },
    ],
  });
}

/** Flashes tx/rx, starts rx, waits 1 s, starts tx and runs `seconds` of virtual time; returns both transcripts. */
async function runTxRx(lab: EmulatedLab, seconds: number, options: { rxChannel?: number } = {}): Promise<{ tx: string; rx: string }> {
  const tx = lab.board("nrf-1");
  const rx = lab.board("nrf-2");
  const txLog = record(tx);
  const rxLog = record(rx);
  await tx.flash([image("nrf52840dk"), image("radio_tx")]);
  await rx.flash([image("nrf52840dk", options.rxChannel === undefined ? {} : { channel: options.rxChannel }), image("radio_rx")]);
  await rx.reset();
  await lab.clock.sleep(1000);
  await tx.reset();
  await lab.clock.sleep(seconds * 1000);
  await lab.endSession();
  return { tx: txLog.text(), rx: rxLog.text() };
}

describe("radio_tx alone", () => {
  it("prints about 4 'Transmitted successfully.' lines per virtual second, from real framed bytes", async () => {
    const lab = twoBoardLab();
    await lab.beginSession({ seed: 1 });
    const frames: AirFrame[] = [];
    lab.medium.onAir = (f) => frames.push(f);
    const tx = lab.board("nrf-1");
    const log = record(tx);
    await tx.flash([image("nrf52840dk"), image("radio_tx")]);
    await tx.reset();
    await lab.clock.sleep(10_000);
    const text = log.text();
    expect(text.startsWith("Initialization complete. Entering main loop\r\n")).toBe(true);
    const n = countLines(text, "Transmitted successfully.");
    expect(n).toBeGreaterThanOrEqual(38);
    expect(n).toBeLessThanOrEqual(40);
    // Each printed line corresponds to a frame that really went on the air, with the framer's exact bytes.
    expect(frames).toHaveLength(n);
    const [first, second] = frames;
    expect([...(first?.psdu.subarray(0, 9) ?? [])]).toEqual([0x61, 0x98, 0x00, 0xcd, 0xab, 0x02, 0x08, 0x40, 0x15]);
    expect([...(first?.psdu.subarray(69) ?? [])]).toEqual([0x63, 0xed]);
    expect([...(second?.psdu.subarray(69) ?? [])]).toEqual([0xca, 0x3b]);
    expect(first?.channel).toBe(26);
    expect(first && first.endUs - first.startUs).toBe((6 + 71) * 32);
  });

  it("reports EBUSY (-2) when the channel is jammed", async () => {
    const lab = twoBoardLab();
    await lab.beginSession({ seed: 5 });
    const jammer = new Radio("jammer", lab.scheduler, lab.medium);
    jammer.powerOn();
    const burst = (): void => {
      const end = lab.medium.transmit(jammer, new Uint8Array(127));
      lab.scheduler.at(end, burst);
    };
    burst();
    const tx = lab.board("nrf-1");
    const log = record(tx);
    await tx.flash([image("nrf52840dk"), image("radio_tx")]);
    await tx.reset();
    await lab.clock.sleep(3_000);
    expect(countLines(log.text(), "Transmit failed with error -2.")).toBeGreaterThanOrEqual(10);
    expect(countLines(log.text(), "Transmitted successfully.")).toBe(0);
    expect(tx.stats().radio.channelAccessFailures).toBeGreaterThanOrEqual(10);
  });
});

describe("radio_tx + radio_rx on the shared medium", () => {
  it("receives at least 230 exact blocks in 60 s, never more than were delivered", async () => {
    const lab = twoBoardLab();
    await lab.beginSession({ seed: 42 });
    const { tx, rx } = await runTxRx(lab, 60);
    expect(rx).toMatch(/^Initialization complete\. Entering main loop\r\n\[IEEE802\.15\.4\] Receive\nReceiving\.\.\.\n/);
    const blocks = countBlocks(rx);
    expect(blocks).toBeGreaterThanOrEqual(230);
    expect(blocks).toBeLessThanOrEqual(countLines(tx, "Transmitted successfully."));
    const stats = lab.board("nrf-2").stats();
    expect(stats.radio.acksSent).toBeGreaterThanOrEqual(blocks);
  });

  it("loses most packets with loss 0.9", async () => {
    const lab = twoBoardLab();
    await lab.beginSession({ seed: 42, faults: { loss: 0.9 } });
    const { rx } = await runTxRx(lab, 60);
    const blocks = countBlocks(rx);
    expect(blocks).toBeGreaterThan(0);
    expect(blocks).toBeLessThan(120);
  });

  it("prints nothing per frame when every frame is corrupted (the receiver's CRC check drops them)", async () => {
    const lab = twoBoardLab();
    await lab.beginSession({ seed: 42, faults: { corruption: 1 } });
    const { tx, rx } = await runTxRx(lab, 10);
    expect(countLines(tx, "Transmitted successfully.")).toBeGreaterThan(30);
    expect(rx).toBe("Initialization complete. Entering main loop\r\n[IEEE802.15.4] Receive\nReceiving...\n");
    const stats = lab.board("nrf-2").stats();
    expect(stats.radio.crcErrors).toBeGreaterThan(30);
    expect(stats.radio.acksSent).toBe(0);
  });

  it("hears nothing when the receiver's kernel uses another channel", async () => {
    const lab = twoBoardLab();
    await lab.beginSession({ seed: 42 });
    const { tx, rx } = await runTxRx(lab, 10, { rxChannel: 11 });
    expect(countLines(tx, "Transmitted successfully.")).toBeGreaterThan(30);
    expect(countBlocks(rx)).toBe(0);
    expect(lab.board("nrf-2").stats().radio.framesReceived).toBe(0);
  });

  it("is deterministic: same seed => identical transcripts, other seed => different (with loss)", async () => {
    const run = async (seed: number) => {
      const lab = twoBoardLab();
      await lab.beginSession({ seed, faults: { loss: 0.5 } });
      return runTxRx(lab, 20);
    };
    const a = await run(7);
    const b = await run(7);
    const c = await run(8);
    expect(b.rx).toBe(a.rx);
    expect(b.tx).toBe(a.tx);
    expect(c.rx).not.toBe(a.rx);
  });

  it("repeats a session's transcript within one lab after the clock moved on", async () => {
    const lab = twoBoardLab();
    await lab.beginSession({ seed: 3, faults: { loss: 0.5 } });
    const first = await runTxRx(lab, 10);
    await lab.beginSession({ seed: 3, faults: { loss: 0.5 } });
    const second = await runTxRx(lab, 10);
    expect(second.rx).toBe(first.rx);
  });
});

describe("flashing", () => {
  it("rejects a TBF with a corrupted header, naming the image and both checksums", async () => {
    const lab = twoBoardLab();
    const bad = image("radio_rx", { corruptHeader: true });
    const err = await lab
      .board("nrf-1")
      .flash([image("nrf52840dk"), bad])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FlashError);
    expect((err as FlashError).code).toBe("invalid_image");
    expect((err as FlashError).image).toBe("radio_rx");
    expect((err as FlashError).message).toMatch(
      new RegExp(
        `^radio_rx \\(sha256 ${bad.sha256.slice(0, 8)}…\\): TBF header checksum mismatch: header says 0x[0-9A-F]{8}, computed 0x[0-9A-F]{8}$`,
      ),
    );
  });

  it("rejects a truncated TBF", async () => {
    const lab = twoBoardLab();
    const full = image("radio_tx");
    const truncated = { ...full, bytes: full.bytes.subarray(0, 1000), sha256: sha256Hex(full.bytes.subarray(0, 1000)) };
    await expect(lab.board("nrf-1").flash([image("nrf52840dk"), truncated])).rejects.toThrow(
      /^radio_tx \(sha256 [0-9a-f]{8}…\): truncated: TBF total_size is 4096 bytes but the image has 1000$/,
    );
  });

  it("rejects kernels that are corrupt, for another board, missing or duplicated; and a TBF passed off as a TAB", async () => {
    const board = lab2().board("nrf-1");
    const codeOf = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e: unknown) => (e as FlashError).code,
      );
    expect(await codeOf(board.flash([image("nrf52840dk", { corruptHeader: true })]))).toBe("invalid_image");
    const pico = encodeKernelImage(
      { board: "raspberry_pi_pico_w", flavour: "mac", channel: 26, kernelVersion: "2.2.0" },
      new Uint8Array(64),
    );
    const picoImage = { name: "pico", kind: "kernel" as const, sha256: sha256Hex(pico), bytes: pico };
    await expect(board.flash([picoImage])).rejects.toMatchObject({ code: "wrong_board", image: "pico" });
    await expect(board.flash([image("radio_tx")])).rejects.toThrow(/expected exactly one kernel image, got 0/);
    await expect(board.flash([image("nrf52840dk"), image("nrf52840dk")])).rejects.toThrow(/got 2/);
    const tab = { ...image("radio_tx"), kind: "tab" as const };
    await expect(board.flash([image("nrf52840dk"), tab])).rejects.toThrow(/radio_tx .*: not a valid TAB archive/);
    const junk = { name: "junk", kind: "kernel" as const, sha256: "ab".repeat(32), bytes: new Uint8Array(4096) };
    await expect(board.flash([junk])).rejects.toThrow(/^junk \(sha256 abababab…\): not an emulated kernel image/);
  });

  it("reports where images were written", async () => {
    const report = await lab2()
      .board("nrf-1")
      .flash([image("nrf52840dk"), image("radio_tx"), image("radio_rx")]);
    expect(report.written.map((w) => [w.name, w.address, w.size])).toEqual([
      ["nrf52840dk", 0, image("nrf52840dk").bytes.length],
      ["radio_tx", 0x40000, 4096],
      ["radio_rx", 0x41000, 4096],
    ]);
  });

  it("leaves a never-flashed or failed-flash board silent after reset", async () => {
    const lab = lab2();
    const board = lab.board("nrf-1");
    const log = record(board);
    await board.flash([image("nrf52840dk"), image("radio_tx", { corruptHeader: true })]).catch(() => undefined);
    await board.reset();
    await lab.clock.sleep(1000);
    expect(log.text()).toBe("");
  });
});

describe("kernel and process console", () => {
  it("loads a disabled app without starting it, and an unknown app silently", async () => {
    const lab = lab2();
    const board = lab.board("nrf-1");
    const log = record(board);
    await board.flash([image("nrf52840dk"), image("radio_tx", { enabled: false }), image("lua-hello")]);
    await board.reset();
    await lab.clock.sleep(2000);
    expect(log.text()).toBe("Initialization complete. Entering main loop\r\n");
    expect(lab.medium).toBeDefined();
    expect(board.stats().radio.framesSent).toBe(0);
    await board.serial.write("list\r\n");
    await lab.clock.sleep(100);
    const lines = log.text().split("\r\n");
    expect(lines).toContain("tock$ list");
    expect(lines).toContain(" PID    ShortID    Name                Quanta  Syscalls  Restarts  Grants  State");
    // A disabled app gets no process at all (Tock skips it at load time); an unmodelled one idles.
    expect(lines.some((l) => l.includes("radio_tx"))).toBe(false);
    expect(lines.find((l) => l.includes("lua-hello"))).toMatch(/^ 0 .*lua-hello .*Yielded$/);
  });

  it("panics on 'panic' and then stays silent with the radio off", async () => {
    const lab = lab2();
    const board = lab.board("nrf-1");
    const log = record(board);
    await board.flash([image("nrf52840dk"), image("radio_tx")]);
    await board.reset();
    await lab.clock.sleep(1000);
    await board.serial.write("panic\r\n");
    await lab.clock.sleep(50);
    const text = log.text();
    expect(text).toContain(
      "\r\npanicked at kernel/src/process_console.rs:1122:17:\r\nProcess Console forced a kernel panic.\r\n\tKernel version 2.2.0\r\n",
    );
    const sent = board.stats().radio.framesSent;
    await lab.clock.sleep(2000);
    expect(log.text()).toBe(text);
    expect(board.stats().radio.framesSent).toBe(sent);
    expect(board.radio.isOn).toBe(false);
  });

  it("halt silences a board immediately and reset restarts it from flash", async () => {
    const lab = lab2();
    const board = lab.board("nrf-1");
    const log = record(board);
    await board.flash([image("nrf52840dk"), image("radio_tx")]);
    await board.reset();
    await lab.clock.sleep(1000);
    await board.halt();
    const text = log.text();
    await lab.clock.sleep(1000);
    expect(log.text()).toBe(text);
    await board.reset();
    await lab.clock.sleep(1000);
    expect(countLines(log.text().slice(text.length), "Initialization complete. Entering main loop")).toBe(1);
    expect(countLines(log.text().slice(text.length), "Transmitted successfully.")).toBeGreaterThanOrEqual(3);
  });

  it("stamps serial chunks with virtual time paced by the 115200-baud UART", async () => {
    const lab = lab2();
    const board = lab.board("nrf-1");
    const stamps: [number, number][] = [];
    board.serial.onData((c, at) => stamps.push([c.length, at]));
    await board.flash([image("nrf52840dk"), image("radio_tx")]);
    const t0 = lab.clock.now();
    await board.reset();
    await lab.clock.sleep(600);
    const [boot, line1, line2] = stamps;
    expect(boot?.[0]).toBe(45);
    // 45 bytes at 11.52 bytes/ms is ~3.9 ms after the 12 ms boot delay.
    expect((boot?.[1] ?? 0) - t0).toBeCloseTo(12 + 45 / 11.52, 1);
    expect(line1?.[0]).toBe("Transmitted successfully.\n".length);
    expect((line2?.[1] ?? 0) - (line1?.[1] ?? 0)).toBeGreaterThan(250);
    expect((line2?.[1] ?? 0) - (line1?.[1] ?? 0)).toBeLessThan(260);
  });
});

describe("session options", () => {
  it("rejects fault probabilities outside 0..1", async () => {
    await expect(lab2().beginSession({ seed: 1, faults: { loss: 1.5 } })).rejects.toThrow(/probability/);
  });

  it("computes the FCS vector the research gives for the sent frame (sanity of helper)", () => {
    expect(crc16Kermit(new TextEncoder().encode("123456789"))).toBe(0x2189);
  });
});

function lab2(): EmulatedLab {
  return twoBoardLab();
}
