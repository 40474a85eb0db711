import { FlashError } from "@tock-hil/board";
import { describe, expect, it } from "vitest";
import { buildFirmware, buildTab, createEmulatedLab, readTar, writeTar } from "../src/index.ts";

const image = (fw: { name: string; kind: "kernel" | "tbf" | "tab"; sha256: string; bytes: Uint8Array }) => ({
  name: fw.name,
  kind: fw.kind,
  sha256: fw.sha256,
  bytes: fw.bytes,
});

async function flashAndRun(app: ReturnType<typeof buildTab>) {
  const lab = createEmulatedLab({ boards: [{ name: "nrf-1", type: "nrf52840dk" }] });
  await lab.beginSession({ seed: 1 });
  const board = lab.boards[0]!;
  let out = "";
  board.serial.onData((c) => (out += Buffer.from(c).toString()));
  await board.flash([image(buildFirmware("nrf52840dk")), image(app)]);
  await board.reset();
  await lab.clock.sleep(1000);
  return out;
}

describe("TAB archives", () => {
  it("round-trips files through tar and detects a corrupted header", () => {
    const files = new Map([
      ["metadata.toml", new TextEncoder().encode('tab-version = 1\nname = "x"\n')],
      ["cortex-m4.tbf", new Uint8Array(700).fill(7)],
    ]);
    const tar = writeTar(files);
    expect(tar.length % 512).toBe(0);
    expect(readTar(tar)).toEqual(files);
    const bad = tar.slice();
    bad[3] = bad[3]! ^ 0xff;
    expect(() => readTar(bad)).toThrow(/checksum/);
  });

  it("flashes the TBF for the board's architecture, and the app runs", async () => {
    const out = await flashAndRun(buildTab("c_hello", { archs: ["cortex-m0", "cortex-m4", "rv32imac"] }));
    expect(out).toContain("Hello World!");
  });

  it("refuses a TAB restricted to other boards, or without a TBF for this architecture, naming it", async () => {
    const other = await flashAndRun(buildTab("c_hello", { onlyForBoards: ["raspberry_pi_pico_w"] })).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(FlashError);
    expect((other as FlashError).code).toBe("wrong_board");
    expect((other as FlashError).message).toMatch(/c_hello .*only for raspberry_pi_pico_w; nrf-1 is a nrf52840dk/);
    const noArch = await flashAndRun(buildTab("c_hello", { archs: ["rv32imac"] })).catch((e: unknown) => e);
    expect((noArch as FlashError).code).toBe("wrong_board");
    expect((noArch as FlashError).message).toMatch(/no TBF for cortex-m4 .* it has rv32imac\.tbf/);
  });
});
