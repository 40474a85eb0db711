/**
 * Ethernet captures reuse the emulator's pcap writer/reader (`../pcap.ts`) with LINKTYPE_ETHERNET (1); frames are
 * stored without the FCS, as is conventional for that link type (the FCS exists only on the simulated wire).
 */
import type { PcapRecord } from "../pcap.ts";
import { encodePcap } from "../pcap.ts";

export { PCAP_MEDIA_TYPE, decodePcap } from "../pcap.ts";
export const LINKTYPE_ETHERNET = 1;
export const ETHERNET_SNAPLEN = 65535;

/** A pcap of Ethernet frames, ordered by time (ports transmit concurrently, so recording order may differ). */
export function encodeEthernetPcap(records: readonly PcapRecord[]): Uint8Array {
  const file = encodePcap(
    [...records].sort((a, b) => a.timestampUs - b.timestampUs),
    LINKTYPE_ETHERNET,
  );
  // The shared writer's snap length is 802.15.4's 127 bytes; Ethernet frames need the customary 65535.
  new DataView(file.buffer, file.byteOffset, file.byteLength).setUint32(16, ETHERNET_SNAPLEN, true);
  return file;
}
