/**
 * The emulated kernel image format ("TOCKEMUK", format version 1).
 *
 * A real kernel binary means nothing to a TypeScript model, so the emulator flashes a small self-describing image
 * instead: it names the board it was built for, the 15.4 stack flavour the board file wires up, the radio channel
 * compiled into the kernel and the kernel version, and it is integrity-checked so a damaged download is caught at
 * flash time exactly like a corrupt TBF. All integers little-endian:
 *
 *   0   8  magic, ASCII "TOCKEMUK"
 *   8   2  format version (1)
 *   10  2  header size: offset where the opaque code body starts
 *   12  4  total size of the image in bytes, including the trailing CRC
 *   16  1  802.15.4 channel the kernel configures (11..26)
 *   17  3  reserved, zero
 *   20  .  three length-prefixed (u8) ASCII strings: board name, flavour ("mac" | "raw"), kernel version
 *   ..  .  body: opaque "code" bytes (ignored by the model)
 *   end-4 4 CRC-32 (IEEE) over every byte before it
 */
import { crc32 } from "./crc.ts";
import { hex32 } from "./tbf.ts";

export const KERNEL_MAGIC = "TOCKEMUK";
export const KERNEL_FORMAT_VERSION = 1;
const FIXED_PART = 20;

/**
 * What the image runs: a Tock kernel exposing the 15.4 MAC interface (`nrf52840dk`) or the raw PHY
 * (`-thread-tutorial`), or not Tock at all: `ot-cli-ftd`, an OpenThread CLI FTD firmware (the nightly's router,
 * `ot-central-controller.hex`), which the emulator runs as an OpenThread node model with an ot-cli console, or
 * `sniffer`, Nordic's nRF Sniffer for 802.15.4 firmware (serial frame dump, receive only).
 */
export type KernelFlavour = "mac" | "raw" | "ot-cli-ftd" | "sniffer" | "none";
// "none": a Tock kernel without an 802.15.4 stack (Ethernet, WiFi and multi-kernel boards, issue 4).
export const KERNEL_FLAVOURS: readonly KernelFlavour[] = ["mac", "raw", "ot-cli-ftd", "sniffer", "none"];

export type KernelImageInfo = {
  board: string;
  flavour: KernelFlavour;
  channel: number;
  kernelVersion: string;
  totalSize: number;
};

export class KernelImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KernelImageError";
  }
}

/** Builds an image; `body` stands in for the kernel's code. */
export function encodeKernelImage(info: Omit<KernelImageInfo, "totalSize">, body: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  const strings = [info.board, info.flavour, info.kernelVersion].map((s) => enc.encode(s));
  for (const s of strings) if (s.length > 255) throw new RangeError("kernel image string longer than 255 bytes");
  const headerSize = FIXED_PART + strings.reduce((n, s) => n + 1 + s.length, 0);
  const totalSize = headerSize + body.length + 4;
  const out = new Uint8Array(totalSize);
  const dv = new DataView(out.buffer);
  out.set(enc.encode(KERNEL_MAGIC), 0);
  dv.setUint16(8, KERNEL_FORMAT_VERSION, true);
  dv.setUint16(10, headerSize, true);
  dv.setUint32(12, totalSize, true);
  out[16] = info.channel;
  let at = FIXED_PART;
  for (const s of strings) {
    out[at++] = s.length;
    out.set(s, at);
    at += s.length;
  }
  out.set(body, headerSize);
  dv.setUint32(totalSize - 4, crc32(out, 0, totalSize - 4), true);
  return out;
}

/** Validates an image and returns what it describes. Throws `KernelImageError` on any defect. */
export function parseKernelImage(bytes: Uint8Array): KernelImageInfo {
  if (bytes.length < FIXED_PART + 4) throw new KernelImageError(`truncated: ${bytes.length} bytes is too short for a kernel image`);
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic !== KERNEL_MAGIC) {
    throw new KernelImageError(`not an emulated kernel image (magic ${JSON.stringify(magic)}, expected "${KERNEL_MAGIC}")`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const format = dv.getUint16(8, true);
  if (format !== KERNEL_FORMAT_VERSION) throw new KernelImageError(`kernel image format ${format} is not supported`);
  const headerSize = dv.getUint16(10, true);
  const totalSize = dv.getUint32(12, true);
  if (totalSize !== bytes.length) {
    throw new KernelImageError(`kernel image says it is ${totalSize} bytes but ${bytes.length} were supplied (truncated or padded)`);
  }
  const stored = dv.getUint32(totalSize - 4, true);
  const computed = crc32(bytes, 0, totalSize - 4);
  if (stored !== computed) {
    throw new KernelImageError(`kernel image CRC-32 mismatch: image says ${hex32(stored)}, computed ${hex32(computed)}`);
  }
  const dec = new TextDecoder();
  const strings: string[] = [];
  let at = FIXED_PART;
  for (let i = 0; i < 3; i++) {
    const len = bytes[at] ?? 0;
    if (at + 1 + len > headerSize) throw new KernelImageError("kernel image header strings overrun the header");
    strings.push(dec.decode(bytes.subarray(at + 1, at + 1 + len)));
    at += 1 + len;
  }
  const [board = "", flavour = "", kernelVersion = ""] = strings;
  if (!(KERNEL_FLAVOURS as readonly string[]).includes(flavour))
    throw new KernelImageError(`unknown kernel flavour ${JSON.stringify(flavour)}`);
  const channel = bytes[16] ?? 0;
  if (channel < 11 || channel > 26) throw new KernelImageError(`kernel radio channel ${channel} is not in 11..26`);
  return { board, flavour: flavour as KernelFlavour, channel, kernelVersion, totalSize };
}
