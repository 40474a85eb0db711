/**
 * What every emulated image builder shares (the nRF52840DK ones in firmware.ts, the network and multi-kernel ones
 * in boards/firmware.ts): deterministic body bytes, the digest, and the layout of a TBF app. One copy, so an app
 * built by either is laid out the same way and images stay byte-stable (same name and options, same sha256).
 */
import { createHash } from "node:crypto";
import { createRng, hashString } from "./prng.ts";
import { TBF_FLAG_ENABLED, encodeTbfHeader } from "./tbf.ts";
import type { TbfTlv } from "./tbf.ts";

/** Pseudo-random bytes seeded by `name`: a stand-in for compiled code that differs between images. */
export function fillerBytes(name: string, length: number): Uint8Array {
  const rng = createRng(hashString(name), 0x600d);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = rng.nextU32() & 0xff;
  return out;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** TBF apps occupy a power-of-two slot of at least 1 KiB, as elf2tab pads them for the MPU. */
function slotSize(n: number): number {
  let p = 1024;
  while (p < n) p *= 2;
  return p;
}

/**
 * A TBF app named `name`: header with `tlvs` (given the binary's end offset, which depends on the header's own
 * size), a body whose size varies by name (2..6 KiB, so different apps land at different offsets like real
 * builds), and erased flash (0xff) up to the slot size. `corruptHeader` flips a header byte after the checksum.
 */
export function packTbfApp(
  name: string,
  tlvs: (binaryEndOffset: number) => TbfTlv[],
  options: { enabled?: boolean | undefined; corruptHeader?: boolean | undefined } = {},
): Uint8Array {
  const bodyLength = 2048 + (hashString(name) % 4096);
  // The header size does not depend on the Program values, so measure it once with a placeholder.
  const headerSize = encodeTbfHeader({ totalSize: 0, flags: 0, tlvs: tlvs(0) }).length;
  const totalSize = slotSize(headerSize + bodyLength);
  const header = encodeTbfHeader({
    totalSize,
    flags: options.enabled === false ? 0 : TBF_FLAG_ENABLED,
    tlvs: tlvs(headerSize + bodyLength),
  });
  const bytes = new Uint8Array(totalSize);
  bytes.set(header);
  bytes.set(fillerBytes(`app:${name}`, bodyLength), headerSize);
  bytes.fill(0xff, headerSize + bodyLength);
  if (options.corruptHeader) bytes[20] = (bytes[20] ?? 0) ^ 0x40;
  return bytes;
}
