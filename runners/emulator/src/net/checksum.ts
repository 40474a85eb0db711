/** The Internet checksum (RFC 1071): 16-bit one's-complement sum, used by IPv4, ICMP, UDP and TCP. */

/** One's-complement sum of `data` as big-endian 16-bit words (odd length padded with a zero byte), not inverted. */
export function onesSum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < data.length; i += 2) sum += ((data[i] ?? 0) << 8) | (data[i + 1] ?? 0);
  if (data.length % 2 === 1) sum += (data[data.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum field value: the inverted one's-complement sum. A packet whose field is right sums to 0xFFFF. */
export function internetChecksum(data: Uint8Array, initial = 0): number {
  return ~onesSum(data, initial) & 0xffff;
}

/** Sum of the IPv4 pseudo-header UDP and TCP include in their checksum. */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  const b = new Uint8Array(12);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, src >>> 0);
  dv.setUint32(4, dst >>> 0);
  b[9] = protocol;
  dv.setUint16(10, length);
  return onesSum(b);
}
