/** Golden vectors for the Ethernet/IP encoders: published or independently computed values, not our own output. */
import { describe, expect, it } from "vitest";
import { crc32 } from "../src/crc.ts";
import { internetChecksum, onesSum } from "../src/net/checksum.ts";
import { appendFcs, encodeEthernet, fcsValid } from "../src/net/ethernet.ts";
import { decodeIcmpEcho, decodeIpv4, decodeUdp, encodeArp, encodeIcmpEcho, encodeIpv4, encodeUdp, parseIp } from "../src/net/packets.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (h) => Number.parseInt(h, 16));

describe("Ethernet FCS (CRC-32/IEEE)", () => {
  it('check value: "123456789" -> 0xCBF43926', () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });

  it("ARP who-has 192.168.1.50 tell 192.168.1.1, padded to 60 bytes, gets FCS 0x2C4918FD sent as FD 18 49 2C", () => {
    const frame = encodeEthernet({
      dst: "ff:ff:ff:ff:ff:ff",
      src: "02:00:00:00:00:01",
      etherType: 0x0806,
      payload: encodeArp({
        op: 1,
        senderMac: "02:00:00:00:00:01",
        senderIp: parseIp("192.168.1.1"),
        targetMac: "00:00:00:00:00:00",
        targetIp: parseIp("192.168.1.50"),
      }),
    });
    expect(frame.length).toBe(60);
    const expected = [
      "ffffffffffff",
      "020000000001",
      "0806",
      "0001",
      "0800",
      "06",
      "04",
      "0001",
      "020000000001",
      "c0a80101",
      "000000000000",
      "c0a80132",
    ];
    expect([...frame.subarray(0, 42)]).toEqual([...hex(expected.join(""))]);
    expect(frame.subarray(42).every((b) => b === 0)).toBe(true);
    const wire = appendFcs(frame);
    expect([...wire.subarray(60)]).toEqual([0xfd, 0x18, 0x49, 0x2c]);
    // CRC over frame || FCS is the IEEE residue 0x2144DF1C.
    expect(crc32(wire)).toBe(0x2144df1c);
    expect(fcsValid(wire)).toBe(true);
    wire[10] = (wire[10] ?? 0) ^ 0x04;
    expect(fcsValid(wire)).toBe(false);
  });
});

describe("Internet checksums", () => {
  it("IPv4 header 4500 0020 0000 4000 4001 .... c0a80101 c0a80132 -> 0xB759", () => {
    expect(internetChecksum(hex("450000200000400040010000c0a80101c0a80132"))).toBe(0xb759);
    const ip = encodeIpv4({
      src: parseIp("192.168.1.1"),
      dst: parseIp("192.168.1.50"),
      protocol: 1,
      ttl: 64,
      id: 0,
      payload: new Uint8Array(12),
    });
    expect([...ip.subarray(10, 12)]).toEqual([0xb7, 0x59]);
    expect(decodeIpv4(ip).dst).toBe(parseIp("192.168.1.50"));
  });

  it("ICMP echo request id 1 seq 1 'abcd' -> 0x3337, and a flipped byte is rejected", () => {
    const icmp = encodeIcmpEcho({ type: 8, id: 1, seq: 1, data: new TextEncoder().encode("abcd") });
    expect([...icmp]).toEqual([0x08, 0x00, 0x33, 0x37, 0x00, 0x01, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64]);
    expect(onesSum(icmp)).toBe(0xffff);
    icmp[9] = (icmp[9] ?? 0) ^ 1;
    expect(() => decodeIcmpEcho(icmp)).toThrow(/checksum/);
  });

  it("UDP 192.168.1.1:7 -> 192.168.1.50:40007 'abcd' has checksum 0x1B3D (computed with Python's struct, separately)", () => {
    const src = parseIp("192.168.1.1");
    const dst = parseIp("192.168.1.50");
    const udp = encodeUdp(src, dst, { srcPort: 7, dstPort: 40007, data: new TextEncoder().encode("abcd") });
    expect([...udp.subarray(6, 8)]).toEqual([0x1b, 0x3d]);
    expect(new TextDecoder().decode(decodeUdp(src, dst, udp).data)).toBe("abcd");
    // The pseudo-header counts: the same bytes to another address fail the check.
    expect(() => decodeUdp(src, parseIp("192.168.1.51"), udp)).toThrow(/checksum/);
  });
});
