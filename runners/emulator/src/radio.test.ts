import { describe, expect, it } from "vitest";
import { appendFcs, encodeFrame } from "./frame.ts";
import type { MacFrame } from "./frame.ts";
import { createRng } from "./prng.ts";
import type { AirFrame, TxStatus } from "./radio.ts";
import { CCA_US, Medium, Radio, TURNAROUND_US } from "./radio.ts";
import { Scheduler } from "./scheduler.ts";

const frame = (ackRequest: boolean): Uint8Array =>
  encodeFrame({
    frameType: 1,
    securityEnabled: false,
    framePending: false,
    ackRequest,
    panIdCompression: true,
    frameVersion: 1,
    seq: 9,
    dstPan: 0xabcd,
    dst: { mode: "short", value: 0x0802 },
    srcPan: 0xabcd,
    src: { mode: "short", value: 0x1540 },
    payload: Uint8Array.of(1, 2, 3),
  } satisfies MacFrame);

function setup(): { s: Scheduler; m: Medium; a: Radio; b: Radio; c: Radio; heard: Uint8Array[]; air: AirFrame[] } {
  const s = new Scheduler();
  const m = new Medium(s);
  const a = new Radio("a", s, m);
  const b = new Radio("b", s, m);
  const c = new Radio("c", s, m);
  const heard: Uint8Array[] = [];
  c.onReceive = (psdu, ok) => {
    if (ok) heard.push(psdu);
  };
  const air: AirFrame[] = [];
  m.onAir = (f) => air.push(f);
  for (const r of [a, b, c]) {
    r.setRng(createRng(1, r.name.charCodeAt(0)));
    r.powerOn();
  }
  return { s, m, a, b, c, heard, air };
}

describe("medium and nRF radio model", () => {
  it("delivers the exact PSDU (with FCS) after CCA + airtime, then ACKs 192 us later when AR=1", async () => {
    const { s, a, heard, air } = setup();
    const statuses: TxStatus[] = [];
    a.transmit(frame(true), (st) => statuses.push(st));
    await s.clock.sleep(10);
    expect(statuses).toEqual(["ok"]);
    expect(heard).toEqual([appendFcs(frame(true))]);
    const [data, ...acks] = air;
    expect(data?.startUs).toBe(CCA_US);
    // Both listeners (b and c) acknowledge: the nRF driver ACKs whatever it hears with AR=1.
    expect(acks).toHaveLength(2);
    for (const ack of acks) {
      expect(ack.startUs).toBe((data?.endUs ?? 0) + TURNAROUND_US);
      expect([...ack.psdu.subarray(0, 3)]).toEqual([0x02, 0x00, 9]);
    }
  });

  it("does not ACK frames without AR", async () => {
    const { s, a, air } = setup();
    a.transmit(frame(false), () => undefined);
    await s.clock.sleep(10);
    expect(air).toHaveLength(1);
  });

  it("loses both frames when two transmissions overlap", async () => {
    const { s, m, a, b, heard } = setup();
    m.transmit(a, appendFcs(frame(false)));
    s.after(100, () => m.transmit(b, appendFcs(frame(false))));
    await s.clock.sleep(10);
    expect(heard).toHaveLength(0);
  });

  it("does not deliver to a radio that is off or on another channel", async () => {
    const { s, a, c, heard } = setup();
    c.channel = 11;
    a.transmit(frame(false), () => undefined);
    await s.clock.sleep(10);
    c.channel = 26;
    c.powerOff();
    a.transmit(frame(false), () => undefined);
    await s.clock.sleep(10);
    expect(heard).toHaveLength(0);
  });

  it("gives up with 'busy' after four busy CCAs with growing backoffs", async () => {
    const { s, m, a, b } = setup();
    // b keeps the channel busy back to back.
    const jam = (): void => void s.at(m.transmit(b, new Uint8Array(127)), jam);
    jam();
    let doneAt = -1;
    let status: TxStatus | undefined;
    a.transmit(frame(false), (st) => {
      status = st;
      doneAt = s.nowUs;
    });
    await s.clock.sleep(50);
    expect(status).toBe("busy");
    expect(a.stats.ccaBusy).toBe(4);
    // 4 CCAs plus three backoffs of at most 7, 15 and 31 unit periods.
    expect(doneAt).toBeGreaterThanOrEqual(4 * CCA_US);
    expect(doneAt).toBeLessThanOrEqual(4 * CCA_US + (7 + 15 + 31) * 320);
  });
});
