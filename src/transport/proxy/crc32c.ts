/**
 * CRC-32C (Castagnoli), the checksum of the PROXY v2 `PP2_TYPE_CRC32C` TLV
 * (RFC 4960 Appendix B, RFC 3720 §B.4). Node's zlib only has the IEEE CRC-32,
 * whose polynomial differs, hence this module.
 */

// The polynomial 0x1EDC6F41 bit-reversed: the CRC is computed LSB first, as RFC 3720 specifies.
const POLY = 0x82f63b78;

const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/**
 * The CRC-32C of `buf`, as an unsigned 32-bit number. `seed` is the CRC of the
 * bytes before `buf`, so a checksum can be computed in pieces:
 * `crc32c(b, crc32c(a))` equals `crc32c(concat(a, b))` (zlib's convention).
 */
export function crc32c(buf: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  // The index is masked to 0..255, always inside the table.
  for (const byte of buf) crc = (TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return ~crc >>> 0;
}
