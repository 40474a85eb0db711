/**
 * The one conformance suite for the board interface. Every adapter (the emulator today, real boards behind serial
 * ports and flash tools later) runs it, so suites can rely on the same behaviour everywhere. Only behaviour a
 * real Tock board also shows is checked here; emulator-only properties (determinism, faults) have their own tests.
 */
import type { Board, FirmwareImage, Lab } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";
import { afterEach, describe, expect, it } from "vitest";

export type ConformanceFixture = {
  /** A lab with at least one board of `boardType`. */
  createLab: () => Promise<Lab> | Lab;
  boardType: string;
  /** A kernel and an enabled app whose TBF package name is `appName`. */
  images: () => FirmwareImage[];
  appName: string;
  /** The images with the app's TBF header corrupted. */
  corruptImages: () => FirmwareImage[];
  /** A line the kernel prints when it boots. */
  bootLine: string;
  /** Upper bound on boot time, on the lab clock. */
  bootMs: number;
};

function capture(board: Board) {
  const chunks: { text: string; atMs: number }[] = [];
  const off = board.serial.onData((chunk, atMs) => chunks.push({ text: Buffer.from(chunk).toString("utf8"), atMs }));
  return { text: () => chunks.map((c) => c.text).join(""), times: () => chunks.map((c) => c.atMs), count: () => chunks.length, off };
}

export function describeBoardConformance(adapter: string, fx: ConformanceFixture): void {
  describe(`board interface conformance: ${adapter}`, () => {
    let lab: Lab | undefined;
    const open = async () => {
      lab = await fx.createLab();
      await lab.beginSession({ seed: 1 });
      const board = lab.boards.find((b) => b.type === fx.boardType);
      if (!board) throw new Error(`lab has no ${fx.boardType}`);
      return { lab, board };
    };
    afterEach(async () => {
      await lab?.endSession();
      await lab?.close();
      lab = undefined;
    });

    it("boots after flash + reset and prints the boot line, with timestamps on the lab clock", async () => {
      const { lab, board } = await open();
      const cap = capture(board);
      const report = await board.flash(fx.images());
      expect(report.written.map((w) => w.name)).toEqual(fx.images().map((i) => i.name));
      const before = lab.clock.now();
      await board.reset();
      await lab.clock.sleep(fx.bootMs);
      expect(cap.text()).toContain(fx.bootLine);
      const times = cap.times();
      expect(times.every((t, i) => t >= before && (i === 0 || t >= times[i - 1]!))).toBe(true);
      cap.off();
    });

    it("lists the flashed app on the process console", async () => {
      const { lab, board } = await open();
      await board.flash(fx.images());
      await board.reset();
      await lab.clock.sleep(fx.bootMs);
      const cap = capture(board);
      await board.serial.write("list\r\n");
      await lab.clock.sleep(500);
      expect(cap.text()).toContain(fx.appName);
      cap.off();
    });

    it("prints nothing while halted", async () => {
      const { lab, board } = await open();
      await board.flash(fx.images());
      await board.reset();
      await lab.clock.sleep(fx.bootMs);
      await board.halt();
      const cap = capture(board);
      await lab.clock.sleep(2000);
      expect(cap.count()).toBe(0);
      cap.off();
    });

    it("refuses an image with a corrupted TBF header with an invalid_image FlashError naming it", async () => {
      const { board } = await open();
      const err = await board.flash(fx.corruptImages()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FlashError);
      expect((err as FlashError).code).toBe("invalid_image");
      expect((err as FlashError).message).toContain(fx.appName);
    });

    it("has a clock whose sleep advances time and can be aborted", async () => {
      const { lab } = await open();
      const t0 = lab.clock.now();
      await lab.clock.sleep(1500);
      expect(lab.clock.now() - t0).toBeGreaterThanOrEqual(1500);
      const controller = new AbortController();
      const pending = lab.clock.sleep(60_000, controller.signal);
      controller.abort(new Error("stop"));
      await expect(pending).rejects.toThrow("stop");
    });
  });
}
