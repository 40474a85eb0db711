/**
 * Thread-like messages as bytes on the 802.15.4 medium, with real keys and real authentication.
 *
 * What is modelled faithfully: MLE and data traffic are secured with keys derived from the network key the way
 * Thread does (HMAC-SHA256(networkKey, keySequence || "Thread"): octets 0..15 MLE key, 16..31 MAC key), using
 * AES-128-CCM with a 4-octet MIC and Thread's 13-octet nonce (source extended address || frame counter ||
 * security level 5). A node with another network key cannot open a single message, so a wrong key really fails
 * verification. MLE command and TLV numbers are Thread's.
 *
 * What is simplified (and why): real Thread carries MLE in UDP/IPv6 compressed with 6LoWPAN IPHC, and data with
 * MAC-layer security. Modelling IPHC adds nothing these suites can observe, so the MAC payload is an emulator
 * envelope instead. It starts with a 6LoWPAN NALP dispatch octet (0x3f, "not a LoWPAN frame"), so sniffers such
 * as Wireshark show it as opaque data rather than mis-parsing it:
 *
 *   0     0x3f   NALP dispatch
 *   1     kind   1 = MLE (MLE key), 2 = IPv6 datagram (MAC key)
 *   2..5  frame counter, little-endian
 *   6..   AES-CCM ciphertext || 4-octet MIC; AAD = MHR || envelope octets 0..5
 */
import { createCipheriv, createDecipheriv, createHmac } from "node:crypto";
import type { MacFrame } from "../frame.ts";
import { FrameDecodeError, FrameType, FrameVersion, decodeFrame, encodeFrame } from "../frame.ts";

export const NALP_DISPATCH = 0x3f;
export const KIND_MLE = 1;
export const KIND_DATA = 2;
const ENVELOPE_HEADER = 6;
const MIC_LENGTH = 4;
const SECURITY_LEVEL = 5;

/** libtock-c examples/openthread dataset and ot-central-controller's. */
export const THREAD_NETWORK_KEY = Uint8Array.from(Buffer.from("00112233445566778899aabbccddeeff", "hex"));
export const THREAD_PAN_ID = 0xabcd;
export const THREAD_CHANNEL = 26;
export const MESH_LOCAL_PREFIX = Uint8Array.from([0xfd, 0xde, 0xad, 0x00, 0xbe, 0xef, 0x00, 0x00]);

export type ThreadKeys = { mle: Uint8Array; mac: Uint8Array };

export function deriveKeys(networkKey: Uint8Array, keySequence = 0): ThreadKeys {
  const seq = Buffer.alloc(4);
  seq.writeUInt32BE(keySequence >>> 0);
  const h = createHmac("sha256", networkKey).update(seq).update("Thread").digest();
  return { mle: Uint8Array.from(h.subarray(0, 16)), mac: Uint8Array.from(h.subarray(16, 32)) };
}

function nonce(srcExt: Uint8Array, counter: number): Buffer {
  const n = Buffer.alloc(13);
  n.set(srcExt, 0);
  n.writeUInt32BE(counter >>> 0, 8);
  n[12] = SECURITY_LEVEL;
  return n;
}

/** MLE commands (Thread numbering). */
export const Mle = {
  advertisement: 4,
  parentRequest: 9,
  parentResponse: 10,
  childIdRequest: 11,
  childIdResponse: 12,
  childUpdateRequest: 13,
  childUpdateResponse: 14,
} as const;

/** MLE TLV types (Thread numbering). */
export const Tlv = {
  sourceAddress: 0,
  mode: 1,
  timeout: 2,
  challenge: 3,
  response: 4,
  address16: 10,
  leaderData: 11,
  scanMask: 14,
  status: 17,
  version: 18,
  addressRegistration: 19,
} as const;

export type MleMessage = { command: number; tlvs: Map<number, Uint8Array> };

export function encodeMle(m: MleMessage): Uint8Array {
  const parts: number[] = [m.command];
  for (const [type, value] of m.tlvs) parts.push(type, value.length, ...value);
  return Uint8Array.from(parts);
}

