/**
 * Ethernet II framing. Frames inside the emulator (HIL, stacks, pcap) carry no FCS, as Tock's Ethernet HIL
 * specifies; the FCS (CRC-32/IEEE, sent least significant byte first) exists only on the simulated wire, where the
 * transmitting MAC appends it and the receiving MAC checks and strips it.
 */
import { crc32 } from "../crc.ts";

export const ETHERTYPE = { ipv4: 0x0800, arp: 0x0806, eapol: 0x888e, broadcom: 0x886c } as const;
/** Smallest frame without FCS (64 on the wire): shorter payloads are zero-padded. */
export const MIN_FRAME = 60;
/** Largest untagged frame without FCS (1500-byte payload). */
export const MAX_FRAME = 1514;
export const FCS_LENGTH = 4;
export const HEADER_LENGTH = 14;
export const BROADCAST_MAC = "ff:ff:ff:ff:ff:ff";

/** MAC addresses are lowercase colon-separated strings so they compare with `===`. */
export type Mac = string;

export function macBytes(mac: Mac): Uint8Array {
  const parts = mac.split(":");
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{2}$/.test(p))) throw new RangeError(`bad MAC address ${JSON.stringify(mac)}`);
  return Uint8Array.from(parts.map((p) => Number.parseInt(p, 16)));
}

export function macString(bytes: Uint8Array, at = 0): Mac {
  return Array.from(bytes.subarray(at, at + 6), (b) => b.toString(16).padStart(2, "0")).join(":");
}

export type EthernetFrame = { dst: Mac; src: Mac; etherType: number; payload: Uint8Array };

export class FrameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FrameError";
  }
}

/** Builds a frame without FCS, zero-padded to the 60-byte minimum. */
export function encodeEthernet(f: EthernetFrame): Uint8Array {
  const out = new Uint8Array(Math.max(MIN_FRAME, HEADER_LENGTH + f.payload.length));
  out.set(macBytes(f.dst), 0);
  out.set(macBytes(f.src), 6);
  out[12] = f.etherType >> 8;
  out[13] = f.etherType & 0xff;
  out.set(f.payload, HEADER_LENGTH);
  return out;
}

/** Parses a frame without FCS. The payload keeps any padding: upper layers trim by their own length fields. */
export function decodeEthernet(frame: Uint8Array): EthernetFrame {
  if (frame.length < HEADER_LENGTH) throw new FrameError(`frame of ${frame.length} bytes is shorter than an Ethernet header`);
  return {
    dst: macString(frame, 0),
    src: macString(frame, 6),
    etherType: ((frame[12] ?? 0) << 8) | (frame[13] ?? 0),
    payload: frame.subarray(HEADER_LENGTH),
  };
}

/** Frame as it goes on the wire: frame || CRC-32 little-endian. */
export function appendFcs(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(frame.length + FCS_LENGTH);
  out.set(frame);
  new DataView(out.buffer).setUint32(frame.length, crc32(frame), true);
  return out;
}

/** True when the last four bytes are the CRC-32 of the rest. */
export function fcsValid(wire: Uint8Array): boolean {
  if (wire.length < FCS_LENGTH + HEADER_LENGTH) return false;
  const n = wire.length - FCS_LENGTH;
  return new DataView(wire.buffer, wire.byteOffset, wire.byteLength).getUint32(n, true) === crc32(wire, 0, n);
}
