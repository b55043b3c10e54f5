import { isAscii, isUtf8 } from 'node:buffer';
import { IrcLimitError, IrcLineTooLongError } from '../errors.js';
import { IRC_LIMITS } from '../message/limits.js';
import { decodeEscaped } from './text.js';

export interface LineDecoderOptions {
  /** Bytes allowed for the tag section, `@` and trailing space included. Default 8191 (IRCv3). */
  maxTagBytes?: number;
  /** Bytes allowed for the rest of the line, CRLF included. Default 512 (RFC 1459). */
  maxBodyBytes?: number;
  /**
   * How bytes become text. `'utf8-escape'` (the default): valid UTF-8 reads as
   * UTF-8 and every byte that is not part of a valid sequence becomes the lone
   * surrogate U+DC00 + byte (U+DC80–U+DCFF), as Python's `surrogateescape`
   * does; `encodeText` turns the string back into the exact bytes, so Latin-1,
   * KOI8-R or CP1251 text is relayed byte for byte, and `decodeLegacy` reads it
   * in a charset a handler knows. `'utf8-latin1'`: a line that is valid UTF-8
   * is read as UTF-8, any other line as Latin-1 (what irssi and WeeChat do
   * with their fallback charset; `Buffer.from(line, 'latin1')` gives the bytes
   * back only for such a line). `'utf8'`: invalid sequences become U+FFFD.
   */
  encoding?: 'utf8-escape' | 'utf8-latin1' | 'utf8';
  /**
   * How many bytes one over-long line may run to, counted from its start
   * (what was skipped included, the LF not), before the peer is deemed to be
   * sending an endless line: `next()` then yields one `IrcLimitError`
   * (`ERR_READQ_EXCEEDED`, `limit` = this bound) and the caller should close
   * the link. Default `Infinity`: over-long lines are skipped however long
   * they are. A connection passes its `limits.readQ`.
   */
  maxOverlongBytes?: number;
}

/**
 * What `next()` yields: a line (without CR/LF); an `IrcLineTooLongError`
 * (`ERR_LINE_TOO_LONG`) in the place of a line over the limits, which is
 * dropped, decoding going on; or, right after that error, an `IrcLimitError`
 * (`ERR_READQ_EXCEEDED`) once that line has run past `maxOverlongBytes`.
 */
export type DecodedLine = string | IrcLineTooLongError | IrcLimitError;

const LF = 0x0a;
const CR = 0x0d;
const SPACE = 0x20;
const AT = 0x40;
const REPLACEMENT = '\uFFFD';
const ESCAPE = 0;
const LATIN1 = 1;
const REPLACE = 2;
// Byte ranges narrower than this that hold a non-ASCII byte are not split further:
// their lines are simply all decoded as UTF-8.
const MIN_SPLIT = 512;
// Partial lines start in a small buffer and grow by doubling up to the limit;
// a connection that never sends a split line never allocates one.
const FIRST_PART_SIZE = 512;
const KEEP_PART_SIZE = 1024;

/**
 * Turns a byte stream into IRC lines: one instance per connection. LF or CRLF
 * ends a line (a lone CR does not); empty lines are skipped. It is pull-based:
 * `write` a chunk, then call `next` until it returns `undefined`, so a caller
 * can stop at any line and `takeRemainder` the exact bytes that follow it
 * (e.g. to switch the link to zlib at that byte).
 *
 * A line over the limits is reported once, as an `IrcLineTooLongError` in the
 * line's place; the rest of it, up to the next LF, is skipped without being
 * kept, and decoding goes on with the next line. If that line runs past
 * `maxOverlongBytes`, one `IrcLimitError` (`ERR_READQ_EXCEEDED`) follows the
 * first error, whatever the chunking, so an endless line need not be read
 * forever; the decoder itself goes on skipping up to the next LF.
 */
export class LineDecoder {
  readonly maxTagBytes: number;
  readonly maxBodyBytes: number;
  readonly maxOverlongBytes: number;
  readonly #maxLine: number;
  // How invalid UTF-8 reads: ESCAPE, LATIN1 or REPLACE.
  readonly #mode: number;
  #chunk: Buffer | undefined = undefined;
  #pos = 0;
  #part: Buffer | undefined = undefined;
  #partLen = 0;
  #skipping = false;
  // Bytes of the over-long line being skipped, and whether it was reported as endless.
  #overlong = 0;
  #overlongReported = false;
  // The ERR_READQ_EXCEEDED error that follows the ERR_LINE_TOO_LONG just returned.
  #pending: IrcLimitError | undefined = undefined;
  // Complete lines of the current chunk, decoded in one go: one native call per
  // chunk instead of one per line is what makes the decoder run at GB/s.
  #text: string | undefined = undefined;
  #textBytes: Buffer | undefined = undefined;
  #textBase = 0;
  #textPos = 0;
  // Text offsets [from, to) of the stretches holding non-ASCII bytes, in order.
  // Created for the first chunk that has any: ASCII traffic never allocates it.
  #high: number[] | undefined = undefined;
  #highAt = 0;

