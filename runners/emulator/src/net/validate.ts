/**
 * Strict decoding of a captured Ethernet frame (no FCS) down to its transport layer, for checking captures: a
 * frame is well-formed when its EtherType is one the lab uses and every layer's lengths and checksums verify.
 */
import type { EthernetFrame } from "./ethernet.ts";
import { ETHERTYPE, FrameError, MIN_FRAME, decodeEthernet } from "./ethernet.ts";
import { IP_PROTOCOL, PacketError, decodeArp, decodeIcmpEcho, decodeIpv4, decodeTcp, decodeUdp } from "./packets.ts";

/** The decoded frame, or undefined when any layer is malformed (or the frame is shorter than the 60-byte minimum). */
export function decodeEthernetFrame(frame: Uint8Array): EthernetFrame | undefined {
  try {
    if (frame.length < MIN_FRAME) return undefined;
    const eth = decodeEthernet(frame);
    if (eth.etherType === ETHERTYPE.arp) decodeArp(eth.payload);
    else if (eth.etherType === ETHERTYPE.ipv4) {
      const ip = decodeIpv4(eth.payload);
      if (ip.protocol === IP_PROTOCOL.icmp) decodeIcmpEcho(ip.payload);
      else if (ip.protocol === IP_PROTOCOL.udp) decodeUdp(ip.src, ip.dst, ip.payload);
      else if (ip.protocol === IP_PROTOCOL.tcp) decodeTcp(ip.src, ip.dst, ip.payload);
      else return undefined;
    } else if (eth.etherType !== 0x88b5) return undefined; // 0x88B5: IEEE local experimental (the tap probe)
    return eth;
  } catch (err) {
    if (err instanceof FrameError || err instanceof PacketError) return undefined;
    throw err;
  }
}
