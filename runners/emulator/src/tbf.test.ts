import { describe, expect, it } from "vitest";
import { TBF_FLAG_ENABLED, TbfError, encodeTbfHeader, parseTbf, tbfChecksum } from "./tbf.ts";

const hex = (s: string): Uint8Array =>
  Uint8Array.from(
    s
      .trim()
      .split(/\s+/)
      .map((b) => Number.parseInt(b, 16)),
  );

/** The worked vector of the research notes (section 6.3). */
const C_HELLO_HEADER = hex(`
  02 00 34 00 00 08 00 00 01 00 00 00 45 2b 3e 65
  01 00 0c 00 41 00 00 00 00 00 00 00 00 10 00 00
  03 00 07 00 63 5f 68 65 6c 6c 6f 00 08 00 04 00
  02 00 02 00`);

function cHelloImage(): Uint8Array {
  const img = new Uint8Array(2048).fill(0xff);
  img.set(C_HELLO_HEADER);
  return img;
}

describe("TBF v2 codec", () => {
  it("encodes the c_hello worked vector byte for byte", () => {
    const header = encodeTbfHeader({
      totalSize: 2048,
      flags: TBF_FLAG_ENABLED,
      tlvs: [
        { type: "main", initFnOffset: 0x41, protectedTrailerSize: 0, minimumRamSize: 4096 },
        { type: "packageName", name: "c_hello" },
        { type: "kernelVersion", major: 2, minor: 2 },
      ],
    });
    expect([...header]).toEqual([...C_HELLO_HEADER]);
    expect(tbfChecksum(header, header.length)).toBe(0x653e2b45);
  });

  it("parses the worked vector", () => {
    const h = parseTbf(cHelloImage());
    expect(h).toMatchObject({
      version: 2,
      headerSize: 0x34,
      totalSize: 0x800,
      enabled: true,
      sticky: false,
      checksum: 0x653e2b45,
      packageName: "c_hello",
      kernelVersion: { major: 2, minor: 2 },
    });
    expect(h.tlvs[0]).toEqual({ type: "main", initFnOffset: 0x41, protectedTrailerSize: 0, minimumRamSize: 4096 });
  });

  it("rejects any flipped header byte with a checksum mismatch naming both values", () => {
    for (const at of [8, 17, 36, 50]) {
      const img = cHelloImage();
      img[at] = (img[at] ?? 0) ^ 0x10;
      expect(() => parseTbf(img)).toThrow(/TBF header checksum mismatch: header says 0x653E2B45, computed 0x[0-9A-F]{8}/);
    }
    const img = cHelloImage();
    img[12] = (img[12] ?? 0) ^ 1;
    expect(() => parseTbf(img)).toThrow(/header says 0x653E2B44, computed 0x653E2B45/);
  });

  it("rejects a truncated image", () => {
    expect(() => parseTbf(cHelloImage().subarray(0, 1024))).toThrow(/truncated: TBF total_size is 2048 bytes but the image has 1024/);
    expect(() => parseTbf(cHelloImage().subarray(0, 10))).toThrow(TbfError);
  });

  it("rejects version 0xFFFF (erased flash) and bad header sizes", () => {
    const erased = cHelloImage();
    erased[0] = 0xff;
    erased[1] = 0xff;
    expect(() => parseTbf(erased)).toThrow(/version is 65535/);
    const small = cHelloImage();
    small[2] = 0x0c;
    expect(() => parseTbf(small)).toThrow(/header_size 12/);
  });

  it("rejects a Main TLV of the wrong length even with a valid checksum", () => {
    const img = cHelloImage();
    img[18] = 0x08; // Main length 12 -> 8
    const dv = new DataView(img.buffer);
    dv.setUint32(12, tbfChecksum(img, 0x34), true);
    expect(() => parseTbf(img)).toThrow(/Main TLV has length 8/);
  });

  it("keeps unknown TLVs and reads the enable flag", () => {
    const header = encodeTbfHeader({
      totalSize: 1024,
      flags: 0,
      tlvs: [{ type: "other", tlvType: 10, value: Uint8Array.of(1, 2, 3, 4) }],
    });
    const img = new Uint8Array(1024);
    img.set(header);
    const h = parseTbf(img);
    expect(h.enabled).toBe(false);
    expect(h.packageName).toBeUndefined();
    expect(h.tlvs).toEqual([{ type: "other", tlvType: 10, value: Uint8Array.of(1, 2, 3, 4) }]);
  });
});
