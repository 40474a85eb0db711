import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadLabConfig } from "../src/lab-config.ts";

async function load(yaml: string) {
  const dir = await mkdtemp(join(tmpdir(), "lab-"));
  await writeFile(join(dir, "lab.yaml"), yaml);
  return loadLabConfig(join(dir, "lab.yaml"));
}

describe("lab config", () => {
  it("loads boards and resolves paths next to the file", async () => {
    const cfg = await load("name: rack-1\nboards:\n  - { name: nrf-1, type: nrf52840dk, adapter: emulated, tags: [a] }\n");
    expect(cfg.boards).toEqual([{ name: "nrf-1", type: "nrf52840dk", adapter: "emulated", tags: ["a"] }]);
    expect(cfg.credentialsPath).toBe(join(cfg.path, "..", "runner-credentials.json"));
  });

  it("names the entry that is wrong and how to fix it", async () => {
    await expect(load("name: rack-1\nboards:\n  - { name: nrf-1, type: nrf52840dk, adapter: jlink }\n")).rejects.toThrow(
      /boards\.0\.adapter: adapter must be 'emulated' or 'hardware'/,
    );
    await expect(
      load("name: rack-1\nboards:\n  - { name: a, type: t, adapter: emulated }\n  - { name: a, type: t, adapter: emulated }\n"),
    ).rejects.toThrow(/boards\.1\.name: board name a is used twice/);
    await expect(load("name: rack-1\nboards: []\n")).rejects.toThrow(/list at least one board/);
    await expect(load("name: [unclosed\n")).rejects.toThrow(/not valid YAML/);
    await expect(load("name: rack-1\nboard: []\n")).rejects.toThrow(/board/);
  });

  const hw = (extra: string) =>
    `name: rack-1\nboards:\n  - name: nrf-1\n    type: nrf52840dk\n    adapter: hardware\n    serial: { device: /dev/serial/by-id/usb-J-Link-if00 }\n${extra}`;

  it("loads a hardware board with defaults and hex addresses", async () => {
    const cfg = await load(
      hw("    probe: { kind: jlink, serial: '683000001' }\n    flash: { method: nrfjprog, appsAddress: '0x40000', kernelAddress: 0 }\n"),
    );
    const b = cfg.boards[0]!;
    expect(b.adapter).toBe("hardware");
    if (b.adapter !== "hardware") return;
    expect(b.serial).toMatchObject({ baud: 115200, quietMs: 200 });
    expect(b.flash).toMatchObject({ method: "nrfjprog", appsAddress: 0x40000, kernelAddress: 0, timeoutMs: 120_000, skipIdentical: true });
    expect(cfg.workPath).toBe(join(cfg.path, "..", "work"));
  });

  it("explains what a hardware board is missing", async () => {
    await expect(load(hw("    flash: { method: nrfjprog }\n"))).rejects.toThrow(
      /boards\.0\.probe\.serial: flash method nrfjprog needs the probe's serial number/,
    );
    await expect(load(hw("    probe: { kind: jlink, serial: '1' }\n    flash: { method: jflash }\n"))).rejects.toThrow(
      /boards\.0\.flash\.method: flash\.method must be one of tockloader, openocd, nrfjprog, probe-rs, picotool, uf2-copy, command/,
    );
    await expect(load(hw("    flash: { method: command, command: 'flashit {addr}' }\n    reset: 'x'\n"))).rejects.toThrow(
      /unknown placeholder \{addr\}/,
    );
    await expect(load(hw("    flash: { method: command, command: 'flashit {image}' }\n"))).rejects.toThrow(
      /boards\.0\.reset: flash method command cannot reset a board: set reset: \(a command\) or power: \{ on, off \}/,
    );
    await expect(load(hw("    flash: { method: uf2-copy }\n    reset: 'x {image}'\n"))).rejects.toThrow(
      /flash\.mount[\s\S]*\{image\} is only available in flash\.command/,
    );
    await expect(
      load(
        hw("    probe: { kind: jlink, serial: '1' }\n    flash: { method: nrfjprog }\n") +
          "  - { name: nrf-2, type: nrf52840dk, adapter: hardware, serial: { device: /dev/serial/by-id/usb-J-Link-if00 }, probe: { kind: jlink, serial: '1' }, flash: { method: nrfjprog } }\n",
      ),
    ).rejects.toThrow(
      /serial\.device: \/dev\/serial\/by-id\/usb-J-Link-if00 is already the console of nrf-1[\s\S]*probe 1 is already the probe of nrf-1/,
    );
    await expect(
      load(hw("    flash: { method: command, command: 'x {image}', kernelAddress: 0 }\n    reset: r\n").replace("nrf52840dk", "mystery")),
    ).rejects.toThrow(/board type mystery has no known flash layout/);
  });
});
