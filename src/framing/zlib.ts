/**
 * The compression codec of a compressed link ("ziplinks"): one zlib stream
 * per direction, knowing nothing of sockets or IRC.
 *
 * Wire format — the one POE::Filter::Zlib::Stream speaks, which is what the
 * Perl POEx::IRC::Backend puts on a compressed link:
 * - a zlib stream (RFC 1950: 2-byte header, raw deflate data, Adler-32 trailer
 *   that never comes, because a link never ends its stream) per direction;
 * - every batch of outbound bytes ends with a sync flush (Z_SYNC_FLUSH, the
 *   `00 00 ff ff` empty stored block), so the peer decodes every complete line
 *   of the batch as soon as the batch arrives;
 * - level 6 (Z_DEFAULT_COMPRESSION, Compress::Zlib's `deflateInit` default),
 *   window 2^15 bytes (windowBits 15 = MAX_WBITS, the default of both
 *   Compress::Zlib's `deflateInit` and `inflateInit`). memLevel is 8, zlib's
 *   own default (Compress::Zlib uses 9); it only sizes the compressor's hash
 *   tables and is invisible on the wire. The inflater uses windowBits 15, so it
 *   reads a peer that compresses with any window.
 *
 * Timing: `onData` and `onError` are never called from inside `write()` or
 * `close()`; they run later, from Node's zlib completion callbacks (zlib works
 * on the libuv threadpool). Outputs come out in the order their inputs went
 * in. After `close()`, or after `onError`, neither callback is ever called
 * again. The callbacks must not throw: they run inside zlib's completion
 * callback, where a throw is an uncaught exception. zlib reads a written
 * Buffer on another thread, so it must not be changed after `write()`.
 */

import zlib from 'node:zlib';
import { IrcArgumentError, IrcLimitError, IrcZlibError } from '../errors.js';
import type { IrcsockError } from '../errors.js';
import { DEFAULT_LIMITS } from '../limits.js';
import { checkKeys } from '../options.js';

/** zlib level used when none is given: Z_DEFAULT_COMPRESSION (level 6), as Compress::Zlib. */
export const DEFAULT_DEFLATE_LEVEL = zlib.constants.Z_DEFAULT_COMPRESSION;
/** windowBits for both directions: MAX_WBITS, as Compress::Zlib. */
export const ZLIB_WINDOW_BITS = 15;
/**
 * Default bound on the inflated bytes one compressed socket read may yield.
 * A read is at most 64 KiB, so this allows a 64:1 ratio on full reads — a
 * burst of near-identical lines between two servers compresses that well —
 * and any ratio on small ones, while a bomb (deflate reaches ~1032:1) is cut
 * off after 4 MiB of output per read. Memory is bounded anyway (lines are
 * dispatched as they inflate; the decoder and ReadQ bound what waits): this
 * bounds the work one read can cost. `limits.maxInflatePerRead` sets it.
 */
export const DEFAULT_MAX_INFLATED_PER_CHUNK = DEFAULT_LIMITS.maxInflatePerRead;
/** Inflated output is handed on in pieces of at most this size. */
export const INFLATE_CHUNK_SIZE = 16 * 1024;

export interface LinkInflaterOptions {
  /** Inflated bytes, in order, in pieces of at most {@link INFLATE_CHUNK_SIZE}. */
  onData: (chunk: Buffer) => void;
  /** Called at most once: `ERR_ZLIB` (corrupt input, `cause` is zlib's error) or `ERR_ZLIB_BOMB`. */
  onError: (err: IrcsockError) => void;
  /** Most inflated bytes one `write()` may yield; default {@link DEFAULT_MAX_INFLATED_PER_CHUNK}. */
  maxInflatedPerChunk?: number;
  /**
   * Called when zlib has nothing left to do: every byte written so far has
   * been inflated and handed to `onData` (after `stopAtBatchEnd()`: every
   * byte up to the batch end).
   */
  onDrain?: () => void;
}