  constructor(opts: LineDecoderOptions = {}) {
    this.maxTagBytes = opts.maxTagBytes ?? IRC_LIMITS.tagSection;
    this.maxBodyBytes = opts.maxBodyBytes ?? IRC_LIMITS.body;
    // The longest line kept, counted without its LF (a CR counts as body).
    this.#maxLine = this.maxTagBytes + this.maxBodyBytes - 1;
    const encoding = opts.encoding ?? 'utf8-escape';
    this.#mode = encoding === 'utf8-escape' ? ESCAPE : encoding === 'utf8-latin1' ? LATIN1 : REPLACE;
    this.maxOverlongBytes = opts.maxOverlongBytes ?? Infinity;
  }

  /**
   * True when the decoder holds nothing at all (no bytes, no partial or
   * skipped line, no error to report): a new decoder would behave the same,
   * so an owner may drop this one until more bytes come.
   */
  get empty(): boolean {
    return this.#chunk === undefined && this.#text === undefined && this.#partLen === 0 && !this.#skipping && this.#pending === undefined;
  }

  /** Bytes held: a partial line plus what has been written but not yet pulled. */
  get buffered(): number {
    const text = this.#text === undefined ? 0 : this.#text.length - this.#textPos;
    return text + this.#partLen + (this.#chunk === undefined ? 0 : this.#chunk.length - this.#pos);
  }

