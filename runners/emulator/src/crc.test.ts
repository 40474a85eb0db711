import { describe, expect, it } from "vitest";
import { crc16Kermit, crc32 } from "./crc.ts";

const hex = (s: string): Uint8Array =>
  Uint8Array.from(
    s
      .trim()
      .split(/\s+/)
      .map((b) => Number.parseInt(b, 16)),
  );
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe("crc16Kermit (802.15.4 FCS)", () => {
  it("gives the catalogue check value for '123456789'", () => {
    expect(crc16Kermit(new TextEncoder().encode("123456789"))).toBe(0x2189);
  });

  it("matches the spec ACK example 02 00 6A -> 0x79E4", () => {
    expect(crc16Kermit(hex("02 00 6a"))).toBe(0x79e4);
  });

  it.each([
    ["02 00 00", 0xb5b8],
    ["02 00 01", 0xa431],
  ])("ACK %s -> %i", (frame, fcs) => {
    expect(crc16Kermit(hex(frame))).toBe(fcs);
  });

  it("matches the radio_tx frame vectors (seq 0 and 1)", () => {
    const frame = (seq: number) => Uint8Array.of(0x61, 0x98, seq, 0xcd, 0xab, 0x02, 0x08, 0x40, 0x15, ...range(60));
    expect(frame(0)).toHaveLength(69);
    expect(crc16Kermit(frame(0))).toBe(0xed63);
    expect(crc16Kermit(frame(1))).toBe(0x3bca);
  });

  it("matches the radio_tx_raw frame vector", () => {
    const frame = Uint8Array.of(0x41, 0xd8, 0x00, 0xcd, 0xab, 0xff, 0xff, ...new Array<number>(8).fill(0), ...range(60));
    expect(frame).toHaveLength(75);
    expect(crc16Kermit(frame)).toBe(0x2b35);
  });

  it("has residue 0 over frame || FCS (little-endian)", () => {
    const f = hex("02 00 6a");
    const c = crc16Kermit(f);
    expect(crc16Kermit(Uint8Array.of(...f, c & 0xff, c >> 8))).toBe(0);
  });

  it("honours start/end bounds", () => {
    const buf = new TextEncoder().encode("xx123456789yy");
    expect(crc16Kermit(buf, 2, 11)).toBe(0x2189);
  });
});

describe("crc32", () => {
  it("gives the catalogue check value", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });
});