export interface LinkDeflaterOptions {
  /** One compressed chunk per `write()`, ending with a sync flush, in order. */
  onData: (chunk: Buffer) => void;
  /** Called at most once, with an `ERR_ZLIB` error whose `cause` is zlib's error. */
  onError: (err: IrcsockError) => void;
  /** zlib level, -1 (default, = 6) to 9. */
  level?: number;
}

const INFLATER_KEYS = ['onData', 'onError', 'maxInflatedPerChunk', 'onDrain'];
const DEFLATER_KEYS = ['onData', 'onError', 'level'];

function checkOptions(what: string, opts: LinkInflaterOptions | LinkDeflaterOptions, known: readonly string[]): void {
  checkKeys(what, opts, known);
  if (typeof opts.onData !== 'function' || typeof opts.onError !== 'function') {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${what}: options 'onData' and 'onError' must be functions`);
  }
}

function zlibError(direction: string, err: unknown): IrcZlibError {
  const detail = err instanceof Error ? err.message : String(err);
  return new IrcZlibError(`${direction} failed on the compressed link: ${detail}`, { cause: err });
}

const EMPTY = Buffer.alloc(0);

/** Part of a write(): `endsBatch` when it ends with a flush marker, `last` when it ends the write. */
interface Piece {
  bytes: Buffer;
  last: boolean;
  endsBatch: boolean;
}

/** Pieces of one write() are adjacent views of its chunk: one view over them all, no copy. */
function joinPieces(pieces: readonly Piece[]): Buffer {
  const first = (pieces[0] as Piece).bytes;
  let length = 0;
  let adjacent = true;
  for (const p of pieces) {
    if (p.bytes.buffer !== first.buffer || p.bytes.byteOffset !== first.byteOffset + length) adjacent = false;
    length += p.bytes.length;
  }
  return adjacent ? Buffer.from(first.buffer, first.byteOffset, length) : Buffer.concat(pieces.map((p) => p.bytes), length);
}

const FLUSH_MARKER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/**
 * Where the flush markers (`00 00 ff ff`, the empty stored block that ends a
 * sync or full flush) end in `chunk`, as offsets into it; `tail` is up to 3
 * bytes that came before, so a marker split across writes is found too. The
 * pattern may also occur inside compressed data by chance: cutting there is
 * harmless, zlib takes its input in any pieces.
 */
function* flushEnds(tail: Buffer, chunk: Buffer): Generator<number> {
  // Markers that start in the tail and end in this chunk.
  for (let k = 1; k <= 3 && k <= chunk.length; k++) {
    const need = 4 - k;
    if (tail.length < need) continue;
    const head = Buffer.concat([tail.subarray(tail.length - need), chunk.subarray(0, k)]);
    if (head.equals(FLUSH_MARKER)) {
      yield k;
      break;
    }
  }
  let at = chunk.indexOf(FLUSH_MARKER);
  while (at >= 0) {
    yield at + 4;
    at = chunk.indexOf(FLUSH_MARKER, at + 4);
  }
}

/**
 * Inflates the peer's compressed stream. Feed it the bytes after the peer's
 * switch point (the line decoder's remainder first), then every later socket
 * chunk, with `write()`.
 */
export class LinkInflater {
  readonly #onData: (chunk: Buffer) => void;
  readonly #onDrain: (() => void) | undefined;
  readonly #onError: (err: IrcsockError) => void;
  readonly #maxPerChunk: number;
  #stream: zlib.Inflate | undefined;
  // Output counted against the write() being processed. zlib handles writes
  // one at a time and pushes all output of a write before its callback runs,
  // so resetting in that callback attributes output to the right chunk.
  #inflatedThisChunk = 0;
  #inflatedTotal = 0;
  // Pieces (one flushed batch each) not yet handed to zlib, and whether the
  // piece ends a write(); zlib holds at most one piece at a time.
  #queue: Piece[] = [];
  #queued = 0;
  #inFlight = 0;
  #busy = false;
  // Whether what zlib has taken so far ends at a batch end (a flush marker);
  // before any input it does: nothing of a batch has been taken.
  #atBatchEnd = true;
  #stopAtEnd = false;
  // The last bytes of the previous write, to find a marker split across writes.
  #tail: Buffer = EMPTY;

  constructor(opts: LinkInflaterOptions) {
    checkOptions('LinkInflater', opts, INFLATER_KEYS);
    const max = opts.maxInflatedPerChunk ?? DEFAULT_MAX_INFLATED_PER_CHUNK;
    if (!Number.isSafeInteger(max) || max < INFLATE_CHUNK_SIZE) {
      throw new IrcArgumentError(
        'ERR_INVALID_OPTION',
        `LinkInflater: 'maxInflatedPerChunk' must be an integer of at least ${INFLATE_CHUNK_SIZE} bytes, got ${String(max)}`,
      );
    }
    this.#onData = opts.onData;
    this.#onDrain = opts.onDrain;
    this.#onError = opts.onError;
    this.#maxPerChunk = max;
    const stream = zlib.createInflate({
      chunkSize: INFLATE_CHUNK_SIZE,
      windowBits: ZLIB_WINDOW_BITS,
      // Inflate gives out all it can either way; SYNC states the intent.
      flush: zlib.constants.Z_SYNC_FLUSH,
    });
    stream.on('data', (chunk: Buffer) => {
      this.#onChunk(chunk);
    });
    stream.on('error', (err) => {
      this.#fail(zlibError('inflate', err));
    });
    // A zlib stream that ended (the peer sent Z_FINISH) and is followed by
    // more bytes: those bytes can never be decoded, so the link is broken.
    stream.on('end', () => {
      this.#fail(new IrcZlibError('inflate failed on the compressed link: data after the end of the zlib stream'));
    });
    this.#stream = stream;
  }

  /** Whether the inflater was closed, by `close()` or after an error. */
  get closed(): boolean {
    return this.#stream === undefined;
  }

  /** Compressed bytes handed to `write()` and not yet inflated (for a read-queue limit). */
  get pending(): number {
    return this.#stream === undefined ? 0 : this.#queued + this.#inFlight;
  }

  /** Total inflated bytes handed to `onData` so far. */
  get inflatedBytes(): number {
    return this.#inflatedTotal;
  }

  /**
   * Queue compressed bytes; ignored once closed. The bytes are handed to zlib
   * one flushed batch at a time — cut after every sync/full flush marker
   * (`00 00 ff ff`) — so that `stopAtBatchEnd()` can leave unread whatever
   * follows the peer's last compressed batch: its plain bytes after it went
   * back to plain (unsetCompressedLink), within the same socket read or not.
   */
  write(chunk: Buffer): void {
    if (this.#stream === undefined || chunk.length === 0) return;
    let start = 0;
    for (const end of flushEnds(this.#tail, chunk)) {
      if (end > start) this.#queue.push({ bytes: chunk.subarray(start, end), last: false, endsBatch: true });
      start = end;
    }
    if (start < chunk.length) this.#queue.push({ bytes: chunk.subarray(start), last: false, endsBatch: false });
    const lastPiece = this.#queue[this.#queue.length - 1];
    if (lastPiece !== undefined) lastPiece.last = true;
    this.#queued += chunk.length;
    this.#tail = chunk.length >= 3 ? chunk.subarray(chunk.length - 3) : Buffer.concat([this.#tail, chunk]).subarray(-3);
    if (!this.#busy) this.#pump();
  }

  /**
   * The peer went back to plain: inflate up to the end of the batch under way
   * (the next flush marker, which may still have to arrive) and no further.
   * Bytes after it stay unread, for `takeRest()`. `onDrain` runs when the
   * batch is done; `finished` tells.
   */
  stopAtBatchEnd(): void {
    this.#stopAtEnd = true;
  }

  /** After `stopAtBatchEnd()`: whether the batch under way has been inflated and handed on. */
  get finished(): boolean {
    return this.#stopAtEnd && !this.#busy && this.#atBatchEnd;
  }

  /** The bytes written but never handed to zlib (after `stopAtBatchEnd()`: those past the batch end), in order; empties the queue. */
  takeRest(): Buffer[] {
    const rest = this.#queue.map((p) => p.bytes);
    this.#queue = [];
    this.#queued = 0;
    this.#tail = EMPTY;
    return rest;
  }

  /**
   * Hands zlib its next input, if it may; whether it did. One zlib call (one
   * threadpool round trip) per write() as a rule, not per batch: a peer that
   * flushes after every line (the Perl original) puts hundreds of batches in
   * one socket read. The call ends at the write's last batch end, and the
   * bytes after it go in a call of their own, so that a peer going back to
   * plain right after a batch — in the same read — is never inflated: plain
   * IRC text holds no NUL, so never a flush marker. (A peer that goes back to
   * plain and compresses again within a single read is not supported.) Once
   * `stopAtBatchEnd()` was called, one batch per call, up to the batch end.
   */
  #pump(): boolean {
    const stream = this.#stream;
    if (stream === undefined || (this.#stopAtEnd && this.#atBatchEnd)) return false;
    const queue = this.#queue;
    if (queue.length === 0) return false;
    let n = 1;
    if (!this.#stopAtEnd) {
      let group = 0;
      while (group < queue.length && !(queue[group] as Piece).last) group++;
      group = Math.min(group + 1, queue.length);
      n = (queue[group - 1] as Piece).endsBatch || group === 1 ? group : group - 1;
    }
    const pieces = queue.splice(0, n);
    const lastPiece = pieces[n - 1] as Piece;
    const bytes = n === 1 ? (pieces[0] as Piece).bytes : joinPieces(pieces);
    this.#busy = true;
    this.#queued -= bytes.length;
    this.#inFlight = bytes.length;
    stream.write(bytes, () => {
      if (this.#stream !== stream) return;
      this.#busy = false;
      this.#inFlight = 0;
      this.#atBatchEnd = lastPiece.endsBatch;
      // The bomb bound counts per socket read, whatever it was cut into.
      if (lastPiece.last) this.#inflatedThisChunk = 0;
      if (!this.#pump()) this.#onDrain?.();
    });
    return true;
  }

  /**
   * Stops handing on inflated bytes until `resume()`: zlib finishes the piece
   * it holds (at most one socket read, bounded by the bomb guard) and takes no
   * more, so a paused connection does not keep filling its line decoder.
   */
  pause(): void {
    this.#stream?.pause();
  }

  resume(): void {
    this.#stream?.resume();
  }

  /** Free the zlib handle now; no callback runs after this. Idempotent. */
  close(): void {
    const stream = this.#stream;
    if (stream === undefined) return;
    this.#stream = undefined;
    this.#queue = [];
    this.#queued = 0;
    this.#inFlight = 0;
    // destroy() closes the native handle synchronously (or as soon as a
    // threadpool job in flight returns); the 'error' listener stays attached
    // so a late error can never become an uncaught exception.
    stream.destroy();
  }

  #onChunk(chunk: Buffer): void {
    if (this.#stream === undefined) return;
    this.#inflatedThisChunk += chunk.length;
    if (this.#inflatedThisChunk > this.#maxPerChunk) {
      this.#fail(
        new IrcLimitError(
          'ERR_ZLIB_BOMB',
          `compressed input inflates to more than ${this.#maxPerChunk} bytes per chunk read`,
          this.#maxPerChunk,
        ),
      );
      return;
    }
    this.#inflatedTotal += chunk.length;
    this.#onData(chunk);
  }

  #fail(err: IrcsockError): void {
    if (this.#stream === undefined) return;
    // Destroy first: inflating stops at once (Node checks `destroyed` after
    // every push) and a consumer that throws cannot leave the stream running.
    this.close();
    this.#onError(err);
  }
}

