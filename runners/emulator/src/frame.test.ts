import { describe, expect, it } from "vitest";
import type { MacFrame } from "./frame.ts";
import {
  FrameDecodeError,
  ackPsdu,
  airtimeUs,
  appendFcs,
  decodeFrame,
  encodeFrame,
  fcsValid,
  frameControl,
  headerLength,
} from "./frame.ts";

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const payload = Uint8Array.from(range(60));

/** What Tock's framer builds for radio_tx. */
function radioTxFrame(seq: number): MacFrame {
  return {
    frameType: 1,
    securityEnabled: false,
    framePending: false,
    ackRequest: true,
    panIdCompression: true,
    frameVersion: 1,
    seq,
    dstPan: 0xabcd,
    dst: { mode: "short", value: 0x0802 },
    srcPan: 0xabcd,
    src: { mode: "short", value: 0x1540 },
    payload,
  };
}

describe("802.15.4 frame codec", () => {
  it("encodes the radio_tx frame exactly as the research vector (FCF 0x9861, 9-octet MHR)", () => {
    const f = radioTxFrame(0);
    expect(frameControl(f)).toBe(0x9861);
    expect(headerLength(f)).toBe(9);
    const bytes = encodeFrame(f);
    expect([...bytes.subarray(0, 9)]).toEqual([0x61, 0x98, 0x00, 0xcd, 0xab, 0x02, 0x08, 0x40, 0x15]);
    expect([...bytes.subarray(9)]).toEqual(range(60));
    const psdu0 = appendFcs(bytes);
    expect([...psdu0.subarray(69)]).toEqual([0x63, 0xed]);
    const psdu1 = appendFcs(encodeFrame(radioTxFrame(1)));
    expect([...psdu1.subarray(69)]).toEqual([0xca, 0x3b]);
  });

  it("encodes the radio_tx_raw frame (extended source, AR=0) with FCS 0x2B35", () => {
    const f: MacFrame = {
      ...radioTxFrame(0),
      ackRequest: false,
      dst: { mode: "short", value: 0xffff },
      src: { mode: "extended", value: new Uint8Array(8) },
    };
    const psdu = appendFcs(encodeFrame(f));
    expect(psdu).toHaveLength(77);
    expect([...psdu.subarray(0, 7)]).toEqual([0x41, 0xd8, 0x00, 0xcd, 0xab, 0xff, 0xff]);
    expect([...psdu.subarray(75)]).toEqual([0x35, 0x2b]);
  });

  it("round-trips frames with every addressing combination", () => {
    const ext = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8);
    const cases: Partial<MacFrame>[] = [
      {},
      { panIdCompression: false, srcPan: 0x1234 },
      { dst: { mode: "extended", value: ext } },
      { src: { mode: "extended", value: ext }, panIdCompression: false, srcPan: 0x0001 },
      { dst: { mode: "none" }, dstPan: undefined, panIdCompression: false, srcPan: 0x2222 },
      { src: { mode: "none" }, srcPan: undefined },
    ];
    for (const c of cases) {
      const f = { ...radioTxFrame(7), ...c };
      const bytes = encodeFrame(f);
      const { frame, headerLength: hl } = decodeFrame(bytes);
      expect(hl).toBe(headerLength(f));
      expect(frame).toEqual({ ...f, payload: f.payload });
    }
  });

  it("fills in the compressed source PAN from the destination PAN", () => {
    const { frame } = decodeFrame(encodeFrame(radioTxFrame(3)));
    expect(frame.srcPan).toBe(0xabcd);
    expect(frame.seq).toBe(3);
  });

  it("rejects truncated and secured frames", () => {
    const bytes = encodeFrame(radioTxFrame(0));
    expect(() => decodeFrame(bytes.subarray(0, 6))).toThrow(FrameDecodeError);
    const secured = bytes.slice();
    secured[0] = (secured[0] ?? 0) | 0x08;
    expect(() => decodeFrame(secured)).toThrow(/secured/);
  });

  it("refuses to encode a PSDU longer than 127 octets", () => {
    expect(() => encodeFrame({ ...radioTxFrame(0), payload: new Uint8Array(117) })).toThrow(RangeError);
    expect(() => encodeFrame({ ...radioTxFrame(0), payload: new Uint8Array(116) })).not.toThrow();
  });

  it("detects every single-bit error with the recomputed FCS", () => {
    const psdu = appendFcs(encodeFrame(radioTxFrame(0)));
    expect(fcsValid(psdu)).toBe(true);
    for (let bit = 0; bit < psdu.length * 8; bit++) {
      const bad = psdu.slice();
      bad[bit >> 3] = (bad[bit >> 3] ?? 0) ^ (1 << (bit & 7));
      expect(fcsValid(bad)).toBe(false);
    }
  });

  it("builds ACKs with the copied sequence number", () => {
    expect([...ackPsdu(0)]).toEqual([0x02, 0x00, 0x00, 0xb8, 0xb5]);
    expect([...ackPsdu(1)]).toEqual([0x02, 0x00, 0x01, 0x31, 0xa4]);
    expect(decodeFrame(ackPsdu(0x6a).subarray(0, 3)).frame.frameType).toBe(2);
  });

  it("computes airtime as (6 + PSDU) x 32 us", () => {
    expect(airtimeUs(127)).toBe(4256);
    expect(airtimeUs(71)).toBe(2464);
  });
});
