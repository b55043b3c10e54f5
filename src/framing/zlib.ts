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
import { checkKeys } from '../options.js';

/** zlib level used when none is given: Z_DEFAULT_COMPRESSION (level 6), as Compress::Zlib. */
export const DEFAULT_DEFLATE_LEVEL = zlib.constants.Z_DEFAULT_COMPRESSION;
/** windowBits for both directions: MAX_WBITS, as Compress::Zlib. */
export const ZLIB_WINDOW_BITS = 15;
/**
 * Default bound on the inflated bytes one compressed input chunk may yield.
 * A socket read is at most 64 KiB, so this allows a 16:1 ratio on full reads
 * and any ratio on small ones (a repeated 8 KiB tagged line compresses to a
 * few dozen bytes), while a bomb (deflate reaches ~1032:1) is cut off after
 * 1 MiB of output per read.
 */
export const DEFAULT_MAX_INFLATED_PER_CHUNK = 1024 * 1024;
/** Inflated output is handed on in pieces of at most this size. */
export const INFLATE_CHUNK_SIZE = 16 * 1024;

export interface LinkInflaterOptions {
  /** Inflated bytes, in order, in pieces of at most {@link INFLATE_CHUNK_SIZE}. */
  onData: (chunk: Buffer) => void;
  /** Called at most once: `ERR_ZLIB` (corrupt input, `cause` is zlib's error) or `ERR_ZLIB_BOMB`. */
  onError: (err: IrcsockError) => void;
  /** Most inflated bytes one `write()` may yield; default {@link DEFAULT_MAX_INFLATED_PER_CHUNK}. */
  maxInflatedPerChunk?: number;
  /** Called when every byte written so far has been inflated and handed to `onData`. */
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
    return this.#stream?.writableLength ?? 0;
  }

  /** Total inflated bytes handed to `onData` so far. */
  get inflatedBytes(): number {
    return this.#inflatedTotal;
  }

  /** Queue compressed bytes; ignored once closed. */
  write(chunk: Buffer): void {
    const stream = this.#stream;
    if (stream === undefined || chunk.length === 0) return;
    stream.write(chunk, () => {
      this.#inflatedThisChunk = 0;
      if (this.#stream === stream && stream.writableLength === 0) this.#onDrain?.();
    });
  }

  /** Free the zlib handle now; no callback runs after this. Idempotent. */
  close(): void {
    const stream = this.#stream;
    if (stream === undefined) return;
    this.#stream = undefined;
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