/**
 * Compresses outbound batches. Each `write(batch)` yields exactly one
 * `onData` chunk that ends with a sync flush, in the order of the writes.
 */
export class LinkDeflater {
  readonly #onData: (chunk: Buffer) => void;
  readonly #onError: (err: IrcsockError) => void;
  #stream: zlib.Deflate | undefined;
  // Output received through 'data' but not yet handed on.
  #out: Buffer[] = [];
  #outBytes = 0;
  #outTotal = 0;
  // Per finished batch, the value of #outTotal at which its output ends.
  #ends: number[] = [];
  // Per batch not yet handed on, its input size.
  #sizes: number[] = [];
  #pending = 0;

  constructor(opts: LinkDeflaterOptions) {
    checkOptions('LinkDeflater', opts, DEFLATER_KEYS);
    const level = opts.level ?? DEFAULT_DEFLATE_LEVEL;
    if (!Number.isInteger(level) || level < -1 || level > 9) {
      throw new IrcArgumentError(
        'ERR_INVALID_OPTION',
        `LinkDeflater: 'level' must be an integer from -1 (default) to 9, got ${String(level)}`,
      );
    }
    this.#onData = opts.onData;
    this.#onError = opts.onError;
    const stream = zlib.createDeflate({
      level,
      windowBits: ZLIB_WINDOW_BITS,
      memLevel: 8,
      chunkSize: 16 * 1024,
      // Each write() ends with Z_SYNC_FLUSH in the same zlib call: one
      // threadpool round trip per batch instead of a write plus a flush.
      flush: zlib.constants.Z_SYNC_FLUSH,
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.#stream === undefined) return;
      this.#out.push(chunk);
      this.#outBytes += chunk.length;
      this.#outTotal += chunk.length;
      this.#emit();
    });
    stream.on('error', (err) => {
      this.#fail(zlibError('deflate', err));
    });
    this.#stream = stream;
  }