  write(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.#chunk === undefined) {
      this.#chunk = chunk;
      this.#pos = 0;
    } else {
      // The caller wrote before pulling everything: rare, so joining is fine.
      this.#chunk = Buffer.concat([this.#chunk.subarray(this.#pos), chunk]);
      this.#pos = 0;
    }
  }

  /** The next line, the error for a dropped line, or `undefined` when more bytes are needed. */
  next(): DecodedLine | undefined {
    for (;;) {
      if (this.#pending !== undefined) {
        const err = this.#pending;
        this.#pending = undefined;
        return err;
      }
      if (this.#text !== undefined) {
        const line = this.#nextText(this.#text);
        if (line !== undefined) return line;
        continue;
      }
      const chunk = this.#chunk;
      if (chunk === undefined) return undefined;
      const start = this.#pos;
      if (this.#partLen === 0 && !this.#skipping && this.#startText(chunk, start)) continue;
      const lf = chunk.indexOf(LF, start);
      if (lf < 0) {
        this.#chunk = undefined;
        return this.#stash(chunk, start);
      }
      this.#pos = lf + 1;
      if (this.#pos >= chunk.length) this.#chunk = undefined;
      if (this.#skipping) {
        this.#skipping = false;
        const total = this.#overlong + (lf - start);
        const reported = this.#overlongReported;
        this.#overlong = 0;
        this.#overlongReported = false;
        if (!reported && total > this.maxOverlongBytes) return this.#endless();
        continue;
      }

      let line: Buffer;
      if (this.#partLen > 0) {
        if (this.#partLen + (lf - start) > this.#maxLine) {
          const err = this.#overflow(this.#part as Buffer, 0, this.#partLen, chunk, start, lf);
          this.#followWithEndless(this.#partLen + (lf - start));
          this.#dropPart();
          return err;
        }
        this.#append(chunk, start, lf);
        line = (this.#part as Buffer).subarray(0, this.#partLen);
        this.#partLen = 0;
      } else {
        line = chunk.subarray(start, lf);
      }

      let end = line.length;
      if (end > 0 && line[end - 1] === CR) end--;
      if (end === 0) continue;
      const err = this.#checkLimits(line, end);
      if (err !== undefined) {
        this.#followWithEndless(line.length);
        this.#releasePart();
        return err;
      }
      const text = this.#decode(line, 0, end);
      this.#releasePart();
      return text;
    }
  }

  /**
   * Hands back every byte not yet returned as a line (a partial line and any
   * unpulled bytes) and empties the decoder.
   */
  takeRemainder(): Buffer {
    if (this.#text !== undefined) {
      const base = this.#textBase + this.#textPos;
      const textRest = (this.#textBytes as Buffer).subarray(base, this.#textBase + this.#text.length);
      this.#text = undefined;
      this.#textBytes = undefined;
      if (this.#chunk !== undefined) {
        this.#chunk = Buffer.concat([textRest, this.#chunk.subarray(this.#pos)]);
      } else {
        this.#chunk = textRest;
      }
      this.#pos = 0;
    }
    const part = this.#partLen > 0 ? (this.#part as Buffer).subarray(0, this.#partLen) : undefined;
    const rest = this.#chunk === undefined ? undefined : this.#chunk.subarray(this.#pos);
    const out =
      part === undefined
        ? rest ?? Buffer.alloc(0)
        : rest === undefined
          ? Buffer.from(part)
          : Buffer.concat([part, rest]);
    this.#chunk = undefined;
    this.#pos = 0;
    this.#partLen = 0;
    this.#part = undefined;
    this.#skipping = false;
    this.#overlong = 0;
    this.#overlongReported = false;
    this.#pending = undefined;
    return out;
  }

  /**
   * Takes every complete line of the chunk as one Latin-1 string: one native
   * call per chunk instead of one per line, and string offsets stay byte
   * offsets, so the limits need no byte counting. Only lines that hold a byte
   * over 0x7f are decoded again, alone, as UTF-8.
   */
  #startText(chunk: Buffer, start: number): boolean {
    const lastLf = chunk.lastIndexOf(LF);
    if (lastLf < start) return false;
    this.#text = chunk.toString('latin1', start, lastLf + 1);
    this.#textBytes = chunk;
    this.#textBase = start;
    this.#textPos = 0;
    // A fresh array when the last one was used: an emptied one keeps its backing store.
    if (this.#high !== undefined && this.#high.length > 0) this.#high = undefined;
    this.#highAt = 0;
    this.#markHigh(chunk, start, lastLf + 1, start);
    this.#pos = lastLf + 1;
    if (this.#pos >= chunk.length) this.#chunk = undefined;
    return true;
  }

  /**
   * Finds the stretches of [from, to) that hold non-ASCII bytes by halving at
   * line ends: a few SIMD `isAscii` calls per chunk instead of a scan per line.
   */
  #markHigh(chunk: Buffer, from: number, to: number, base: number): void {
    if (isAscii(view(chunk, from, to))) return;
    if (to - from > MIN_SPLIT) {
      const lf = chunk.indexOf(LF, (from + to) >>> 1);
      const mid = lf + 1;
      if (lf >= 0 && mid < to) {
        this.#markHigh(chunk, from, mid, base);
        this.#markHigh(chunk, mid, to, base);
        return;
      }
    }
    const high = (this.#high ??= []);
    const n = high.length;
    if (n > 0 && high[n - 1] === from - base) high[n - 1] = to - base;
    else high.push(from - base, to - base);
  }

  /** The next line of the current text; `undefined` once it is used up. */
  #nextText(text: string): DecodedLine | undefined {
    for (;;) {
      const start = this.#textPos;
      const lf = text.indexOf('\n', start);
      if (lf < 0) {
        this.#text = undefined;
        this.#textBytes = undefined;
        return undefined;
      }
      this.#textPos = lf + 1;
      let end = lf;
      if (end > start && text.charCodeAt(end - 1) === CR) end--;
      if (end === start) continue;

      let bodyStart = start;
      if (text.charCodeAt(start) === AT) {
        const sp = text.indexOf(' ', start);
        const tagEnd = sp < 0 || sp >= end ? end : sp + 1;
        if (tagEnd - start > this.maxTagBytes) {
          this.#followWithEndless(lf - start);
          return new IrcLineTooLongError('tags', this.maxTagBytes);
        }
        bodyStart = tagEnd;
      }
      // The body is counted with its CRLF, whatever the peer ended it with.
      if (end - bodyStart + 2 > this.maxBodyBytes) {
        this.#followWithEndless(lf - start);
        return new IrcLineTooLongError('body', this.maxBodyBytes);
      }

      const high = this.#high;
      if (high === undefined) return text.slice(start, end);
      while (this.#highAt < high.length && (high[this.#highAt + 1] as number) <= start) this.#highAt += 2;
      if (this.#highAt >= high.length || (high[this.#highAt] as number) >= end) return text.slice(start, end);
      const bytes = this.#textBytes as Buffer;
      const base = this.#textBase;
      return this.#decode(bytes, base + start, base + end);
    }
  }

  #stash(chunk: Buffer, start: number): IrcLimitError | undefined {
    const n = chunk.length - start;
    if (this.#skipping) {
      this.#overlong += n;
      if (!this.#overlongReported && this.#overlong > this.maxOverlongBytes) {
        this.#overlongReported = true;
        return this.#endless();
      }
      return undefined;
    }
    if (this.#partLen + n > this.#maxLine) {
      const err =
        this.#partLen > 0
          ? this.#overflow(this.#part as Buffer, 0, this.#partLen, chunk, start, chunk.length)
          : this.#overflow(chunk, start, chunk.length);
      this.#skipping = true;
      this.#overlong = this.#partLen + n;
      this.#overlongReported = false;
      if (this.#overlong > this.maxOverlongBytes) {
        this.#overlongReported = true;
        this.#pending = this.#endless();
      }
      this.#dropPart();
      return err;
    }
    this.#append(chunk, start, chunk.length);
    return undefined;
  }

  /** After an over-long line of `bytes` bytes (LF not counted), seen whole: the error that follows it, if any. */
  #followWithEndless(bytes: number): void {
    if (bytes > this.maxOverlongBytes) this.#pending = this.#endless();
  }

  #endless(): IrcLimitError {
    const limit = this.maxOverlongBytes;
    return new IrcLimitError('ERR_READQ_EXCEEDED', `a line ran past ${limit} bytes without a line feed`, limit);
  }

  #append(src: Buffer, start: number, end: number): void {
    const need = this.#partLen + (end - start);
    let part = this.#part;
    if (part === undefined || part.length < need) {
      let size = part === undefined ? FIRST_PART_SIZE : part.length * 2;
      while (size < need) size *= 2;
      const grown = Buffer.allocUnsafe(Math.min(size, this.#maxLine));
      if (part !== undefined && this.#partLen > 0) part.copy(grown, 0, 0, this.#partLen);
      this.#part = part = grown;
    }
    src.copy(part, this.#partLen, start, end);
    this.#partLen = need;
  }

  #dropPart(): void {
    this.#partLen = 0;
    this.#releasePart();
  }

  // A buffer grown for one long line is not kept for the life of the connection.
  #releasePart(): void {
    if (this.#part !== undefined && this.#part.length > KEEP_PART_SIZE) this.#part = undefined;
  }

  #checkLimits(line: Buffer, end: number): IrcLineTooLongError | undefined {
    let bodyStart = 0;
    if (line[0] === AT) {
      const sp = line.indexOf(SPACE);
      const tagSection = sp < 0 || sp >= end ? end : sp + 1;
      if (tagSection > this.maxTagBytes) return new IrcLineTooLongError('tags', this.maxTagBytes);
      bodyStart = tagSection;
    }
    // The body is counted with its CRLF, whatever the peer ended it with.
    if (end - bodyStart + 2 > this.maxBodyBytes) return new IrcLineTooLongError('body', this.maxBodyBytes);
    return undefined;
  }

  // The line so far is buf[start, end) followed by more[moreStart, moreEnd): a
  // partial line's tag section may end in the chunk that overflows it, and the
  // part reported must not depend on where the chunks were split.
  #overflow(
    buf: Buffer,
    start: number,
    end: number,
    more?: Buffer,
    moreStart = 0,
    moreEnd = 0,
  ): IrcLineTooLongError {
    if (buf[start] === AT) {
      let tagSection = -1;
      const sp = buf.indexOf(SPACE, start);
      if (sp >= 0 && sp < end) {
        tagSection = sp + 1 - start;
      } else if (more !== undefined) {
        const msp = more.indexOf(SPACE, moreStart);
        if (msp >= 0 && msp < moreEnd) tagSection = end - start + (msp + 1 - moreStart);
      }
      if (tagSection < 0 || tagSection > this.maxTagBytes) {
        return new IrcLineTooLongError('tags', this.maxTagBytes);
      }
    }
    return new IrcLineTooLongError('body', this.maxBodyBytes);
  }

  /** Bytes [start, end) of `buf` as text, by the encoding policy. No Buffer view is made unless needed. */
  #decode(buf: Buffer, start: number, end: number): string {
    const text = buf.toString('utf8', start, end);
    // Only a line holding U+FFFD can be invalid UTF-8, so valid text pays one scan.
    if (this.#mode === REPLACE || !text.includes(REPLACEMENT)) return text;
    // decodeEscaped checks the bytes itself (a valid U+FFFD is read again, rarely).
    if (this.#mode === ESCAPE) return decodeEscaped(buf, start, end);
    return isUtf8(view(buf, start, end)) ? text : buf.toString('latin1', start, end);
  }
}

// A plain Uint8Array view costs far less than Buffer#subarray, which goes
// through Buffer's species constructor: it matters at one call per line.
function view(buf: Buffer, start: number, end: number): Uint8Array {
  return new Uint8Array(buf.buffer, buf.byteOffset + start, end - start);
}
