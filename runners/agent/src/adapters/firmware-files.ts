/**
 * Turns verified firmware images into what flash tools take: a kernel binary and one apps region, as raw binary,
 * Intel HEX (nrfjprog only takes HEX) or UF2 (the RP2040 boot drive). Images are checked first, so a corrupt app
 * is refused as `invalid_image` before any tool touches the board.
 */
import type { FirmwareImage } from "@tock-hil/board";
import { FlashError } from "@tock-hil/board";

/** One contiguous range of flash to write. */
export type FlashRegion = {
  /** `kernel` or `apps`; used in file names and logs. */
  kind: "kernel" | "apps";
  address: number;
  bytes: Uint8Array;
  /** The images this region holds, in order, with their addresses. */
  images: { name: string; sha256: string; address: number; size: number }[];
};

export type FlashLayout = { kernelAddress: number; kernelSize?: number | undefined; appsAddress: number; appsSize?: number | undefined };

const TBF_BASE_HEADER_SIZE = 16;
/** Erased flash after the last app: Tock's loader stops at the first header that is not a valid TBF. */
const APPS_TERMINATOR = 512;

const short = (image: FirmwareImage) => `${image.name} (sha256 ${image.sha256.slice(0, 8)}…)`;

/**
 * Checks a TBF v2 base header the way the kernel's loader does (version, sizes, checksum). Returns its total size.
 * The real adapter cannot ask the board whether it accepted an app, so it refuses what the kernel would skip.
 */
