/**
 * Text that keeps its bytes: the `'utf8-escape'` reading of the line decoder
 * and its inverse, like Python's `surrogateescape`.
 *
 * Valid UTF-8 decodes as UTF-8. Every byte that is not part of a valid UTF-8
 * sequence (Unicode's Table 3-7: no overlongs, no surrogates, nothing over
 * U+10FFFF) becomes the lone surrogate U+DC00 + byte, so bytes 0x80–0xFF
 * become U+DC80–U+DCFF; ASCII is always itself. `encodeText` turns such a
 * string back into the exact bytes it was read from, whatever they were, so a
 * server can relay Latin-1, KOI8-R or CP1251 text byte for byte while its
 * handlers still see strings.
 */
import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';

// String.prototype.isWellFormed is ES2024, in Node since 20; the project's lib
// is ES2023. A cast, not a global declaration, so consumers' types are untouched.
interface WellFormedCheck {
  isWellFormed(): boolean;
}

const ESCAPE_FIRST = 0xdc80;
const ESCAPE_LAST = 0xdcff;

/** The exact bytes a decoded string stands for (inverse of the 'utf8-escape' reading). */
export function encodeText(s: string): Buffer {
  // Nearly every string holds no lone surrogate: Node's own encoder, then.
  if ((s as unknown as WellFormedCheck).isWellFormed()) return Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(textByteLength(s));
  let pos = 0;
  const len = s.length;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      out[pos++] = c;
    } else if (c < 0x800) {
      out[pos++] = 0xc0 | (c >> 6);
      out[pos++] = 0x80 | (c & 0x3f);
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = c <= 0xdbff && i + 1 < len ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        out[pos++] = 0xf0 | (cp >> 18);
        out[pos++] = 0x80 | ((cp >> 12) & 0x3f);
        out[pos++] = 0x80 | ((cp >> 6) & 0x3f);
        out[pos++] = 0x80 | (cp & 0x3f);
        i++;
      } else if (c >= ESCAPE_FIRST && c <= ESCAPE_LAST) {
        // An escaped byte.
        out[pos++] = c - 0xdc00;
      } else {
        // Any other lone surrogate: U+FFFD, as Buffer.from and TextEncoder write it.
        out[pos++] = 0xef;
        out[pos++] = 0xbf;
        out[pos++] = 0xbd;
      }
    } else {
      out[pos++] = 0xe0 | (c >> 12);
      out[pos++] = 0x80 | ((c >> 6) & 0x3f);
      out[pos++] = 0x80 | (c & 0x3f);
    }
  }
  return out;
}

/** Byte length of encodeText(s), without allocating. */
export function textByteLength(s: string): number {
  if ((s as unknown as WellFormedCheck).isWellFormed()) return Buffer.byteLength(s, 'utf8');
  let n = 0;
  const len = s.length;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      n += 1;
    } else if (c < 0x800) {
      n += 2;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = c <= 0xdbff && i + 1 < len ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else {
        n += c >= ESCAPE_FIRST && c <= ESCAPE_LAST ? 1 : 3;
      }
    } else {
      n += 3;
    }
  }
  return n;
}

/** Decodes bytes [start, end) of buf the 'utf8-escape' way. */
export function decodeEscaped(buf: Uint8Array, start = 0, end: number = buf.length): string {
  end = Math.min(end, buf.length);
  start = Math.max(0, Math.min(start, end));
  // A plain Uint8Array view costs less than a Buffer one, and none is made for the whole of buf.
  const bytes = start === 0 && end === buf.length ? buf : new Uint8Array(buf.buffer, buf.byteOffset + start, end - start);
  if (isUtf8(bytes)) {
    return Buffer.isBuffer(buf) ? buf.toString('utf8', start, end) : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8');
  }
  return decodeInvalid(bytes);
}

