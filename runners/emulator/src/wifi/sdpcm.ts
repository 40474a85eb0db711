/**
 * Byte formats between the host driver and the CYW43439 firmware on gSPI function 2: SDPCM frames (12-byte header
 * with length and its complement), CDC headers for ioctls on the control channel, BDC headers for data and
 * events, and Broadcom event messages (an Ethernet frame with EtherType 0x886C).
 */
import type { Mac } from "../net/ethernet.ts";
import { ETHERTYPE, macBytes, macString } from "../net/ethernet.ts";

export const SdpcmChannel = { control: 0, event: 1, data: 2 } as const;
export const SDPCM_HEADER = 12;
export const CDC_HEADER = 16;
export const BDC_HEADER = 4;
export const CDC_FLAG_SET = 0x02;

export const Ioctl = {
  UP: 2,
  DOWN: 3,
  SET_INFRA: 20,
  SET_AUTH: 22,
  SET_SSID: 26,
  SET_CHANNEL: 30,
  DISASSOC: 52,
  SET_ANTDIV: 64,
  SET_GMODE: 110,
  SET_AP: 118,
  SET_WSEC: 134,
  SET_BAND: 142,
  SET_WPA_AUTH: 165,
  GET_VAR: 262,
  SET_VAR: 263,
  SET_WSEC_PMK: 268,
} as const;

export const WlcEvent = { SET_SSID: 0, LINK: 16, ESCAN_RESULT: 69 } as const;
/** escan status 8: partial result (one BSS); 0: scan complete. */
export const ESCAN_PARTIAL = 8;

export class SdpcmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SdpcmError";
  }
}

export type Sdpcm = { seq: number; channel: number; payload: Uint8Array };

export function encodeSdpcm(p: Sdpcm): Uint8Array {
  const out = new Uint8Array(SDPCM_HEADER + p.payload.length);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, out.length, true);
  dv.setUint16(2, ~out.length & 0xffff, true);
  out[4] = p.seq & 0xff;
  out[5] = p.channel & 0x0f;
  out[7] = SDPCM_HEADER; // data offset
  out.set(p.payload, SDPCM_HEADER);
  return out;
}

export function decodeSdpcm(b: Uint8Array): Sdpcm {
  if (b.length < SDPCM_HEADER) throw new SdpcmError("SDPCM frame is truncated");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = dv.getUint16(0, true);
  if ((len ^ dv.getUint16(2, true)) !== 0xffff) throw new SdpcmError("SDPCM length check failed");
  if (len > b.length || len < SDPCM_HEADER) throw new SdpcmError(`SDPCM length ${len} does not fit ${b.length} bytes`);
  const offset = b[7] ?? SDPCM_HEADER;
  return { seq: b[4] ?? 0, channel: (b[5] ?? 0) & 0x0f, payload: b.slice(offset, len) };
}

export type Cdc = { cmd: number; id: number; set: boolean; status: number; data: Uint8Array };

export function encodeCdc(c: Cdc): Uint8Array {
  const out = new Uint8Array(CDC_HEADER + c.data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, c.cmd, true);
  dv.setUint32(4, c.data.length, true);
  dv.setUint16(8, c.set ? CDC_FLAG_SET : 0, true);
  dv.setUint16(10, c.id, true);
  dv.setInt32(12, c.status, true);
  out.set(c.data, CDC_HEADER);
  return out;
}

export function decodeCdc(b: Uint8Array): Cdc {
  if (b.length < CDC_HEADER) throw new SdpcmError("CDC header is truncated");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = dv.getUint32(4, true);
  return {
    cmd: dv.getUint32(0, true),
    id: dv.getUint16(10, true),
    set: (dv.getUint16(8, true) & CDC_FLAG_SET) !== 0,
    status: dv.getInt32(12, true),
    data: b.slice(CDC_HEADER, CDC_HEADER + Math.min(len, b.length - CDC_HEADER)),
  };
}

/** BDC header (version 2) in front of a data or event frame. */
export function withBdc(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(BDC_HEADER + frame.length);
  out[0] = 0x20;
  out.set(frame, BDC_HEADER);
  return out;
}

export function stripBdc(b: Uint8Array): Uint8Array {
  if (b.length < BDC_HEADER) throw new SdpcmError("BDC header is truncated");
  return b.slice(BDC_HEADER + 4 * (b[3] ?? 0));
}