export function checkTbf(image: FirmwareImage): number {
  const b = image.bytes;
  const fail = (why: string): never => {
    throw new FlashError("invalid_image", `${short(image)}: ${why}`, image.name);
  };
  if (b.length < TBF_BASE_HEADER_SIZE) fail(`only ${b.length} bytes, shorter than a TBF header`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const version = dv.getUint16(0, true);
  const headerSize = dv.getUint16(2, true);
  const totalSize = dv.getUint32(4, true);
  if (version !== 2) fail(`TBF header version ${version}, expected 2`);
  if (headerSize < TBF_BASE_HEADER_SIZE || headerSize > totalSize) fail(`TBF header size ${headerSize} is impossible`);
  if (totalSize > b.length) fail(`truncated: the TBF header says ${totalSize} bytes, the image has ${b.length}`);
  let sum = 0;
  for (let off = 0; off < headerSize; off += 4) {
    if (off === 12) continue;
    let word = 0;
    for (let i = 0; i < 4; i++) word |= (off + i < headerSize ? (b[off + i] ?? 0) : 0) << (8 * i);
    sum ^= word;
  }
  if (sum >>> 0 !== dv.getUint32(12, true)) fail(`TBF header checksum mismatch (corrupted header)`);
  return totalSize;
}

/** Splits images into the kernel region and the apps region (apps back to back, then erased flash). */
export function planRegions(images: FirmwareImage[], layout: FlashLayout, boardName: string): FlashRegion[] {
  const kernels = images.filter((i) => i.kind === "kernel");
  if (kernels.length > 1)
    throw new FlashError("invalid_image", `${boardName}: expected at most one kernel image, got ${kernels.map(short).join(", ")}`);
  const regions: FlashRegion[] = [];
  const kernel = kernels[0];
  if (kernel) {
    if (kernel.bytes.length === 0) throw new FlashError("invalid_image", `${short(kernel)}: the kernel image is empty`, kernel.name);
    if (layout.kernelSize !== undefined && kernel.bytes.length > layout.kernelSize)
      throw new FlashError("invalid_image", `${short(kernel)}: ${kernel.bytes.length} bytes do not fit the kernel region`, kernel.name);
    regions.push({
      kind: "kernel",
      address: layout.kernelAddress,
      bytes: kernel.bytes,
      images: [{ name: kernel.name, sha256: kernel.sha256, address: layout.kernelAddress, size: kernel.bytes.length }],
    });
  }
  const apps = images.filter((i) => i.kind !== "kernel");
  if (apps.length > 0) {
    const parts: Uint8Array[] = [];
    const placed: FlashRegion["images"] = [];
    let offset = 0;
    for (const app of apps) {
      if (app.kind === "tab")
        throw new FlashError("invalid_image", `${short(app)}: pass the TBF for this board's architecture, not a TAB archive`, app.name);
      const size = checkTbf(app);
      parts.push(app.bytes.subarray(0, size));
      placed.push({ name: app.name, sha256: app.sha256, address: layout.appsAddress + offset, size });
      offset += size;
    }
    if (layout.appsSize !== undefined && offset > layout.appsSize)
      throw new FlashError("invalid_image", `${boardName}: apps (${offset} bytes) do not fit the ${layout.appsSize}-byte app region`);
    const bytes = new Uint8Array(offset + APPS_TERMINATOR).fill(0xff);
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    regions.push({ kind: "apps", address: layout.appsAddress, bytes, images: placed });
  }
  return regions;
}

/** Intel HEX with extended linear address records, 16 data bytes a line. */
export function toIntelHex(regions: { address: number; bytes: Uint8Array }[]): string {
  const lines: string[] = [];
  const record = (type: number, address: number, data: ArrayLike<number>) => {
    let sum = data.length + ((address >> 8) & 0xff) + (address & 0xff) + type;
    let hex = "";
    for (let i = 0; i < data.length; i++) {
      const v = data[i] ?? 0;
      sum += v;
      hex += v.toString(16).padStart(2, "0");
    }
    const check = (-sum & 0xff).toString(16).padStart(2, "0");
    const head = `${data.length.toString(16).padStart(2, "0")}${(address & 0xffff).toString(16).padStart(4, "0")}${type.toString(16).padStart(2, "0")}`;
    lines.push(`:${head}${hex}${check}`.toUpperCase());
  };
  for (const region of regions) {
    let upper = -1;
    for (let off = 0; off < region.bytes.length; off += 16) {
      const addr = region.address + off;
      if (addr >>> 16 !== upper) {
        upper = addr >>> 16;
        record(4, 0, [(upper >> 8) & 0xff, upper & 0xff]);
      }
      record(0, addr & 0xffff, region.bytes.subarray(off, Math.min(off + 16, region.bytes.length)));
    }
  }
  record(1, 0, []);
  return `${lines.join("\n")}\n`;
}

const UF2_MAGIC_START0 = 0x0a324655;
const UF2_MAGIC_START1 = 0x9e5d5157;
const UF2_MAGIC_END = 0x0ab16f30;
const UF2_FLAG_FAMILY_ID = 0x2000;
const UF2_PAYLOAD = 256;

/** UF2 blocks (256 payload bytes each) for a boot drive such as the RP2040's RPI-RP2. */
export function toUf2(regions: { address: number; bytes: Uint8Array }[], familyId: number): Uint8Array {
  const chunks: { address: number; data: Uint8Array }[] = [];
  for (const r of regions)
    for (let off = 0; off < r.bytes.length; off += UF2_PAYLOAD)
      chunks.push({ address: r.address + off, data: r.bytes.subarray(off, off + UF2_PAYLOAD) });
  const out = new Uint8Array(chunks.length * 512);
  const dv = new DataView(out.buffer);
  chunks.forEach((c, i) => {
    const base = i * 512;
    dv.setUint32(base, UF2_MAGIC_START0, true);
    dv.setUint32(base + 4, UF2_MAGIC_START1, true);
    dv.setUint32(base + 8, UF2_FLAG_FAMILY_ID, true);
    dv.setUint32(base + 12, c.address, true);
    dv.setUint32(base + 16, UF2_PAYLOAD, true);
    dv.setUint32(base + 20, i, true);
    dv.setUint32(base + 24, chunks.length, true);
    dv.setUint32(base + 28, familyId, true);
    out.fill(0xff, base + 32, base + 32 + UF2_PAYLOAD);
    out.set(c.data, base + 32);
    dv.setUint32(base + 508, UF2_MAGIC_END, true);
  });
  return out;
}