export function decodeMle(bytes: Uint8Array): MleMessage | undefined {
  if (bytes.length < 1) return undefined;
  const tlvs = new Map<number, Uint8Array>();
  let at = 1;
  while (at < bytes.length) {
    const type = bytes[at];
    const len = bytes[at + 1];
    if (type === undefined || len === undefined || at + 2 + len > bytes.length) return undefined;
    tlvs.set(type, bytes.slice(at + 2, at + 2 + len));
    at += 2 + len;
  }
  return { command: bytes[0] ?? 0, tlvs };
}

export const IPPROTO_UDP = 17;
export const IPPROTO_ICMP6 = 58;

export type Datagram =
  | { proto: "udp"; src: Uint8Array; dst: Uint8Array; srcPort: number; dstPort: number; payload: Uint8Array }
  | { proto: "icmp"; src: Uint8Array; dst: Uint8Array; type: number; id: number; seq: number; data: Uint8Array; hopLimit: number };

export function encodeDatagram(d: Datagram): Uint8Array {
  if (d.proto === "udp") {
    const out = new Uint8Array(1 + 32 + 4 + d.payload.length);
    out[0] = IPPROTO_UDP;
    out.set(d.src, 1);
    out.set(d.dst, 17);
    new DataView(out.buffer).setUint16(33, d.srcPort);
    new DataView(out.buffer).setUint16(35, d.dstPort);
    out.set(d.payload, 37);
    return out;
  }
  const out = new Uint8Array(1 + 32 + 6 + d.data.length);
  out[0] = IPPROTO_ICMP6;
  out.set(d.src, 1);
  out.set(d.dst, 17);
  out[33] = d.type;
  out[34] = d.hopLimit;
  new DataView(out.buffer).setUint16(35, d.id);
  new DataView(out.buffer).setUint16(37, d.seq);
  out.set(d.data, 39);
  return out;
}

export function decodeDatagram(b: Uint8Array): Datagram | undefined {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b[0] === IPPROTO_UDP && b.length >= 37) {
    return {
      proto: "udp",
      src: b.slice(1, 17),
      dst: b.slice(17, 33),
      srcPort: dv.getUint16(33),
      dstPort: dv.getUint16(35),
      payload: b.slice(37),
    };
  }
  if (b[0] === IPPROTO_ICMP6 && b.length >= 39) {
    return {
      proto: "icmp",
      src: b.slice(1, 17),
      dst: b.slice(17, 33),
      type: b[33] ?? 0,
      hopLimit: b[34] ?? 0,
      id: dv.getUint16(35),
      seq: dv.getUint16(37),
      data: b.slice(39),
    };
  }
  return undefined;
}

/** MAC addressing of a Thread frame: broadcast (short 0xffff) or a neighbour's extended address. */
export type ThreadDestination = { broadcast: true } | { broadcast: false; ext: Uint8Array };

/** Builds MHR + secured envelope (no FCS). Throws RangeError when the message does not fit one frame. */
export function sealFrame(options: {
  seq: number;
  pan: number;
  srcExt: Uint8Array;
  dst: ThreadDestination;
  kind: number;
  counter: number;
  keys: ThreadKeys;
  plaintext: Uint8Array;
}): Uint8Array {
  const { dst } = options;
  const header: MacFrame = {
    frameType: FrameType.data,
    securityEnabled: false,
    framePending: false,
    ackRequest: !dst.broadcast,
    panIdCompression: true,
    frameVersion: FrameVersion.v2006,
    seq: options.seq,
    dstPan: options.pan,
    dst: dst.broadcast ? { mode: "short", value: 0xffff } : { mode: "extended", value: dst.ext },
    srcPan: options.pan,
    src: { mode: "extended", value: options.srcExt },
    payload: new Uint8Array(0),
  };
  const mhr = encodeFrame(header);
  const env = new Uint8Array(ENVELOPE_HEADER);
  env[0] = NALP_DISPATCH;
  env[1] = options.kind;
  new DataView(env.buffer).setUint32(2, options.counter >>> 0, true);
  const key = options.kind === KIND_MLE ? options.keys.mle : options.keys.mac;
  const cipher = createCipheriv("aes-128-ccm", key, nonce(options.srcExt, options.counter), { authTagLength: MIC_LENGTH });
  cipher.setAAD(Buffer.concat([mhr, env]), { plaintextLength: options.plaintext.length });
  const ct = Buffer.concat([cipher.update(options.plaintext), cipher.final()]);
  const mic = cipher.getAuthTag();
  return encodeFrame({ ...header, payload: Uint8Array.from(Buffer.concat([env, ct, mic])) });
}