  /** Whether the deflater was closed, by `close()` or after an error. */
  get closed(): boolean {
    return this.#stream === undefined;
  }

  /** Bytes handed to `write()` whose compressed form has not been emitted yet (for SendQ). */
  get pending(): number {
    return this.#pending;
  }

  /** Compress this batch and end it with a sync flush; empty batches and writes after close are ignored. */
  write(batch: Buffer): void {
    const stream = this.#stream;
    if (stream === undefined || batch.length === 0) return;
    this.#pending += batch.length;
    this.#sizes.push(batch.length);
    stream.write(batch, (err) => {
      if (err !== null && err !== undefined) return; // reported through 'error'
      if (this.#stream !== stream) return;
      // All output of this batch has been pushed by now; what has not come
      // through 'data' yet still sits in the readable buffer, so the batch
      // ends where both together end.
      this.#ends.push(this.#outTotal + stream.readableLength);
      this.#emit();
    });
  }

  /** Free the zlib handle now; no callback runs after this. Idempotent. */
  close(): void {
    const stream = this.#stream;
    if (stream === undefined) return;
    this.#stream = undefined;
    this.#out = [];
    this.#outBytes = 0;
    this.#ends = [];
    this.#sizes = [];
    this.#pending = 0;
    stream.destroy();
  }

  #emit(): void {
    for (;;) {
      const end = this.#ends[0];
      if (end === undefined || this.#outTotal < end || this.#stream === undefined) return;
      // Output chunks never straddle a batch end, so the batch is exactly
      // the chunks received up to `end`.
      const before = this.#outTotal - this.#outBytes;
      let bytes = 0;
      let count = 0;
      while (before + bytes < end) {
        const chunk = this.#out[count];
        if (chunk === undefined) break;
        bytes += chunk.length;
        count += 1;
      }
      const parts = this.#out.splice(0, count);
      this.#outBytes -= bytes;
      this.#ends.shift();
      this.#pending -= this.#sizes.shift() ?? 0;
      const first = parts[0];
      if (first === undefined) continue;
      this.#onData(parts.length === 1 ? first : Buffer.concat(parts, bytes));
    }
  }

  #fail(err: IrcsockError): void {
    if (this.#stream === undefined) return;
    this.close();
    this.#onError(err);
  }
}
