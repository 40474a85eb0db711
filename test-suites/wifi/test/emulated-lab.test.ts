/** Runs the WiFi suite end to end on an emulated lab (one Pico W, the lab's access points and segment). */
import { describe, expect, it } from "vitest";
import type { Faults } from "@tock-hil/board";
import { createEmulatedLab, runSuiteOnEmulatedLab } from "@tock-hil/emulator";
import { suite } from "../src/index.ts";

const run = (faults?: Faults) =>
  runSuiteOnEmulatedLab(suite, { seed: 3, faults, lab: createEmulatedLab({ boards: [{ name: "picow-1", type: "raspberry_pi_pico_w" }] }) });

describe("wifi suite on the emulated lab", () => {
  it("passes every test with no faults (negative tests pass because failure is reported)", async () => {
    const r = await run();
    for (const t of suite.tests) expect(r.outcomes.get(t.name)?.status, `${t.name}: ${r.outcomes.get(t.name)?.message}`).toBe("pass");
    expect(r.outcomes.get("wrong_passphrase")?.measurements).toMatchObject({ joined: false, failureReported: true, lease: false });
    expect(Number(r.outcomes.get("wrong_passphrase")?.measurements?.ms)).toBeLessThanOrEqual(10_000);
    expect(r.outcomes.get("missing_firmware")?.measurements).toMatchObject({ initError: true, macPrinted: false });
    expect(r.transcripts.dut).toContain('wifi: scan result "TockHIL"');
  });

  it("fails join, DHCP and HTTP when the AP's passphrase changed (fault wifiWrongPassphrase)", async () => {
    const r = await run({ wifiWrongPassphrase: true });
    expect(r.outcomes.get("init_mac")?.status).toBe("pass");
    expect(r.outcomes.get("scan")?.status).toBe("pass");
    const join = r.outcomes.get("join_wpa2");
    expect(join?.status).toBe("fail");
    expect(join?.message).toMatch(/^join_wpa2: not joined; board printed "wifi: join "TockHIL" failed: FAIL after \d+ ms"$/);
    expect(r.outcomes.get("dhcp_lease")?.status).toBe("fail");
    expect(r.outcomes.get("http_get")?.status).toBe("fail");
  });

  it("fails init when the chip firmware in flash is erased (fault wifiFirmwareMissing)", async () => {
    const r = await run({ wifiFirmwareMissing: true });
    const init = r.outcomes.get("init_mac");
    expect(init?.status).toBe("fail");
    expect(init?.message).toContain("wifi: init failed: FAIL");
    expect(r.outcomes.get("scan")?.status).toBe("fail");
  });

  it("fails the DHCP lease when the server is silent", async () => {
    const r = await run({ dhcpSilent: true });
    expect(r.outcomes.get("join_wpa2")?.status).toBe("pass");
    expect(r.outcomes.get("dhcp_lease")?.message).toContain('board printed "dhcp: no lease after 10000 ms"');
  });

  it("fails the scan when the access points are down", async () => {
    const r = await run({ wifiApDown: true });
    expect(r.outcomes.get("scan")?.message).toBe('scan: expected "TockHIL" and a successful scan done; found [], done true');
  });
});

describe("firmware the manifest names", () => {
  it("is built by default by build-firmware, for the role's board type", async () => {
    const { DEFAULT_FIRMWARE, buildFirmware, parseKernelImage } = await import("@tock-hil/emulator");
    for (const role of suite.manifest.roles) {
      for (const name of [...role.firmware, ...(role.extraFirmware ?? [])]) {
        expect(DEFAULT_FIRMWARE as readonly string[], name).toContain(name);
        const fw = buildFirmware(name);
        expect(fw.boardType, name).toBe(role.boardType);
        if (fw.kind === "kernel") expect(parseKernelImage(fw.bytes).board).toBe(role.boardType);
      }
    }
  });
});
