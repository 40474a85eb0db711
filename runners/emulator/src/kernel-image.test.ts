import { describe, expect, it } from "vitest";
import { KernelImageError, encodeKernelImage, parseKernelImage } from "./kernel-image.ts";

const info = { board: "nrf52840dk", flavour: "mac" as const, channel: 26, kernelVersion: "2.2.0" };

describe("emulated kernel image", () => {
  it("round-trips its description", () => {
    const img = encodeKernelImage(info, new Uint8Array(100).fill(7));
    expect(parseKernelImage(img)).toEqual({ ...info, totalSize: img.length });
    expect(new TextDecoder().decode(img.subarray(0, 8))).toBe("TOCKEMUK");
  });

  it("rejects bad magic, a flipped body byte and truncation", () => {
    const img = encodeKernelImage(info, new Uint8Array(100));
    const badMagic = img.slice();
    badMagic[0] = 0x58;
    expect(() => parseKernelImage(badMagic)).toThrow(/magic/);
    const flipped = img.slice();
    flipped[60] = (flipped[60] ?? 0) ^ 1;
    expect(() => parseKernelImage(flipped)).toThrow(/CRC-32 mismatch/);
    expect(() => parseKernelImage(img.subarray(0, img.length - 1))).toThrow(KernelImageError);
  });
});