/** iovar payload: NUL-terminated name then value. */
export function iovar(name: string, value: Uint8Array = new Uint8Array(0)): Uint8Array {
  const n = new TextEncoder().encode(name);
  const out = new Uint8Array(n.length + 1 + value.length);
  out.set(n);
  out.set(value, n.length + 1);
  return out;
}

export function splitIovar(b: Uint8Array): { name: string; value: Uint8Array } {
  const nul = b.indexOf(0);
  if (nul < 0) return { name: new TextDecoder().decode(b), value: new Uint8Array(0) };
  return { name: new TextDecoder().decode(b.subarray(0, nul)), value: b.slice(nul + 1) };
}

export const u32le = (v: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setInt32(0, v | 0, true);
  return b;
};

export type WlEvent = { type: number; status: number; reason: number; addr: Mac; data: Uint8Array };

const BCM_HDR = 10;
const EVENT_MSG = 48;

/** Event frame: Ethernet header, Broadcom header (OUI 00:10:18, subtype 0x8001), big-endian event message, data. */
export function encodeEvent(chipMac: Mac, e: WlEvent): Uint8Array {
  const out = new Uint8Array(14 + BCM_HDR + EVENT_MSG + e.data.length);
  const dv = new DataView(out.buffer);
  out.set(macBytes(chipMac), 0);
  out.set(macBytes(chipMac), 6);
  dv.setUint16(12, ETHERTYPE.broadcom);
  dv.setUint16(14, 0x8001);
  dv.setUint16(16, BCM_HDR + EVENT_MSG + e.data.length - 4);
  out.set([0x00, 0x00, 0x10, 0x18], 18);
  dv.setUint16(22, 1);
  const m = 14 + BCM_HDR;
  dv.setUint16(m, 2);
  dv.setUint32(m + 4, e.type);
  dv.setUint32(m + 8, e.status);
  dv.setUint32(m + 12, e.reason);
  dv.setUint32(m + 20, e.data.length);
  out.set(macBytes(e.addr), m + 24);
  out.set(new TextEncoder().encode("wlan0"), m + 30);
  out.set(e.data, m + EVENT_MSG);
  return out;
}

export function decodeEvent(frame: Uint8Array): WlEvent | undefined {
  if (frame.length < 14 + BCM_HDR + EVENT_MSG) return undefined;
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (
    dv.getUint16(12) !== ETHERTYPE.broadcom ||
    dv.getUint16(14) !== 0x8001 ||
    frame[19] !== 0x00 ||
    frame[20] !== 0x10 ||
    frame[21] !== 0x18
  )
    return undefined;
  const m = 14 + BCM_HDR;
  const len = dv.getUint32(m + 20);
  return {
    type: dv.getUint32(m + 4),
    status: dv.getUint32(m + 8),
    reason: dv.getUint32(m + 12),
    addr: macString(frame, m + 24),
    data: frame.slice(m + EVENT_MSG, m + EVENT_MSG + len),
  };
}

/** One BSS in an escan result (wl_escan_result header + wl_bss_info, the fields the driver reads). */
export function encodeEscanResult(bss: { bssid: Mac; ssid: string; channel: number; rssi: number } | undefined): Uint8Array {
  const out = new Uint8Array(12 + (bss ? 128 : 0));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, out.length, true);
  dv.setUint32(4, 109, true);
  dv.setUint16(8, 1, true);
  dv.setUint16(10, bss ? 1 : 0, true);
  if (bss) {
    const b = 12;
    dv.setUint32(b, 109, true);
    dv.setUint32(b + 4, 128, true);
    out.set(macBytes(bss.bssid), b + 8);
    dv.setUint16(b + 14, 100, true);
    const ssid = new TextEncoder().encode(bss.ssid).subarray(0, 32);
    out[b + 18] = ssid.length;
    out.set(ssid, b + 19);
    dv.setUint16(b + 72, 0x1000 | bss.channel, true);
    dv.setInt16(b + 78, bss.rssi, true);
  }
  return out;
}

export function decodeEscanResult(b: Uint8Array): { bssid: Mac; ssid: string; channel: number; rssi: number } | undefined {
  if (b.length < 12 + 80) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dv.getUint16(10, true) < 1) return undefined;
  const len = Math.min(b[12 + 18] ?? 0, 32);
  return {
    bssid: macString(b, 12 + 8),
    ssid: new TextDecoder().decode(b.subarray(12 + 19, 12 + 19 + len)),
    channel: dv.getUint16(12 + 72, true) & 0xff,
    rssi: dv.getInt16(12 + 78, true),
  };
}
