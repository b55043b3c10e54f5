/**
 * RFC 6455 data frames as a server writes them (unmasked, FIN set, no
 * extension bits), for a whole batch of IRC lines at once: one Buffer, one
 * socket write. `ws` frames one message per `send()`, each its own socket
 * write; a fan-out to a few hundred web clients would pay that per line.
 */
import { isUtf8 } from 'node:buffer';

const CR = 0x0d;
const LF = 0x0a;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const FIN = 0x80;

/** Header bytes of an unmasked frame carrying `len` payload bytes. */
export function headerLength(len: number): number {
  return len < 126 ? 2 : len < 0x10000 ? 4 : 10;
}

function writeHeader(out: Buffer, at: number, opcode: number, len: number): number {
  out[at] = FIN | opcode;
  if (len < 126) {
    out[at + 1] = len;
    return at + 2;
  }
  if (len < 0x10000) {
    out[at + 1] = 126;
    out.writeUInt16BE(len, at + 2);
    return at + 4;
  }
  out[at + 1] = 127;
  // A line is never near 2^53 bytes: the high word is 0.
  out.writeUInt32BE(Math.floor(len / 0x1_0000_0000), at + 2);
  out.writeUInt32BE(len >>> 0, at + 6);
  return at + 10;
}

/** The framed batch, and the payload bytes it carries (what `bytesOut` counts). */
export interface FramedBatch {
  frames: Buffer;
  payloadBytes: number;
}

/**
 * Frames every CRLF-terminated line of `data` as one message: binary frames,
 * or text frames — where a line is not valid UTF-8 it goes out with U+FFFD in
 * place of the bad bytes, since a text frame must be UTF-8. Bytes after the
 * last CRLF (a caller's raw write) become one more message.
 */
export function frameLines(data: Buffer, binary: boolean): FramedBatch {
  const opcode = binary ? OP_BINARY : OP_TEXT;
  // First pass: where each payload is, and its replacement when a text line is not UTF-8.
  const starts: number[] = [];
  const ends: number[] = [];
  const replaced = new Map<number, Buffer>();
  let total = 0;
  let payloadBytes = 0;
  let start = 0;
  while (start < data.length) {
    let end = data.indexOf(LF, start);
    let next: number;
    if (end < 0) {
      end = data.length;
      next = data.length;
    } else {
      next = end + 1;
      if (end > start && data[end - 1] === CR) end--;
    }
    let len = end - start;
    if (!binary && len > 0 && !isUtf8(data.subarray(start, end))) {
      const fixed = Buffer.from(data.toString('utf8', start, end), 'utf8');
      replaced.set(starts.length, fixed);
      len = fixed.length;
    }
    starts.push(start);
    ends.push(end);
    total += headerLength(len) + len;
    payloadBytes += len;
    start = next;
  }
  const frames = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = 0; i < starts.length; i++) {
    const fixed = replaced.get(i);
    const s = starts[i] as number;
    const e = ends[i] as number;
    const len = fixed === undefined ? e - s : fixed.length;
    at = writeHeader(frames, at, opcode, len);
    at += fixed === undefined ? data.copy(frames, at, s, e) : fixed.copy(frames, at);
  }
  return { frames, payloadBytes };
}

// Framed lines by the Buffer they came in, per frame kind: a fan-out shares
// one Buffer between all its targets, so each line is framed once.
const framedBinary = new WeakMap<Buffer, FramedBatch>();
const framedText = new WeakMap<Buffer, FramedBatch>();

/** {@link frameLines} of one queued chunk, cached for as long as the chunk lives. */
export function frameChunk(chunk: Buffer, binary: boolean): FramedBatch {
  const cache = binary ? framedBinary : framedText;
  let framed = cache.get(chunk);
  if (framed === undefined) {
    framed = frameLines(chunk, binary);
    cache.set(chunk, framed);
  }
  return framed;
}
