/**
 * Tock Binary Format v2 headers: what `tockloader` writes and the kernel's loader checks.
 *
 * Base header (16 octets, little-endian): u16 version = 2, u16 header_size, u32 total_size, u32 flags
 * (bit 0 enabled, bit 1 sticky), u32 checksum = XOR of every 32-bit word of the header except word 3.
 * TLVs follow: u16 type, u16 length, value padded to 4 octets. Only the TLVs the emulator acts on are decoded;
 * others are kept raw, as the kernel skips unknown types.
 */

export const TBF_VERSION = 2;
export const TBF_BASE_HEADER_SIZE = 16;
export const TBF_FLAG_ENABLED = 1 << 0;
export const TBF_FLAG_STICKY = 1 << 1;

export const TlvType = { main: 1, writeableFlashRegions: 2, packageName: 3, kernelVersion: 8, program: 9 } as const;

export type TbfTlv =
  | { type: "main"; initFnOffset: number; protectedTrailerSize: number; minimumRamSize: number }
  | {
      type: "program";
      initFnOffset: number;
      protectedTrailerSize: number;
      minimumRamSize: number;
      binaryEndOffset: number;
      appVersion: number;
    }
  | { type: "packageName"; name: string }
  | { type: "kernelVersion"; major: number; minor: number }
  | { type: "other"; tlvType: number; value: Uint8Array };

export type TbfHeader = {
  version: number;
  headerSize: number;
  totalSize: number;
  flags: number;
  enabled: boolean;
  sticky: boolean;
  checksum: number;
  tlvs: TbfTlv[];
  packageName: string | undefined;
  kernelVersion: { major: number; minor: number } | undefined;
};

/** Why a TBF was rejected; the message is meant to be shown prefixed with the image's name. */
export class TbfError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TbfError";
  }
}

export const hex32 = (n: number): string => `0x${(n >>> 0).toString(16).toUpperCase().padStart(8, "0")}`;

/** XOR of the header's 32-bit LE words (zero-padded to a word), skipping word 3 where the checksum lives. */
export function tbfChecksum(bytes: Uint8Array, headerSize: number): number {
  let sum = 0;
  for (let word = 0; word * 4 < headerSize; word++) {
    if (word === 3) continue;
    let v = 0;
    for (let i = 0; i < 4; i++) {
      const at = word * 4 + i;
      const b = at < headerSize ? (bytes[at] ?? 0) : 0;
      v |= b << (8 * i);
    }
    sum ^= v;
  }
  return sum >>> 0;
}

function tlvValue(t: TbfTlv): [number, Uint8Array] {
  switch (t.type) {
    case "main": {
      const v = new Uint8Array(12);
      const dv = new DataView(v.buffer);
      dv.setUint32(0, t.initFnOffset, true);
      dv.setUint32(4, t.protectedTrailerSize, true);
      dv.setUint32(8, t.minimumRamSize, true);
      return [TlvType.main, v];
    }
    case "program": {
      const v = new Uint8Array(20);
      const dv = new DataView(v.buffer);
      dv.setUint32(0, t.initFnOffset, true);
      dv.setUint32(4, t.protectedTrailerSize, true);
      dv.setUint32(8, t.minimumRamSize, true);
      dv.setUint32(12, t.binaryEndOffset, true);
      dv.setUint32(16, t.appVersion, true);
      return [TlvType.program, v];
    }
    case "packageName":
      return [TlvType.packageName, new TextEncoder().encode(t.name)];
    case "kernelVersion": {
      const v = new Uint8Array(4);
      const dv = new DataView(v.buffer);
      dv.setUint16(0, t.major, true);
      dv.setUint16(2, t.minor, true);
      return [TlvType.kernelVersion, v];
    }
    case "other":
      return [t.tlvType, t.value];
  }
}

/** Builds a complete header (base + TLVs) with a correct checksum. */
export function encodeTbfHeader(options: { totalSize: number; flags: number; tlvs: TbfTlv[] }): Uint8Array {
  const encoded = options.tlvs.map(tlvValue);
  const headerSize = TBF_BASE_HEADER_SIZE + encoded.reduce((n, [, v]) => n + 4 + Math.ceil(v.length / 4) * 4, 0);
  const out = new Uint8Array(headerSize);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, TBF_VERSION, true);
  dv.setUint16(2, headerSize, true);
  dv.setUint32(4, options.totalSize, true);
  dv.setUint32(8, options.flags, true);
  let at = TBF_BASE_HEADER_SIZE;
  for (const [type, value] of encoded) {
    dv.setUint16(at, type, true);
    dv.setUint16(at + 2, value.length, true);
    out.set(value, at + 4);
    at += 4 + Math.ceil(value.length / 4) * 4;
  }
  dv.setUint32(12, tbfChecksum(out, headerSize), true);
  return out;
}

