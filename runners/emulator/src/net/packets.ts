/**
 * ARP (RFC 826), IPv4 (RFC 791), ICMP echo (RFC 792), UDP (RFC 768) and a subset of TCP (RFC 9293) as bytes.
 * Decoders verify lengths and checksums and throw `PacketError`, so a receiver model can only act on packets that
 * would have survived a real stack's checks.
 */
import type { Mac } from "./ethernet.ts";
import { macBytes, macString } from "./ethernet.ts";
import { internetChecksum, onesSum, pseudoHeaderSum } from "./checksum.ts";

export const IP_PROTOCOL = { icmp: 1, tcp: 6, udp: 17 } as const;
export const IP_BROADCAST = 0xffffffff;

export class PacketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PacketError";
  }
}

export function ipString(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff].join(".");
}

export function parseIp(text: string): number {
  const parts = text.split(".").map((p) => Number.parseInt(p, 10));
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) throw new RangeError(`bad IPv4 address ${JSON.stringify(text)}`);
  return (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
}

const view = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

// --- ARP ---------------------------------------------------------------------------------------------------------

export type ArpPacket = { op: 1 | 2; senderMac: Mac; senderIp: number; targetMac: Mac; targetIp: number };

export function encodeArp(p: ArpPacket): Uint8Array {
  const out = new Uint8Array(28);
  const dv = view(out);
  dv.setUint16(0, 1); // Ethernet
  dv.setUint16(2, 0x0800);
  out[4] = 6;
  out[5] = 4;
  dv.setUint16(6, p.op);
  out.set(macBytes(p.senderMac), 8);
  dv.setUint32(14, p.senderIp);
  out.set(macBytes(p.targetMac), 18);
  dv.setUint32(24, p.targetIp);
  return out;
}

export function decodeArp(b: Uint8Array): ArpPacket {
  if (b.length < 28) throw new PacketError(`ARP packet of ${b.length} bytes is truncated`);
  const dv = view(b);
  if (dv.getUint16(0) !== 1 || dv.getUint16(2) !== 0x0800 || b[4] !== 6 || b[5] !== 4) throw new PacketError("ARP is not Ethernet/IPv4");
  const op = dv.getUint16(6);
  if (op !== 1 && op !== 2) throw new PacketError(`ARP opcode ${op} is not request or reply`);
  return { op, senderMac: macString(b, 8), senderIp: dv.getUint32(14), targetMac: macString(b, 18), targetIp: dv.getUint32(24) };
}

// --- IPv4 --------------------------------------------------------------------------------------------------------

export type Ipv4Packet = { src: number; dst: number; protocol: number; ttl: number; id: number; payload: Uint8Array };

export function encodeIpv4(p: Ipv4Packet): Uint8Array {
  const out = new Uint8Array(20 + p.payload.length);
  const dv = view(out);
  out[0] = 0x45;
  dv.setUint16(2, out.length);
  dv.setUint16(4, p.id & 0xffff);
  dv.setUint16(6, 0x4000); // don't fragment: nothing here fragments
  out[8] = p.ttl;
  out[9] = p.protocol;
  dv.setUint32(12, p.src);
  dv.setUint32(16, p.dst);
  dv.setUint16(10, internetChecksum(out.subarray(0, 20)));
  out.set(p.payload, 20);
  return out;
}

/** Decodes and verifies an IPv4 packet; `b` may carry Ethernet padding after the total length. */
export function decodeIpv4(b: Uint8Array): Ipv4Packet {
  if (b.length < 20) throw new PacketError(`IPv4 packet of ${b.length} bytes is truncated`);
  if ((b[0] ?? 0) >> 4 !== 4) throw new PacketError(`IP version ${(b[0] ?? 0) >> 4} is not 4`);
  const ihl = ((b[0] ?? 0) & 0x0f) * 4;
  const dv = view(b);
  const total = dv.getUint16(2);
  if (ihl < 20 || total < ihl || total > b.length)
    throw new PacketError(`IPv4 lengths are inconsistent (ihl ${ihl}, total ${total}, have ${b.length})`);
  if (onesSum(b.subarray(0, ihl)) !== 0xffff) throw new PacketError("IPv4 header checksum is wrong");
  if ((dv.getUint16(6) & 0x3fff) !== 0) throw new PacketError("IPv4 fragments are not supported");
  return {
    src: dv.getUint32(12),
    dst: dv.getUint32(16),
    protocol: b[9] ?? 0,
    ttl: b[8] ?? 0,
    id: dv.getUint16(4),
    payload: b.subarray(ihl, total),
  };
}

