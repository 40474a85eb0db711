import { describe, expect, it } from "vitest";
import { ackPsdu } from "./frame.ts";
import { PcapDecodeError, decodePcap, encodePcap } from "./pcap.ts";

describe("pcap", () => {
  it("writes the classic little-endian header with link type 195 and round-trips records", () => {
    const ack = ackPsdu(0x6a);
    const bytes = encodePcap([{ timestampUs: 1_500_123, data: ack }]);
    expect([...bytes.subarray(0, 24)]).toEqual([0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 127, 0, 0, 0, 195, 0, 0, 0]);
    // ts_sec 1, ts_usec 500123 (0x7a19b), incl = orig = 5, then the ACK with its on-air FCS e4 79.
    expect([...bytes.subarray(24)]).toEqual([1, 0, 0, 0, 0x9b, 0xa1, 0x07, 0, 5, 0, 0, 0, 5, 0, 0, 0, 0x02, 0x00, 0x6a, 0xe4, 0x79]);
    const decoded = decodePcap(bytes);
    expect(decoded.linkType).toBe(195);
    expect(decoded.records).toEqual([{ timestampUs: 1_500_123, data: ack, fcsOk: true }]);
  });

  it("flags a bad FCS and rejects truncated files", () => {
    const bad = ackPsdu(1);
    bad[4] = (bad[4] ?? 0) ^ 1;
    expect(decodePcap(encodePcap([{ timestampUs: 0, data: bad }])).records[0]?.fcsOk).toBe(false);
    const bytes = encodePcap([{ timestampUs: 0, data: ackPsdu(1) }]);
    expect(() => decodePcap(bytes.subarray(0, bytes.length - 1))).toThrow(PcapDecodeError);
  });
});
