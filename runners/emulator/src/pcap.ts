/**
 * Classic libpcap files of the 802.15.4 medium, one per channel, as a sniffer on that channel would record them.
 *
 * Link type 195 (LINKTYPE_IEEE802_15_4_WITHFCS): each record is the PSDU exactly as sent, FCS included, so
 * Wireshark checks the FCS itself. Timestamps are virtual time (microseconds since the lab's clock origin), which
 * keeps a capture byte-identical across runs with the same seed. Frames destroyed on the air (collisions, jamming)
 * are left out: a real sniffer would not have decoded them either. The decoder exists so tests can verify what
 * was written without relying on tshark.
 */
import { fcsValid } from "./frame.ts";

export const PCAP_MAGIC = 0xa1b2c3d4;
export const LINKTYPE_IEEE802_15_4_WITHFCS = 195;
export const PCAP_MEDIA_TYPE = "application/vnd.tcpdump.pcap";
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;
/** Largest PSDU on the 2.4 GHz O-QPSK PHY. */
const SNAPLEN = 127;

export type PcapRecord = { timestampUs: number; data: Uint8Array };

export function encodePcap(records: readonly PcapRecord[], linkType = LINKTYPE_IEEE802_15_4_WITHFCS): Uint8Array {
  const size = GLOBAL_HEADER + records.reduce((n, r) => n + RECORD_HEADER + r.data.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, PCAP_MAGIC, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setInt32(8, 0, true);
  dv.setUint32(12, 0, true);
  dv.setUint32(16, SNAPLEN, true);
  dv.setUint32(20, linkType, true);
  let at = GLOBAL_HEADER;
  for (const r of records) {
    const us = Math.max(0, Math.round(r.timestampUs));
    dv.setUint32(at, Math.floor(us / 1e6), true);
    dv.setUint32(at + 4, us % 1e6, true);
    dv.setUint32(at + 8, r.data.length, true);
    dv.setUint32(at + 12, r.data.length, true);
    out.set(r.data, at + RECORD_HEADER);
    at += RECORD_HEADER + r.data.length;
  }
  return out;
}

export type DecodedPcap = {
  linkType: number;
  snaplen: number;
  records: (PcapRecord & { fcsOk: boolean })[];
};

export class PcapDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PcapDecodeError";
  }
}

/** Parses a little-endian microsecond pcap; checks every header field a reader relies on and each frame's FCS. */
export function decodePcap(bytes: Uint8Array): DecodedPcap {
  if (bytes.length < GLOBAL_HEADER) throw new PcapDecodeError(`file of ${bytes.length} bytes has no global header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== PCAP_MAGIC) throw new PcapDecodeError("bad magic (expected little-endian microsecond pcap)");
  if (dv.getUint16(4, true) !== 2 || dv.getUint16(6, true) !== 4) throw new PcapDecodeError("unsupported pcap version");
  const snaplen = dv.getUint32(16, true);
  const linkType = dv.getUint32(20, true);
  const records: DecodedPcap["records"] = [];
  let at = GLOBAL_HEADER;
  let lastUs = 0;
  while (at < bytes.length) {
    if (at + RECORD_HEADER > bytes.length) throw new PcapDecodeError(`record header at ${at} is truncated`);
    const sec = dv.getUint32(at, true);
    const usec = dv.getUint32(at + 4, true);
    const incl = dv.getUint32(at + 8, true);
    const orig = dv.getUint32(at + 12, true);
    if (usec >= 1e6) throw new PcapDecodeError(`record at ${at}: microseconds field ${usec} out of range`);
    if (incl !== orig || incl > snaplen) throw new PcapDecodeError(`record at ${at}: lengths ${incl}/${orig} with snaplen ${snaplen}`);
    if (at + RECORD_HEADER + incl > bytes.length) throw new PcapDecodeError(`record at ${at}: data truncated`);
    const timestampUs = sec * 1e6 + usec;
    if (timestampUs < lastUs) throw new PcapDecodeError(`record at ${at}: timestamp goes backwards`);
    lastUs = timestampUs;
    const data = bytes.slice(at + RECORD_HEADER, at + RECORD_HEADER + incl);
    records.push({ timestampUs, data, fcsOk: fcsValid(data) });
    at += RECORD_HEADER + incl;
  }
  return { linkType, snaplen, records };
}