// --- ICMP echo ---------------------------------------------------------------------------------------------------

export type IcmpEcho = { type: 0 | 8; id: number; seq: number; data: Uint8Array };

export function encodeIcmpEcho(p: IcmpEcho): Uint8Array {
  const out = new Uint8Array(8 + p.data.length);
  const dv = view(out);
  out[0] = p.type;
  dv.setUint16(4, p.id);
  dv.setUint16(6, p.seq);
  out.set(p.data, 8);
  dv.setUint16(2, internetChecksum(out));
  return out;
}

/** Decodes an echo request/reply; other ICMP types and bad checksums throw. */
export function decodeIcmpEcho(b: Uint8Array): IcmpEcho {
  if (b.length < 8) throw new PacketError("ICMP message is truncated");
  if (onesSum(b) !== 0xffff) throw new PacketError("ICMP checksum is wrong");
  const type = b[0];
  if ((type !== 0 && type !== 8) || b[1] !== 0) throw new PacketError(`ICMP type ${type} code ${b[1]} is not an echo`);
  const dv = view(b);
  return { type, id: dv.getUint16(4), seq: dv.getUint16(6), data: b.subarray(8) };
}

// --- UDP ---------------------------------------------------------------------------------------------------------

export type UdpDatagram = { srcPort: number; dstPort: number; data: Uint8Array };

export function encodeUdp(src: number, dst: number, d: UdpDatagram): Uint8Array {
  const out = new Uint8Array(8 + d.data.length);
  const dv = view(out);
  dv.setUint16(0, d.srcPort);
  dv.setUint16(2, d.dstPort);
  dv.setUint16(4, out.length);
  out.set(d.data, 8);
  const sum = internetChecksum(out, pseudoHeaderSum(src, dst, IP_PROTOCOL.udp, out.length));
  // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
  dv.setUint16(6, sum === 0 ? 0xffff : sum);
  return out;
}

export function decodeUdp(src: number, dst: number, b: Uint8Array): UdpDatagram {
  if (b.length < 8) throw new PacketError("UDP datagram is truncated");
  const dv = view(b);
  const length = dv.getUint16(4);
  if (length < 8 || length > b.length) throw new PacketError(`UDP length ${length} does not fit ${b.length} bytes`);
  const d = b.subarray(0, length);
  if (dv.getUint16(6) !== 0 && onesSum(d, pseudoHeaderSum(src, dst, IP_PROTOCOL.udp, length)) !== 0xffff) {
    throw new PacketError("UDP checksum is wrong");
  }
  return { srcPort: dv.getUint16(0), dstPort: dv.getUint16(2), data: d.subarray(8) };
}

// --- TCP (no options, no urgent data) ----------------------------------------------------------------------------

export const TCP_FLAG = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10 } as const;

export type TcpSegment = { srcPort: number; dstPort: number; seq: number; ack: number; flags: number; window: number; data: Uint8Array };

export function encodeTcp(src: number, dst: number, s: TcpSegment): Uint8Array {
  const out = new Uint8Array(20 + s.data.length);
  const dv = view(out);
  dv.setUint16(0, s.srcPort);
  dv.setUint16(2, s.dstPort);
  dv.setUint32(4, s.seq >>> 0);
  dv.setUint32(8, s.ack >>> 0);
  out[12] = 5 << 4;
  out[13] = s.flags;
  dv.setUint16(14, s.window);
  out.set(s.data, 20);
  dv.setUint16(16, internetChecksum(out, pseudoHeaderSum(src, dst, IP_PROTOCOL.tcp, out.length)));
  return out;
}

export function decodeTcp(src: number, dst: number, b: Uint8Array): TcpSegment {
  if (b.length < 20) throw new PacketError("TCP segment is truncated");
  const offset = ((b[12] ?? 0) >> 4) * 4;
  if (offset < 20 || offset > b.length) throw new PacketError(`TCP data offset ${offset} is invalid`);
  if (onesSum(b, pseudoHeaderSum(src, dst, IP_PROTOCOL.tcp, b.length)) !== 0xffff) throw new PacketError("TCP checksum is wrong");
  const dv = view(b);
  return {
    srcPort: dv.getUint16(0),
    dstPort: dv.getUint16(2),
    seq: dv.getUint32(4),
    ack: dv.getUint32(8),
    flags: b[13] ?? 0,
    window: dv.getUint16(14),
    data: b.subarray(offset),
  };
}
