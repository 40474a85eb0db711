/**
 * IEEE 802.15.4 MAC frames as bytes on the air: MHR encode/decode and the FCS.
 *
 * Layout: | FCF 2 | Seq 1 | DstPAN 0/2 | DstAddr 0/2/8 | SrcPAN 0/2 | SrcAddr 0/2/8 | Payload | FCS 2 |, all
 * little-endian. PAN ID compression follows the 2003/2006 rule (source PAN omitted when both addresses are present
 * and the bit is set), which is all Tock's framer emits. Security headers and IEs are not modelled: frames with
 * the security bit are rejected by `decodeFrame`, which is what an emulated kernel without keys does anyway.
 */
import { crc16Kermit } from "./crc.ts";

export const FrameType = { beacon: 0, data: 1, ack: 2, command: 3 } as const;
export const FrameVersion = { v2003: 0, v2006: 1, v2015: 2 } as const;

/** Short address / PAN used for broadcast. */
export const BROADCAST = 0xffff;
/** Largest PSDU including the FCS (aMaxPhyPacketSize). */
export const MAX_PSDU = 127;
export const FCS_LENGTH = 2;

export type MacAddress =
  | { mode: "none" }
  | { mode: "short"; value: number }
  /** Extended address, 8 octets in on-air order (i.e. byte-reversed w.r.t. the canonical EUI-64). */
  | { mode: "extended"; value: Uint8Array };

export type MacFrame = {
  frameType: number;
  securityEnabled: boolean;
  framePending: boolean;
  ackRequest: boolean;
  panIdCompression: boolean;
  frameVersion: number;
  seq: number;
  /** Destination PAN; present iff the destination address is. */
  dstPan: number | undefined;
  dst: MacAddress;
  /** Source PAN as it applies to the frame (filled in from dstPan when compressed away). */
  srcPan: number | undefined;
  src: MacAddress;
  payload: Uint8Array;
};

/** Raised for bytes that do not form a frame this codec understands. */
export class FrameDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameDecodeError";
  }
}

const MODE_BITS = { none: 0, short: 2, extended: 3 } as const;

function addressLength(a: MacAddress): number {
  return a.mode === "none" ? 0 : a.mode === "short" ? 2 : 8;
}

/** Whether the source PAN goes on the air (2003/2006 rule). */
function srcPanPresent(f: Pick<MacFrame, "dst" | "src" | "panIdCompression">): boolean {
  if (f.src.mode === "none") return false;
  return !(f.panIdCompression && f.dst.mode !== "none");
}

/** The 16-bit frame control field of a frame. */
export function frameControl(f: MacFrame): number {
  return (
    (f.frameType & 0x7) |
    (f.securityEnabled ? 1 << 3 : 0) |
    (f.framePending ? 1 << 4 : 0) |
    (f.ackRequest ? 1 << 5 : 0) |
    (f.panIdCompression ? 1 << 6 : 0) |
    (MODE_BITS[f.dst.mode] << 10) |
    ((f.frameVersion & 0x3) << 12) |
    (MODE_BITS[f.src.mode] << 14)
  );
}

/** MHR length in octets for this frame's addressing. */
export function headerLength(f: MacFrame): number {
  return 3 + (f.dst.mode !== "none" ? 2 : 0) + addressLength(f.dst) + (srcPanPresent(f) ? 2 : 0) + addressLength(f.src);
}

function writeAddress(out: Uint8Array, at: number, a: MacAddress): number {
  if (a.mode === "short") {
    out[at] = a.value & 0xff;
    out[at + 1] = (a.value >>> 8) & 0xff;
    return at + 2;
  }
  if (a.mode === "extended") {
    if (a.value.length !== 8) throw new RangeError("extended address must be 8 octets");
    out.set(a.value, at);
    return at + 8;
  }
  return at;
}

/** Encodes MHR + payload (no FCS). */
export function encodeFrame(f: MacFrame): Uint8Array {
  const hdr = headerLength(f);
  if (hdr + f.payload.length + FCS_LENGTH > MAX_PSDU) {
    throw new RangeError(`frame of ${hdr + f.payload.length + FCS_LENGTH} octets exceeds ${MAX_PSDU}`);
  }
  const out = new Uint8Array(hdr + f.payload.length);
  const fcf = frameControl(f);
  out[0] = fcf & 0xff;
  out[1] = fcf >>> 8;
  out[2] = f.seq & 0xff;
  let at = 3;
  if (f.dst.mode !== "none") {
    const pan = f.dstPan ?? BROADCAST;
    out[at++] = pan & 0xff;
    out[at++] = pan >>> 8;
    at = writeAddress(out, at, f.dst);
  }
  if (srcPanPresent(f)) {
    const pan = f.srcPan ?? BROADCAST;
    out[at++] = pan & 0xff;
    out[at++] = pan >>> 8;
  }
  at = writeAddress(out, at, f.src);
  out.set(f.payload, at);
  return out;
}

