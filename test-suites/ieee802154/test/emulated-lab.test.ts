/**
 * Runs the suite end to end against a 4-board emulated lab, as the runner would (roles get boards, job-start
 * images are flashed, extra images are in ctx.firmware). Only tests import the emulator; the suite never does.
 */
import { describe, expect, it } from "vitest";
import type { Faults, Suite } from "@tock-hil/board";
import { decodeFrame, decodePcap, runSuiteOnEmulatedLab } from "@tock-hil/emulator";
import { suite } from "../src/index.ts";

const only = (...names: string[]): Suite => ({ manifest: suite.manifest, tests: suite.tests.filter((t) => names.includes(t.name)) });

async function run(seed: number, faults?: Faults, s: Suite = suite) {
  return runSuiteOnEmulatedLab(s, { seed, faults });
}

describe("ieee802154 suite on the emulated lab", () => {
  it("passes every test on a clean medium", async () => {
    const { outcomes } = await run(1);
    for (const t of suite.tests) expect(outcomes.get(t.name)?.status, `${t.name}: ${outcomes.get(t.name)?.message}`).toBe("pass");
    expect(outcomes.get("radio_tx")?.measurements?.transmitted).toBeGreaterThanOrEqual(38);
    expect(outcomes.get("radio_rx")?.measurements?.received).toBeGreaterThanOrEqual(230);
    expect(outcomes.get("radio_ack")?.measurements).toMatchObject({ dataFrames: 40, acked: 40 });
    expect(outcomes.get("radio_tx_raw")?.measurements?.received).toBeGreaterThanOrEqual(115);
    expect(outcomes.get("radio_channel_mismatch")?.measurements).toMatchObject({ received: 0, anyBlock: 0, receiverListening: true });
  });

  it("fails radio_rx with the ratio in the message when 90% of frames are lost", async () => {
    const { outcomes } = await run(1, { loss: 0.9 }, only("radio_tx", "radio_rx"));
    expect(outcomes.get("radio_tx")?.status).toBe("pass");
    const rx = outcomes.get("radio_rx");
    expect(rx?.status).toBe("fail");
    expect(rx?.message).toMatch(/^radio_rx: received \d+ of 240 expected packets \(\d+\.\d%\), needs 50%$/);
  });

  it("fails radio_tx (EBUSY) when channel 26 is jammed", async () => {
    const { outcomes, transcripts } = await run(1, { jamming: [{ channel: 26 }] }, only("radio_tx"));
    expect(outcomes.get("radio_tx")?.status).toBe("fail");
    expect(transcripts.tx).toContain("Transmit failed with error -2.");
  });

  it("fails radio_ack when the receiver hangs (no ACKs), and radio_tx_raw under bursty loss", async () => {
    const hang = await run(1, { boardHang: [{ target: "radio_rx", afterMs: 0 }] }, only("radio_ack"));
    expect(hang.outcomes.get("radio_ack")?.status).toBe("fail");
    expect(hang.outcomes.get("radio_ack")?.message).toMatch(/^radio_ack: 0 of 40 data frames were acknowledged/);
    const burst = await run(1, { burstLoss: { enterBad: 0.5, exitBad: 0.1 } }, only("radio_tx_raw"));
    expect(burst.outcomes.get("radio_tx_raw")?.status).toBe("fail");
    expect(Number(burst.outcomes.get("radio_tx_raw")?.measurements?.received)).toBeLessThan(60);
  });

  it("fails radio_rx when only the tx -> rx link is lossy, by board name", async () => {
    const { outcomes } = await run(4, { linkLoss: [{ from: "nrf-1", to: "nrf-2", loss: 0.8 }] }, only("radio_rx"));
    expect(outcomes.get("radio_rx")?.status).toBe("fail");
  });

  it("reproduces the same transcripts and capture from the same seed (with loss)", async () => {
    const faults = { loss: 0.3 };
    const a = await run(9, faults, only("radio_rx", "radio_ack"));
    const b = await run(9, faults, only("radio_rx", "radio_ack"));
    const c = await run(10, faults, only("radio_rx", "radio_ack"));
    expect(b.transcripts).toEqual(a.transcripts);
    expect(Buffer.from(b.captures[0]?.bytes ?? []).equals(Buffer.from(a.captures[0]?.bytes ?? []))).toBe(true);
    expect(c.transcripts.rx).not.toBe(a.transcripts.rx);
  });

  it("captures a radio_rx session as a clean pcap: link type 195, every FCS good, data and ACK frames decode", async () => {
    const { captures, outcomes } = await run(3, undefined, only("radio_rx"));
    expect(outcomes.get("radio_rx")?.status).toBe("pass");
    expect(captures.map((c) => [c.name, c.mediaType])).toEqual([["ieee802154-ch26.pcap", "application/vnd.tcpdump.pcap"]]);
    const pcap = decodePcap(captures[0]?.bytes ?? new Uint8Array());
    expect(pcap.linkType).toBe(195);
    const bad = pcap.records.filter((r) => !r.fcsOk);
    expect(bad).toHaveLength(0);
    const types = pcap.records.map((r) => decodeFrame(r.data.subarray(0, r.data.length - 2)).frame.frameType);
    const data = types.filter((t) => t === 1).length;
    const acks = types.filter((t) => t === 2).length;
    expect(data).toBeGreaterThanOrEqual(230);
    expect(acks).toBe(data);
  });
});
