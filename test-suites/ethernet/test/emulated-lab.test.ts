/**
 * Runs the Ethernet suite end to end on an emulated lab (one Nucleo-F429ZI on the lab segment) as the runner
 * would, with and without faults, and checks the session's Ethernet capture decodes cleanly.
 */
import { describe, expect, it } from "vitest";
import type { Faults } from "@tock-hil/board";
import { createEmulatedLab, decodeEthernetFrame, decodePcap, runSuiteOnEmulatedLab } from "@tock-hil/emulator";
import { suite } from "../src/index.ts";

const lab = () => createEmulatedLab({ boards: [{ name: "nucleo-1", type: "nucleo_f429zi" }] });
const run = (faults?: Faults) => runSuiteOnEmulatedLab(suite, { seed: 7, faults, lab: lab() });

describe("ethernet suite on the emulated lab", () => {
  it("passes every test with no faults, and the segment pcap has no malformed frame", async () => {
    const r = await run();
    for (const t of suite.tests) expect(r.outcomes.get(t.name)?.status, `${t.name}: ${r.outcomes.get(t.name)?.message}`).toBe("pass");
    expect(r.outcomes.get("icmp_echo")?.measurements?.replies).toBe(20);
    const pcap = r.captures.find((c) => c.name === "ethernet-segment.pcap");
    expect(pcap?.mediaType).toBe("application/vnd.tcpdump.pcap");
    const decoded = decodePcap(pcap?.bytes ?? new Uint8Array(0));
    expect(decoded.linkType).toBe(1);
    // 5 runs of ARP + 20 pings + 4 UDP echoes + HTTP + burst: hundreds of frames, every one a valid Ethernet frame.
    expect(decoded.records.length).toBeGreaterThan(300);
    const malformed = decoded.records.filter((rec) => decodeEthernetFrame(rec.data) === undefined);
    expect(malformed).toHaveLength(0);
  });

  it("fails icmp_echo (and more) under 50% frame loss, saying how many replies came back", async () => {
    const r = await run({ ethernetLoss: 0.5 });
    const icmp = r.outcomes.get("icmp_echo");
    expect(icmp?.status).toBe("fail");
    expect(icmp?.message).toMatch(/^icmp_echo: \d+ of 20 echo replies \(\d+\.\d%\), needs 95%/);
    expect(Number(icmp?.measurements?.replies)).toBeLessThan(19);
  });

  it("fails every test with the link down, for the observed reason", async () => {
    const r = await run({ ethernetLinkDown: true });
    for (const t of ["arp", "icmp_echo", "udp_echo", "http_get"]) expect(r.outcomes.get(t)?.status, t).toBe("fail");
    expect(r.outcomes.get("arp")?.message).toBe(
      'arp: 192.168.1.1 was not resolved; board printed "arp: 192.168.1.1 unresolved after 3 requests"',
    );
    expect(r.outcomes.get("http_get")?.message).toContain("the board's httpd served nothing");
    // The driver's limits are local to the board: they still hold without a link, except the burst needs the host.
    expect(r.outcomes.get("tap_limits")?.message).toMatch(/no rx burst|burst: 0 queued/);
  });

  it("drops corrupted frames at the MAC (FCS) so pings fail under full corruption", async () => {
    const r = await run({ ethernetCorruption: 1 });
    expect(r.outcomes.get("arp")?.status).toBe("fail");
    expect(r.outcomes.get("icmp_echo")?.measurements?.replies).toBe(0);
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