function decodeTlv(type: number, value: Uint8Array): TbfTlv {
  const dv = new DataView(value.buffer, value.byteOffset, value.byteLength);
  switch (type) {
    case TlvType.main:
      if (value.length !== 12) throw new TbfError(`Main TLV has length ${value.length}, expected 12`);
      return {
        type: "main",
        initFnOffset: dv.getUint32(0, true),
        protectedTrailerSize: dv.getUint32(4, true),
        minimumRamSize: dv.getUint32(8, true),
      };
    case TlvType.program:
      if (value.length !== 20) throw new TbfError(`Program TLV has length ${value.length}, expected 20`);
      return {
        type: "program",
        initFnOffset: dv.getUint32(0, true),
        protectedTrailerSize: dv.getUint32(4, true),
        minimumRamSize: dv.getUint32(8, true),
        binaryEndOffset: dv.getUint32(12, true),
        appVersion: dv.getUint32(16, true),
      };
    case TlvType.packageName: {
      let name: string;
      try {
        name = new TextDecoder("utf-8", { fatal: true }).decode(value);
      } catch {
        throw new TbfError("PackageName TLV is not valid UTF-8");
      }
      return { type: "packageName", name };
    }
    case TlvType.kernelVersion:
      if (value.length !== 4) throw new TbfError(`KernelVersion TLV has length ${value.length}, expected 4`);
      return { type: "kernelVersion", major: dv.getUint16(0, true), minor: dv.getUint16(2, true) };
    default:
      return { type: "other", tlvType: type, value: value.slice() };
  }
}

/**
 * Parses and validates one TBF image as the kernel loader would, but strictly: anything the kernel would skip or
 * refuse (wrong version, bad lengths, checksum mismatch, truncation) throws `TbfError` so a flash fails loudly
 * instead of producing a board that silently runs nothing.
 */
export function parseTbf(bytes: Uint8Array): TbfHeader {
  if (bytes.length < TBF_BASE_HEADER_SIZE) {
    throw new TbfError(`truncated: ${bytes.length} bytes is shorter than the ${TBF_BASE_HEADER_SIZE}-byte TBF header`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint16(0, true);
  const headerSize = dv.getUint16(2, true);
  const totalSize = dv.getUint32(4, true);
  const flags = dv.getUint32(8, true);
  const checksum = dv.getUint32(12, true);
  if (version !== TBF_VERSION) throw new TbfError(`TBF version is ${version}, expected ${TBF_VERSION}`);
  if (headerSize < TBF_BASE_HEADER_SIZE || headerSize > totalSize) {
    throw new TbfError(`invalid TBF header: header_size ${headerSize} must be >= 16 and <= total_size ${totalSize}`);
  }
  if (totalSize > bytes.length) {
    throw new TbfError(`truncated: TBF total_size is ${totalSize} bytes but the image has ${bytes.length}`);
  }
  const computed = tbfChecksum(bytes, headerSize);
  if (computed !== checksum) {
    throw new TbfError(`TBF header checksum mismatch: header says ${hex32(checksum)}, computed ${hex32(computed)}`);
  }
  const tlvs: TbfTlv[] = [];
  let at = TBF_BASE_HEADER_SIZE;
  while (at < headerSize) {
    if (at + 4 > headerSize) throw new TbfError(`TLV at offset ${at} overruns the header`);
    const type = dv.getUint16(at, true);
    const length = dv.getUint16(at + 2, true);
    if (at + 4 + length > headerSize) {
      throw new TbfError(`TLV type ${type} at offset ${at} (length ${length}) overruns the ${headerSize}-byte header`);
    }
    tlvs.push(decodeTlv(type, bytes.subarray(at + 4, at + 4 + length)));
    at += 4 + Math.ceil(length / 4) * 4;
  }
  let packageName: string | undefined;
  let kernelVersion: { major: number; minor: number } | undefined;
  for (const t of tlvs) {
    if (t.type === "packageName") packageName = t.name;
    if (t.type === "kernelVersion") kernelVersion = { major: t.major, minor: t.minor };
    if (t.type === "program" && (t.binaryEndOffset < headerSize || t.binaryEndOffset > totalSize)) {
      throw new TbfError(`Program TLV binary_end_offset ${t.binaryEndOffset} is outside ${headerSize}..${totalSize}`);
    }
  }
  return {
    version,
    headerSize,
    totalSize,
    flags,
    enabled: (flags & TBF_FLAG_ENABLED) !== 0,
    sticky: (flags & TBF_FLAG_STICKY) !== 0,
    checksum,
    tlvs,
    packageName,
    kernelVersion,
  };
}
