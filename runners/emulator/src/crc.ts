/** Checksums used on the air and in images. Table-free: frames are short and clarity beats speed here. */

/**
 * CRC-16/KERMIT, the IEEE 802.15.4 FCS: polynomial 0x1021 processed reflected (0x8408), init 0, no xorout.
 * The 802.15.4 PHY sends it LSB first, so frames append it little-endian (see `appendFcs`).
 */
export function crc16Kermit(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0;
  for (let i = start; i < end; i++) {
    crc ^= data[i] ?? 0;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x8408 : crc >>> 1;
  }
  return crc & 0xffff;
}

let crc32Table: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3 / zlib: reflected 0xEDB88320, init and xorout 0xFFFFFFFF), used by emulated kernel images. */
export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  if (!crc32Table) {
    crc32Table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crc32Table[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = (crc32Table[(crc ^ (data[i] ?? 0)) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
