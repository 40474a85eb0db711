import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { main } from "../src/cli.ts";
import { DEFAULT_FIRMWARE, sha256Hex } from "../src/firmware.ts";
import { parseKernelImage } from "../src/kernel-image.ts";
import { parseTbf } from "../src/tbf.ts";

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function run(args: string[]): Promise<{ code: number; out: string; err: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "hil-emulator-"));
  dirs.push(dir);
  let out = "";
  let err = "";
  const code = await main(
    args.map((a) => (a === "$DIR" ? dir : a)),
    { out: (s) => (out += s), err: (s) => (err += s) },
  );
  return { code, out, err, dir };
}

describe("hil-emulator build-firmware", () => {
  it("writes the default images and a manifest whose hashes match the files", async () => {
    const { code, dir } = await run(["build-firmware", "--out", "$DIR"]);
    expect(code).toBe(0);
    const manifest = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as {
      name: string;
      kind: string;
      file: string;
      sha256: string;
      size: number;
      boardType: string;
    }[];
    expect(manifest.map((m) => m.name)).toEqual([...DEFAULT_FIRMWARE]);
    const row = (name: string) => manifest.find((m) => m.name === name);
    expect(row("nrf52840dk")).toMatchObject({ kind: "kernel", file: "nrf52840dk.bin", boardType: "nrf52840dk" });
    expect(row("radio_tx")).toMatchObject({ kind: "tbf", file: "radio_tx.tbf", boardType: "nrf52840dk" });
    expect(row("ot-central-controller")).toMatchObject({ kind: "kernel", file: "ot-central-controller.bin" });
    expect(row("flash_bad_header")).toMatchObject({ kind: "tbf", file: "flash_bad_header.tbf" });
    // Every deliberately broken image is really broken in its documented way.
    const read = async (file: string) => new Uint8Array(await readFile(join(dir, file)));
    await expect(read("flash_bad_header.tbf").then(parseTbf)).rejects.toThrow(/checksum mismatch/);
    await expect(read("flash_truncated.tbf").then(parseTbf)).rejects.toThrow(/^truncated/);
    expect(parseKernelImage(await read("flash_other_board.bin")).board).toBe("raspberry_pi_pico_w");
    expect(parseTbf(await read("flash_disabled.tbf"))).toMatchObject({ enabled: false, packageName: "c_hello" });
    expect(parseKernelImage(await read("nrf52840dk-ch11.bin"))).toMatchObject({ flavour: "mac", channel: 11 });
    expect(parseKernelImage(await read("ot-central-controller.bin"))).toMatchObject({ flavour: "ot-cli-ftd" });
    for (const m of manifest) {
      const bytes = new Uint8Array(await readFile(join(dir, m.file)));
      expect(sha256Hex(bytes)).toBe(m.sha256);
      expect(bytes.length).toBe(m.size);
    }
    expect(parseKernelImage(new Uint8Array(await readFile(join(dir, "nrf52840dk.bin"))))).toMatchObject({ flavour: "mac", channel: 26 });
    const tbf = parseTbf(new Uint8Array(await readFile(join(dir, "radio_rx.tbf"))));
    expect(tbf.packageName).toBe("radio_rx");
    expect(tbf.totalSize & (tbf.totalSize - 1)).toBe(0);
  });

  it("builds byte-identical images on every run", async () => {
    const a = await run(["build-firmware", "--out", "$DIR", "radio_tx"]);
    const b = await run(["build-firmware", "--out", "$DIR", "radio_tx"]);
    expect(a.out).toBe(b.out);
  });

  it("--corrupt-header produces a TBF the parser rejects", async () => {
    const { code, dir } = await run(["build-firmware", "--out", "$DIR", "--corrupt-header", "radio_rx"]);
    expect(code).toBe(0);
    const bytes = new Uint8Array(await readFile(join(dir, "radio_rx.tbf")));
    expect(() => parseTbf(bytes)).toThrow(/checksum mismatch/);
  });

  it("fails with usage on bad arguments", async () => {
    expect((await run(["build-firmware"])).code).toBe(2);
    expect((await run(["frobnicate"])).err).toMatch(/unknown command frobnicate/);
  });
});
