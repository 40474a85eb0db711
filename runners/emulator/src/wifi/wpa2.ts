/**
 * WPA2-Personal key handling (IEEE 802.11-2020 §12.7): the PSK derivation from a passphrase, the pairwise key
 * hierarchy and EAPOL-Key frames with their MIC, so a wrong passphrase fails the way it does on air: the
 * authenticator's MIC check of message 2 of the 4-way handshake.
 */
import { createHmac, pbkdf2Sync } from "node:crypto";
import type { Mac } from "../net/ethernet.ts";
import { macBytes } from "../net/ethernet.ts";

/** PSK = PBKDF2-HMAC-SHA1(passphrase, SSID, 4096 iterations, 32 bytes). */
export function derivePsk(passphrase: string, ssid: string): Uint8Array {
  const p = new TextEncoder().encode(passphrase);
  if (p.length < 8 || p.length > 63) throw new RangeError(`WPA2 passphrase must be 8..63 characters, got ${p.length}`);
  return new Uint8Array(pbkdf2Sync(p, new TextEncoder().encode(ssid), 4096, 32, "sha1"));
}

/** PRF-n (§12.7.1.2): HMAC-SHA1(K, A || 0 || B || i) for i = 0.. until `bits` are produced. */
export function prf(key: Uint8Array, label: string, data: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(bits / 8);
  const a = new TextEncoder().encode(label);
  for (let i = 0, at = 0; at < out.length; i++) {
    const block = createHmac("sha1", key).update(a).update(Uint8Array.of(0)).update(data).update(Uint8Array.of(i)).digest();
    out.set(block.subarray(0, Math.min(block.length, out.length - at)), at);
    at += block.length;
  }
  return out;
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return (a[i] ?? 0) - (b[i] ?? 0);
  return a.length - b.length;
}

/** PTK = PRF-384(PMK, "Pairwise key expansion", min(AA,SPA) || max(AA,SPA) || min(ANonce,SNonce) || max(...)). */
export function derivePtk(
  pmk: Uint8Array,
  aa: Mac,
  spa: Mac,
  aNonce: Uint8Array,
  sNonce: Uint8Array,
): { kck: Uint8Array; kek: Uint8Array; tk: Uint8Array } {
  const [m1, m2] = [macBytes(aa), macBytes(spa)].sort(compare) as [Uint8Array, Uint8Array];
  const [n1, n2] = [aNonce, sNonce].sort(compare) as [Uint8Array, Uint8Array];
  const data = new Uint8Array(76);
  data.set(m1, 0);
  data.set(m2, 6);
  data.set(n1, 12);
  data.set(n2, 44);
  const ptk = prf(pmk, "Pairwise key expansion", data, 384);
  return { kck: ptk.slice(0, 16), kek: ptk.slice(16, 32), tk: ptk.slice(32, 48) };
}

export const KEY_INFO = { version2: 0x0002, pairwise: 0x0008, install: 0x0040, ack: 0x0080, mic: 0x0100, secure: 0x0200 } as const;

export type EapolKey = { keyInfo: number; replayCounter: bigint; nonce: Uint8Array; mic: Uint8Array; data: Uint8Array };

const MIC_OFFSET = 4 + 77;

/** EAPOL (802.1X-2004, version 2) Key frame with an RSN key descriptor; MIC left zero. */
export function encodeEapolKey(k: Omit<EapolKey, "mic">): Uint8Array {
  const body = 95 + k.data.length;
  const out = new Uint8Array(4 + body);
  const dv = new DataView(out.buffer);
  out[0] = 2;
  out[1] = 3;
  dv.setUint16(2, body);
  out[4] = 2; // RSN descriptor
  dv.setUint16(5, k.keyInfo);
  dv.setUint16(7, 16); // CCMP key length
  dv.setBigUint64(9, k.replayCounter);
  out.set(k.nonce.subarray(0, 32), 17);
  dv.setUint16(4 + 93, k.data.length);
  out.set(k.data, 4 + 95);
  return out;
}

export function decodeEapolKey(b: Uint8Array): EapolKey | undefined {
  if (b.length < 99 || b[1] !== 3 || b[4] !== 2) return undefined;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dataLength = dv.getUint16(4 + 93);
  if (4 + 95 + dataLength > b.length) return undefined;
  return {
    keyInfo: dv.getUint16(5),
    replayCounter: dv.getBigUint64(9),
    nonce: b.slice(17, 49),
    mic: b.slice(MIC_OFFSET, MIC_OFFSET + 16),
    data: b.slice(4 + 95, 4 + 95 + dataLength),
  };
}

/** MIC for key descriptor version 2: HMAC-SHA1-128 over the whole frame with the MIC field zeroed. */
export function eapolMic(kck: Uint8Array, frame: Uint8Array): Uint8Array {
  const zeroed = frame.slice();
  zeroed.fill(0, MIC_OFFSET, MIC_OFFSET + 16);
  return new Uint8Array(createHmac("sha1", kck).update(zeroed).digest().subarray(0, 16));
}

export function withMic(kck: Uint8Array, frame: Uint8Array): Uint8Array {
  const out = frame.slice();
  out.set(eapolMic(kck, frame), MIC_OFFSET);
  return out;
}

export function micValid(kck: Uint8Array, frame: Uint8Array): boolean {
  const expected = eapolMic(kck, frame);
  return expected.every((b, i) => frame[MIC_OFFSET + i] === b);
}

/** The RSN element a WPA2-PSK/CCMP station puts in message 2 (and the AP in its beacons). */
export const RSN_IE = Uint8Array.from([
  0x30, 0x14, 0x01, 0x00, 0x00, 0x0f, 0xac, 0x04, 0x01, 0x00, 0x00, 0x0f, 0xac, 0x04, 0x01, 0x00, 0x00, 0x0f, 0xac, 0x02, 0x00, 0x00,
]);
