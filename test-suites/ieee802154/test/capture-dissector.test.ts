/**
 * The captures a job stores must open cleanly in the tools people use: each one is handed to Wireshark's dissector
 * (tshark, installed by .ci/run) and must have no malformed frame, no expert warning or error, and a good FCS on
 * every 802.15.4 frame. Our own pcap decoder is checked by the suites' other tests; this one checks the bytes
 * against an independent implementation of the protocols.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEmulatedLab, runSuiteOnEmulatedLab } from "@tock-hil/emulator";
import { suite as ethernet } from "@tock-hil/suite-ethernet";
import { describe, expect, it } from "vitest";
import { suite as ieee802154 } from "../src/index.ts";

function tshark(file: string, ...args: string[]): string[] {
  const out = spawnSync("tshark", ["-r", file, ...args], { encoding: "utf8", timeout: 60_000 });
  if (out.error) throw new Error(`tshark is needed for this test (apt-get install tshark): ${out.error.message}`);
  if (out.status !== 0) throw new Error(`tshark failed: ${out.stderr}`);
  return out.stdout.split("\n").filter((l) => l.trim() !== "");
}

function save(name: string, bytes: Uint8Array): string {
  const file = join(mkdtempSync(join(tmpdir(), "cap-")), name);
  writeFileSync(file, bytes);
  return file;
}

describe("captures decode with Wireshark's dissectors", () => {
  it("802.15.4: every frame of a radio_rx session parses, with a good FCS", async () => {
    const run = await runSuiteOnEmulatedLab(ieee802154, { seed: 5 });
    const capture = run.captures.find((c) => c.name.startsWith("ieee802154-"));
    expect(capture).toBeDefined();
    const file = save(capture!.name, capture!.bytes);
    const frames = tshark(file);
    expect(frames.length).toBeGreaterThan(100);
    expect(tshark(file, "-Y", "_ws.malformed || _ws.expert.severity >= 6291456")).toEqual([]);
    const fcs = tshark(file, "-T", "fields", "-e", "wpan.fcs_ok");
    expect(fcs.length).toBe(frames.length);
    expect(new Set(fcs)).toEqual(new Set(["1"]));
  });

  it("Ethernet: every frame of the segment parses (ARP, ICMP, UDP, TCP, HTTP)", async () => {
    const lab = createEmulatedLab({ boards: [{ name: "nucleo-1", type: "nucleo_f429zi" }] });
    const run = await runSuiteOnEmulatedLab(ethernet, { seed: 5, lab });
    const capture = run.captures.find((c) => c.name === "ethernet-segment.pcap");
    const file = save("ethernet.pcap", capture!.bytes);
    expect(tshark(file).length).toBeGreaterThan(300);
    expect(tshark(file, "-Y", "_ws.malformed || _ws.expert.severity >= 6291456")).toEqual([]);
    expect(tshark(file, "-Y", "http.response.code == 200").length).toBeGreaterThan(0);
    expect(tshark(file, "-Y", "icmp.type == 0").length).toBeGreaterThanOrEqual(19);
  });
});