/** Returns `mhrAndPayload` followed by its CRC-16/KERMIT, little-endian: a complete PSDU. */
export function appendFcs(mhrAndPayload: Uint8Array): Uint8Array {
  const out = new Uint8Array(mhrAndPayload.length + FCS_LENGTH);
  out.set(mhrAndPayload);
  const fcs = crc16Kermit(mhrAndPayload);
  out[mhrAndPayload.length] = fcs & 0xff;
  out[mhrAndPayload.length + 1] = fcs >>> 8;
  return out;
}

/** Recomputes the CRC over a received PSDU and compares it with the trailing FCS, as the radio's CRC unit does. */
export function fcsValid(psdu: Uint8Array): boolean {
  if (psdu.length < FCS_LENGTH + 1) return false;
  const n = psdu.length - FCS_LENGTH;
  const onAir = (psdu[n] ?? 0) | ((psdu[n + 1] ?? 0) << 8);
  return crc16Kermit(psdu, 0, n) === onAir;
}

function readU16(b: Uint8Array, at: number): number {
  if (at + 2 > b.length) throw new FrameDecodeError(`frame truncated at octet ${at}`);
  return (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
}

function readAddress(b: Uint8Array, at: number, modeBits: number): [MacAddress, number] {
  switch (modeBits) {
    case 0:
      return [{ mode: "none" }, at];
    case 2:
      return [{ mode: "short", value: readU16(b, at) }, at + 2];
    case 3:
      if (at + 8 > b.length) throw new FrameDecodeError(`frame truncated at octet ${at}`);
      return [{ mode: "extended", value: b.slice(at, at + 8) }, at + 8];
    default:
      throw new FrameDecodeError("reserved addressing mode");
  }
}

export type DecodedFrame = { frame: MacFrame; headerLength: number };

/** Decodes MHR + payload (FCS already stripped). Throws `FrameDecodeError` on malformed input. */
export function decodeFrame(bytes: Uint8Array): DecodedFrame {
  if (bytes.length < 3) throw new FrameDecodeError(`frame of ${bytes.length} octets is shorter than an MHR`);
  const fcf = readU16(bytes, 0);
  const securityEnabled = (fcf & (1 << 3)) !== 0;
  if (securityEnabled) throw new FrameDecodeError("secured frames are not supported");
  if (fcf & (1 << 8)) throw new FrameDecodeError("sequence number suppression is not supported");
  if (fcf & (1 << 9)) throw new FrameDecodeError("information elements are not supported");
  const panIdCompression = (fcf & (1 << 6)) !== 0;
  const dstMode = (fcf >>> 10) & 0x3;
  const srcMode = (fcf >>> 14) & 0x3;
  let at = 3;
  let dstPan: number | undefined;
  if (dstMode !== 0) {
    dstPan = readU16(bytes, at);
    at += 2;
  }
  const [dst, afterDst] = readAddress(bytes, at, dstMode);
  at = afterDst;
  let srcPan: number | undefined;
  if (srcMode !== 0) {
    if (panIdCompression && dstMode !== 0) {
      srcPan = dstPan;
    } else {
      srcPan = readU16(bytes, at);
      at += 2;
    }
  }
  const [src, afterSrc] = readAddress(bytes, at, srcMode);
  at = afterSrc;
  return {
    frame: {
      frameType: fcf & 0x7,
      securityEnabled,
      framePending: (fcf & (1 << 4)) !== 0,
      ackRequest: (fcf & (1 << 5)) !== 0,
      panIdCompression,
      frameVersion: (fcf >>> 12) & 0x3,
      seq: bytes[2] ?? 0,
      dstPan,
      dst,
      srcPan,
      src,
      payload: bytes.slice(at),
    },
    headerLength: at,
  };
}

/** The 5-octet Imm-Ack PSDU (FCF 0x0002, copied seq, FCS) the nRF driver sends in software. */
export function ackPsdu(seq: number): Uint8Array {
  return appendFcs(Uint8Array.of(0x02, 0x00, seq & 0xff));
}

/** On-air duration of a PSDU: SHR (5) + PHR (1) + PSDU octets at 32 us per octet. */
export function airtimeUs(psduLength: number): number {
  return (6 + psduLength) * 32;
}