// The UTF-16 units of the string being built: one JS pass over the bytes, then
// one native conversion. Grown as needed and kept (it is only used
// synchronously); one grown past the size of a long IRC line is not kept.
let scratch = new Uint16Array(1024);
const KEEP_SCRATCH = 16 * 1024;
const BIG_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 0;

/** The 'utf8-escape' reading of bytes known not to be valid UTF-8. */
function decodeInvalid(bytes: Uint8Array): string {
  const len = bytes.length;
  // A byte gives at most one UTF-16 unit (a 4-byte sequence gives two).
  const out = scratch.length >= len ? scratch : new Uint16Array(len);
  let n = 0;
  for (let i = 0; i < len; ) {
    const b = bytes[i] as number;
    if (b < 0x80) {
      out[n++] = b;
      i++;
      continue;
    }
    const k = sequenceLength(bytes, i, len, b);
    if (k === 2) {
      out[n++] = ((b & 0x1f) << 6) | ((bytes[i + 1] as number) & 0x3f);
      i += 2;
    } else if (k === 3) {
      out[n++] = ((b & 0x0f) << 12) | (((bytes[i + 1] as number) & 0x3f) << 6) | ((bytes[i + 2] as number) & 0x3f);
      i += 3;
    } else if (k === 4) {
      const cp =
        (((b & 0x07) << 18) |
          (((bytes[i + 1] as number) & 0x3f) << 12) |
          (((bytes[i + 2] as number) & 0x3f) << 6) |
          ((bytes[i + 3] as number) & 0x3f)) -
        0x10000;
      out[n++] = 0xd800 | (cp >> 10);
      out[n++] = 0xdc00 | (cp & 0x3ff);
      i += 4;
    } else {
      // Not part of a valid sequence: escaped.
      out[n++] = 0xdc00 + b;
      i++;
    }
  }
  const units = Buffer.from(out.buffer, out.byteOffset, n * 2);
  if (BIG_ENDIAN) units.swap16();
  const text = units.toString('utf16le');
  if (out !== scratch && out.length <= KEEP_SCRATCH) scratch = out;
  return text;
}

/**
 * For handlers that know a channel's legacy charset: the bytes of a decoded
 * string, read with a TextDecoder label (e.g. 'koi8-r', 'windows-1251',
 * 'latin1'). Labels are WHATWG's: 'latin1' reads as windows-1252.
 *
 * @throws RangeError for a label TextDecoder does not know.
 */
export function decodeLegacy(s: string, charset: string): string {
  let dec = decoders.get(charset);
  if (dec === undefined) {
    dec = new TextDecoder(charset);
    decoders.set(charset, dec);
  }
  return dec.decode(encodeText(s));
}

// A TextDecoder holds no state between calls made without `stream`: one per label will do.
const decoders = new Map<string, TextDecoder>();

/**
 * The length of the well-formed UTF-8 sequence that starts at buf[i] (whose
 * value b is at least 0x80) and ends by `len`, or 0 if none does (Table 3-7).
 */
function sequenceLength(buf: Uint8Array, i: number, len: number, b: number): number {
  if (b < 0xc2) return 0;
  const b1 = i + 1 < len ? (buf[i + 1] as number) : 0;
  if (b < 0xe0) return (b1 & 0xc0) === 0x80 ? 2 : 0;
  let lo = 0x80;
  let hi = 0xbf;
  if (b === 0xe0) lo = 0xa0;
  else if (b === 0xed) hi = 0x9f;
  else if (b === 0xf0) lo = 0x90;
  else if (b === 0xf4) hi = 0x8f;
  else if (b > 0xf4) return 0;
  if (b1 < lo || b1 > hi) return 0;
  const b2 = i + 2 < len ? (buf[i + 2] as number) : 0;
  if ((b2 & 0xc0) !== 0x80) return 0;
  if (b < 0xf0) return 3;
  const b3 = i + 3 < len ? (buf[i + 3] as number) : 0;
  return (b3 & 0xc0) === 0x80 ? 4 : 0;
}
