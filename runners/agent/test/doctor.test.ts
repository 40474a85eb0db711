/** `hil-runner doctor` run as lab maintainers run it, on a machine with no boards attached. */
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";

const CLI = resolve(import.meta.dirname, "../bin/hil-runner.js");

async function doctor(args: string[], path: string) {
  // An empty PATH stands for a machine where no flash tool is installed.
  return execa(process.execPath, [CLI, "doctor", ...args], { reject: false, timeout: 60_000, env: { PATH: path }, extendEnv: false });
}

describe("hil-runner doctor", () => {
  it("on a machine with no boards, no tools and no config, says where it looked and what is missing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "doctor-"));
    const r = await doctor(["--config", join(dir, "lab.yaml")], join(dir, "empty-bin"));
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/Serial devices \(looked in \/dev\/serial\/by-id and asked the OS/);
    expect(r.stdout).toMatch(/none found: no \/dev\/serial\/by-id entries and no USB serial ports/);
    expect(r.stdout).toMatch(/Debug probes and boards on USB \(looked in \/sys\/bus\/usb\/devices for SEGGER J-Link 1366/);
    expect(r.stdout).toMatch(/Flash tools \(looked on PATH\):\n {11}nrfjprog: not found\n {11}tockloader: not found/);
    expect(r.stdout).toMatch(/MISSING {2}no lab config at .*lab\.yaml: write one listing each board \(see docs\/runner\.md\)/);
    expect(r.stdout).toMatch(/1 problem\(s\) found\./);
  });

  it("checks every board of a config: console device, probe, flash and control tools", async () => {
    const dir = await mkdtemp(join(tmpdir(), "doctor-"));
    await mkdir(join(dir, "bin"));
    await writeFile(
      join(dir, "lab.yaml"),
      [
        "name: rack-1",
        "boards:",
        "  - name: nrf-1",
        "    type: nrf52840dk",
        "    adapter: hardware",
        "    group: rf-box-1",
        "    serial: { device: /dev/serial/by-id/usb-SEGGER_J-Link_000683000001-if00 }",
        "    probe: { kind: jlink, serial: '000683000001' }",
        "    flash: { method: nrfjprog }",
        "    power: { on: 'uhubctl -l 1-1 -p 2 -a on', off: 'uhubctl -l 1-1 -p 2 -a off' }",
        "  - { name: emu-1, type: nrf52840dk, adapter: emulated }",
        "",
      ].join("\n"),
    );
    const r = await doctor(["--config", join(dir, "lab.yaml")], join(dir, "bin"));
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain("Board nrf-1 (nrf52840dk, hardware, group rf-box-1):");
    expect(r.stdout).toMatch(/MISSING {2}serial device \/dev\/serial\/by-id\/usb-SEGGER_J-Link_000683000001-if00 does not exist/);
    expect(r.stdout).toMatch(/MISSING {2}probe jlink 000683000001: no debug probe is connected at all/);
    expect(r.stdout).toMatch(/MISSING {2}flash method nrfjprog needs nrfjprog, which is not installed/);
    expect(r.stdout).toMatch(/MISSING {2}power on runs uhubctl, which is not installed/);
    expect(r.stdout).toMatch(/Board emu-1 \(nrf52840dk, emulated\):\n {2}ok {7}emulated: needs no hardware/);
  });
});