export type OpenedFrame = {
  frame: MacFrame;
  kind: number;
  counter: number;
  srcExt: Uint8Array;
  /** undefined when the MIC did not verify (wrong key or damaged message). */
  plaintext: Uint8Array | undefined;
};

/** Parses a frame (FCS stripped); returns undefined for anything that is not a Thread envelope. */
export function openFrame(bytes: Uint8Array, keys: ThreadKeys): OpenedFrame | undefined {
  let decoded;
  try {
    decoded = decodeFrame(bytes);
  } catch (err) {
    if (err instanceof FrameDecodeError) return undefined;
    throw err;
  }
  const { frame, headerLength } = decoded;
  const p = frame.payload;
  if (frame.frameType !== FrameType.data || frame.src.mode !== "extended") return undefined;
  if (p.length < ENVELOPE_HEADER + MIC_LENGTH || p[0] !== NALP_DISPATCH) return undefined;
  const kind = p[1] ?? 0;
  if (kind !== KIND_MLE && kind !== KIND_DATA) return undefined;
  const counter = new DataView(p.buffer, p.byteOffset, p.byteLength).getUint32(2, true);
  const srcExt = frame.src.value;
  const key = kind === KIND_MLE ? keys.mle : keys.mac;
  const ct = p.subarray(ENVELOPE_HEADER, p.length - MIC_LENGTH);
  let plaintext: Uint8Array | undefined;
  try {
    const decipher = createDecipheriv("aes-128-ccm", key, nonce(srcExt, counter), { authTagLength: MIC_LENGTH });
    decipher.setAuthTag(p.subarray(p.length - MIC_LENGTH));
    decipher.setAAD(bytes.subarray(0, headerLength + ENVELOPE_HEADER), { plaintextLength: ct.length });
    plaintext = Uint8Array.from(Buffer.concat([decipher.update(ct), decipher.final()]));
  } catch {
    plaintext = undefined;
  }
  return { frame, kind, counter, srcExt, plaintext };
}

// --- IPv6 addresses -----------------------------------------------------------------------------------------

/** OpenThread's `otIp6AddressToString`: eight groups, no leading zeros, no "::" compression. */
export function ip6ToString(a: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((a[i] ?? 0) << 8) | (a[i + 1] ?? 0)).toString(16));
  return groups.join(":");
}

/** Parses an IPv6 address (with or without "::"); undefined when malformed. */
export function parseIp6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const parse = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0] ?? "");
  const tail = halves.length === 2 ? parse(halves[1] ?? "") : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if ((halves.length === 1 && missing !== 0) || (halves.length === 2 && missing < 1)) return undefined;
  const groups = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

export function ip6Equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === 16 && b.length === 16 && a.every((x, i) => x === b[i]);
}

export const isMulticast = (a: Uint8Array): boolean => a[0] === 0xff;

export function linkLocal(ext: Uint8Array): Uint8Array {
  const a = new Uint8Array(16);
  a[0] = 0xfe;
  a[1] = 0x80;
  a.set(ext, 8);
  a[8] = (a[8] ?? 0) ^ 0x02;
  return a;
}

export function meshLocal(iid: Uint8Array): Uint8Array {
  const a = new Uint8Array(16);
  a.set(MESH_LOCAL_PREFIX, 0);
  a.set(iid.subarray(0, 8), 8);
  return a;
}

/** RLOC: mesh-local prefix + 0:ff:fe00:<rloc16>. */
export function rlocAddress(rloc16: number): Uint8Array {
  const a = new Uint8Array(16);
  a.set(MESH_LOCAL_PREFIX, 0);
  a.set([0, 0, 0, 0xff, 0xfe, 0, rloc16 >> 8, rloc16 & 0xff], 8);
  return a;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
