import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { LineDecoder, type LineDecoderOptions } from '../../src/framing/line-decoder.js';
import { IrcLimitError, IrcLineTooLongError, IrcParseError } from '../../src/errors.js';
import { encodeText } from '../../src/framing/text.js';
import { parseLine } from '../../src/message/parse.js';

// --- helpers ---------------------------------------------------------------

/**
 * A decoded line, a dropped line as `{ error: part }`, or the endless-line
 * error as `{ readq: limit }` (compared with deepEqual).
 */
type Out = string | { error: 'tags' | 'body' } | { readq: number };

function pull(dec: LineDecoder, out: Out[]): void {
  for (let x = dec.next(); x !== undefined; x = dec.next()) {
    if (typeof x === 'string') {
      out.push(x);
    } else if (x instanceof IrcLineTooLongError) {
      assert.equal(x.code, 'ERR_LINE_TOO_LONG');
      out.push({ error: x.part });
    } else {
      assert.ok(x instanceof IrcLimitError);
      assert.equal(x.code, 'ERR_READQ_EXCEEDED');
      out.push({ readq: x.limit });
    }
  }
}

/** Feeds the chunks, pulling after each write (or only at the end). */
function decode(chunks: readonly Buffer[], opts?: LineDecoderOptions, pullEach = true): Out[] {
  const dec = new LineDecoder(opts);
  const out: Out[] = [];
  for (const c of chunks) {
    dec.write(c);
    if (pullEach) pull(dec, out);
  }
  pull(dec, out);
  return out;
}

function isParseError(e: unknown): boolean {
  assert.ok(e instanceof IrcParseError);
  assert.equal(e.code, 'ERR_IRC_PARSE');
  return true;
}

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

function splitAt(buf: Buffer, points: readonly number[]): Buffer[] {
  const sorted = [...new Set(points)].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let prev = 0;
  for (const p of sorted) {
    if (p <= prev || p >= buf.length) continue;
    chunks.push(buf.subarray(prev, p));
    prev = p;
  }
  chunks.push(buf.subarray(prev));
  return chunks;
}

function byteByByte(buf: Buffer): Buffer[] {
  return Array.from({ length: buf.length }, (_, i) => buf.subarray(i, i + 1));
}

/**
 * An independent model of the 'utf8-escape' reading: at each byte, the
 * shortest run of 1 to 4 bytes that is valid UTF-8 is one character; a byte
 * that starts none is escaped as U+DC00 + byte.
 */
function escapeModel(line: Buffer): string {
  let out = '';
  for (let i = 0; i < line.length; ) {
    let k = 1;
    while (k <= 4 && !(i + k <= line.length && isUtf8(line.subarray(i, i + k)))) k++;
    if (k <= 4) {
      out += line.toString('utf8', i, i + k);
      i += k;
    } else {
      out += String.fromCharCode(0xdc00 + (line[i] as number));
      i++;
    }
  }
  return out;
}

/**
 * An independent model of the decoder, for a stream that ends with LF: split
 * at LF, drop one CR before it, skip empty lines, apply the limits (body
 * counted with CRLF; an over-long line of more than maxOverlongBytes before
 * its LF is followed by the endless-line error), then UTF-8 if valid, else
 * by the encoding.
 */
function reference(buf: Buffer, opts: LineDecoderOptions = {}): Out[] {
  const maxTag = opts.maxTagBytes ?? 8191;
  const maxBody = opts.maxBodyBytes ?? 512;
  const maxOverlong = opts.maxOverlongBytes ?? Infinity;
  const out: Out[] = [];
  const tooLong = (part: 'tags' | 'body', raw: Buffer): void => {
    out.push({ error: part });
    if (raw.length > maxOverlong) out.push({ readq: maxOverlong });
  };
  let start = 0;
  for (let lf = buf.indexOf(0x0a); lf >= 0; lf = buf.indexOf(0x0a, start)) {
    const raw = buf.subarray(start, lf);
    start = lf + 1;
    const line = raw.at(-1) === 0x0d ? raw.subarray(0, -1) : raw;
    if (line.length === 0) continue;
    let bodyStart = 0;
    if (line[0] === 0x40) {
      const sp = line.indexOf(0x20);
      bodyStart = sp < 0 ? line.length : sp + 1;
      if (bodyStart > maxTag) {
        tooLong('tags', raw);
        continue;
      }
    }
    if (line.length - bodyStart + 2 > maxBody) {
      tooLong('body', raw);
      continue;
    }
    if (opts.encoding === 'utf8' || isUtf8(line)) out.push(line.toString('utf8'));
    else if (opts.encoding === 'utf8-latin1') out.push(line.toString('latin1'));
    else out.push(escapeModel(line));
  }
  return out;
}

/** A small corpus with every case the decoder distinguishes (under small limits). */
const SMALL_OPTS: LineDecoderOptions = { maxTagBytes: 24, maxBodyBytes: 40 };
const SMALL_CORPUS = Buffer.concat([
  bytes('PING :a\r\n'),
  bytes('\r\n\n'),
  bytes(':n!u@h PRIVMSG #c :lone\rcr\n'),
  utf8('@t=1 PRIVMSG #c :日本語 é 🙂\r\n'),
  bytes('PRIVMSG #c :caf\xe9 latin-1\n'),
  bytes('PRIVMSG #c :nul\x00byte\r\n'),
  bytes(`PRIVMSG #c :${'b'.repeat(40)}\r\n`),
  bytes('@tag=x PING :after\r\n'),
  bytes(`@${'t'.repeat(30)} PING :x\r\n`),
  bytes(`@short ${'b'.repeat(50)}\n`),
  bytes('@only-tags\r\n'),
  bytes('END\r\r\n'),
]);

// --- framing ---------------------------------------------------------------

describe('LineDecoder: framing', () => {
  test('LF and CRLF both end a line', () => {
    assert.deepEqual(decode([bytes('A\nB\r\nC :x\r\n')]), ['A', 'B', 'C :x']);
  });

  test('empty lines are skipped', () => {
    assert.deepEqual(decode([bytes('\n\r\n\n\r\nA\n\n\r\nB\r\n\r\n')]), ['A', 'B']);
  });

  test('a lone CR is not a terminator and stays inside the line', () => {
    assert.deepEqual(decode([bytes('A\rB\n\rC\nD\r\r\nE\r')]), ['A\rB', '\rC', 'D\r']);
    // parseLine then refuses it.
    assert.throws(() => parseLine('A\rB'), isParseError);
  });

  test('NUL bytes pass through as data; parseLine rejects them', () => {
    const [line] = decode([bytes('PRIVMSG #c :a\0b\r\n')]);
    assert.equal(line, 'PRIVMSG #c :a\0b');
    assert.throws(() => parseLine(line), isParseError);
  });

  test('a partial line is kept across writes', () => {
    const dec = new LineDecoder();
    dec.write(bytes('PRIV'));
    assert.equal(dec.next(), undefined);
    assert.equal(dec.buffered, 4);
    dec.write(bytes('MSG #c :hi\r'));
    assert.equal(dec.next(), undefined);
    dec.write(bytes('\nPING'));
    assert.equal(dec.next(), 'PRIVMSG #c :hi');
    assert.equal(dec.next(), undefined);
    assert.equal(dec.buffered, 4);
    dec.write(bytes(' x\n'));
    assert.equal(dec.next(), 'PING x');
    assert.equal(dec.next(), undefined);
    assert.equal(dec.buffered, 0);
  });

  test('writing again before pulling loses nothing', () => {
    const dec = new LineDecoder();
    dec.write(bytes('A\r\nB'));
    dec.write(bytes('C\r\nD'));
    dec.write(bytes('\n'));
    const out: Out[] = [];
    pull(dec, out);
    assert.deepEqual(out, ['A', 'BC', 'D']);
  });

  test('an empty write changes nothing', () => {
    const dec = new LineDecoder();
    dec.write(Buffer.alloc(0));
    assert.equal(dec.next(), undefined);
    assert.equal(dec.buffered, 0);
  });
});

// --- chunking --------------------------------------------------------------

describe('LineDecoder: the same lines for the same bytes under any chunking', () => {
  const whole = decode([SMALL_CORPUS], SMALL_OPTS);

  test('the small corpus matches the reference model', () => {
    assert.deepEqual(whole, reference(SMALL_CORPUS, SMALL_OPTS));
    assert.ok(whole.some((x) => typeof x !== 'string' && 'error' in x && x.error === 'tags'));
    assert.ok(whole.some((x) => typeof x !== 'string' && 'error' in x && x.error === 'body'));
    assert.ok(whole.includes('PRIVMSG #c :caf\udce9 latin-1'));
    assert.ok(whole.includes('@t=1 PRIVMSG #c :日本語 é 🙂'));
    const latin1 = { ...SMALL_OPTS, encoding: 'utf8-latin1' } as const;
    assert.deepEqual(decode([SMALL_CORPUS], latin1), reference(SMALL_CORPUS, latin1));
    assert.ok(decode([SMALL_CORPUS], latin1).includes('PRIVMSG #c :café latin-1'));
  });

  test('with maxOverlongBytes: the same errors at every split point', () => {
    const opts = { ...SMALL_OPTS, maxOverlongBytes: 45 };
    const expected = reference(SMALL_CORPUS, opts);
    assert.ok(expected.some((x) => typeof x !== 'string' && 'readq' in x));
    assert.ok(expected.filter((x) => typeof x !== 'string' && 'error' in x).length > expected.filter((x) => typeof x !== 'string' && 'readq' in x).length);
    assert.deepEqual(decode([SMALL_CORPUS], opts), expected);
    assert.deepEqual(decode(byteByByte(SMALL_CORPUS), opts), expected);
    assert.deepEqual(decode(byteByByte(SMALL_CORPUS), opts, false), expected);
    for (let i = 1; i < SMALL_CORPUS.length; i++) {
      assert.deepEqual(decode(splitAt(SMALL_CORPUS, [i]), opts), expected, `split at ${i}`);
    }
  });

  test('byte by byte', () => {
    assert.deepEqual(decode(byteByByte(SMALL_CORPUS), SMALL_OPTS), whole);
    assert.deepEqual(decode(byteByByte(SMALL_CORPUS), SMALL_OPTS, false), whole);
  });

  test('every split point', () => {
    for (let i = 1; i < SMALL_CORPUS.length; i++) {
      assert.deepEqual(decode(splitAt(SMALL_CORPUS, [i]), SMALL_OPTS), whole, `split at ${i}`);
    }
  });

  test('every pair of split points around each line end', () => {
    const ends: number[] = [];
    for (let i = SMALL_CORPUS.indexOf(0x0a); i >= 0; i = SMALL_CORPUS.indexOf(0x0a, i + 1)) ends.push(i);
    for (const e of ends) {
      for (let a = Math.max(1, e - 3); a <= e + 1; a++) {
        for (let b = 1; b < SMALL_CORPUS.length; b += 7) {
          assert.deepEqual(decode(splitAt(SMALL_CORPUS, [a, b]), SMALL_OPTS), whole, `split at ${a}, ${b}`);
        }
      }
    }
  });

  test('random splits of random streams match the reference (fast-check)', () => {
    const piece = fc.oneof(
      fc.constantFrom('PING', ' ', ':', '@', 'a=b;', 'PRIVMSG #c :', '\r', '\n', '\r\n', '\0', 'é', '日本', '🙂'),
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.integer({ min: 1, max: 60 }).map((n) => 'x'.repeat(n)),
    );
    const stream = fc
      .tuple(
        fc.array(piece, { maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 }),
        fc.boolean(),
      )
      .map(([pieces, raw, crlf]) =>
        Buffer.concat([utf8(pieces.join('')), Buffer.from(raw), bytes(crlf ? '\r\n' : '\n')]),
      );
    const opts = fc.constantFrom<LineDecoderOptions>(
      {},
      SMALL_OPTS,
      { maxTagBytes: 8, maxBodyBytes: 16 },
      { maxTagBytes: 24, maxBodyBytes: 40, encoding: 'utf8' },
      { maxTagBytes: 24, maxBodyBytes: 40, encoding: 'utf8-latin1' },
      { maxTagBytes: 8, maxBodyBytes: 16, maxOverlongBytes: 5 },
      { maxTagBytes: 8, maxBodyBytes: 16, maxOverlongBytes: 40 },
      { maxTagBytes: 24, maxBodyBytes: 40, maxOverlongBytes: 100 },
    );
    fc.assert(
      fc.property(stream, fc.array(fc.nat(), { maxLength: 12 }), opts, fc.boolean(), (buf, points, o, pullEach) => {
        const expected = reference(buf, o);
        assert.deepEqual(decode([buf], o), expected);
        assert.deepEqual(decode(splitAt(buf, points.map((p) => p % (buf.length + 1))), o, pullEach), expected);
      }),
      { numRuns: 300 },
    );
  });
});

// --- limits ----------------------------------------------------------------

describe('LineDecoder: limits', () => {
  const body = (n: number): string => `PRIVMSG #c :${'x'.repeat(n - 'PRIVMSG #c :'.length)}`;
  const tags = (n: number): string => `@${'t'.repeat(n - 2)} `;

  test('the body may take 512 bytes with its CRLF, whatever the line ends with', () => {
    assert.deepEqual(decode([bytes(`${body(510)}\r\n`)]), [body(510)]);
    assert.deepEqual(decode([bytes(`${body(510)}\n`)]), [body(510)]);
    assert.deepEqual(decode([bytes(`${body(511)}\r\n`)]), [{ error: 'body' }]);
    assert.deepEqual(decode([bytes(`${body(511)}\n`)]), [{ error: 'body' }]);
  });

  test('the tag section may take 8191 bytes with its @ and space', () => {
    assert.deepEqual(decode([bytes(`${tags(8191)}${body(510)}\r\n`)]), [`${tags(8191)}${body(510)}`]);
    assert.deepEqual(decode([bytes(`${tags(8192)}PING x\r\n`)]), [{ error: 'tags' }]);
    assert.deepEqual(decode([bytes(`${tags(8191)}${body(511)}\r\n`)]), [{ error: 'body' }]);
  });

  test('an over-long line is reported once, its rest skipped, and the next line decoded', () => {
    const cases: [string, 'tags' | 'body'][] = [
      [body(5000), 'body'],
      [body(20_000), 'body'],
      [`${tags(9000)}PING x`, 'tags'],
      [`${tags(100)}${body(20_000)}`, 'body'],
      [`@${'t'.repeat(30_000)}`, 'tags'],
    ];
    for (const [line, part] of cases) {
      const buf = bytes(`PING a\r\n${line}\r\nPING b\r\n`);
      const expected: Out[] = ['PING a', { error: part }, 'PING b'];
      assert.deepEqual(decode([buf]), expected);
      assert.deepEqual(decode(byteByByte(buf)), expected);
      for (const size of [7, 100, 512, 4096]) {
        const points = Array.from({ length: Math.ceil(buf.length / size) }, (_, i) => i * size);
        assert.deepEqual(decode(splitAt(buf, points)), expected, `chunks of ${size}`);
      }
      // The tag section ending in the chunk that overflows the line.
      for (const at of [1, 3, 50, 101, 102, 103]) {
        assert.deepEqual(decode(splitAt(buf, [8 + at])), expected, `split ${at} bytes into the line`);
      }
    }
  });

  test('the error says which part and which limit', () => {
    const dec = new LineDecoder();
    dec.write(bytes(`${tags(9000)}PING x\n${body(600)}\n`));
    const first = dec.next();
    const second = dec.next();
    assert.ok(first instanceof IrcLineTooLongError && second instanceof IrcLineTooLongError);
    assert.equal(first.code, 'ERR_LINE_TOO_LONG');
    assert.equal(first.part, 'tags');
    assert.equal(first.limit, 8191);
    assert.equal(second.part, 'body');
    assert.equal(second.limit, 512);
    assert.equal(dec.next(), undefined);
  });

  test('limits are configurable', () => {
    const opts = { maxTagBytes: 10, maxBodyBytes: 20 };
    const dec = new LineDecoder(opts);
    assert.equal(dec.maxTagBytes, 10);
    assert.equal(dec.maxBodyBytes, 20);
    const buf = bytes(
      `${'b'.repeat(18)}\r\n${'b'.repeat(19)}\r\n@${'t'.repeat(8)} ${'b'.repeat(18)}\n@${'t'.repeat(9)} x\n${'b'.repeat(1000)}\nok\n`,
    );
    const expected: Out[] = ['b'.repeat(18), { error: 'body' }, `@${'t'.repeat(8)} ${'b'.repeat(18)}`, { error: 'tags' }, { error: 'body' }, 'ok'];
    assert.deepEqual(decode([buf], opts), expected);
    assert.deepEqual(decode(byteByByte(buf), opts), expected);
    // Larger limits accept what the defaults refuse.
    assert.deepEqual(decode([bytes(`${body(2000)}\n`)], { maxBodyBytes: 4096 }), [body(2000)]);
  });

  test('a 10 MB line without LF, in 64 KiB chunks: bounded memory, reported once', () => {
    const dec = new LineDecoder();
    const maxLine = dec.maxTagBytes + dec.maxBodyBytes;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const out: Out[] = [];
    let maxBuffered = 0;
    for (let sent = 0; sent < 10 * 1024 * 1024; sent += chunk.length) {
      dec.write(chunk);
      pull(dec, out);
      maxBuffered = Math.max(maxBuffered, dec.buffered);
    }
    assert.ok(maxBuffered <= maxLine, `buffered ${maxBuffered} bytes`);
    assert.deepEqual(out, [{ error: 'body' }]);
    dec.write(bytes('still the same line\r\nPING after\r\n'));
    pull(dec, out);
    assert.deepEqual(out, [{ error: 'body' }, 'PING after']);
    assert.equal(dec.buffered, 0);
  });

  test('a 10 MB tag section without a space or LF is reported once as tags', () => {
    const dec = new LineDecoder();
    const out: Out[] = [];
    dec.write(bytes('@'));
    const chunk = Buffer.alloc(64 * 1024, 0x74);
    for (let sent = 0; sent < 10 * 1024 * 1024; sent += chunk.length) {
      dec.write(chunk);
      pull(dec, out);
      assert.ok(dec.buffered <= dec.maxTagBytes + dec.maxBodyBytes);
    }
    dec.write(bytes(' PING x\nPING y\n'));
    pull(dec, out);
    assert.deepEqual(out, [{ error: 'tags' }, 'PING y']);
  });
});

describe('LineDecoder: maxOverlongBytes, the bound on one over-long line', () => {
  const READQ = 128 * 1024;
  const opts: LineDecoderOptions = { maxOverlongBytes: READQ };
  const MB = 1024 * 1024;
  const endless = Buffer.alloc(MB, 0x61);

  test('defaults to Infinity: an over-long line is skipped however long', () => {
    assert.equal(new LineDecoder().maxOverlongBytes, Infinity);
    assert.equal(new LineDecoder(opts).maxOverlongBytes, READQ);
    assert.deepEqual(decode([endless, bytes('\nPING x\n')]), [{ error: 'body' }, 'PING x']);
  });

  test('1 MB without LF, written whole: ERR_LINE_TOO_LONG then ERR_READQ_EXCEEDED, once', () => {
    const dec = new LineDecoder(opts);
    dec.write(endless);
    const first = dec.next();
    const second = dec.next();
    assert.ok(first instanceof IrcLineTooLongError);
    assert.equal(first.code, 'ERR_LINE_TOO_LONG');
    assert.ok(second instanceof IrcLimitError && !(second instanceof IrcLineTooLongError));
    assert.equal(second.code, 'ERR_READQ_EXCEEDED');
    assert.equal(second.limit, READQ);
    assert.equal(dec.next(), undefined);
    // More of the same line: skipped silently.
    dec.write(endless);
    assert.equal(dec.next(), undefined);
    assert.ok(dec.buffered <= dec.maxTagBytes + dec.maxBodyBytes);
  });

  test('1 MB without LF, byte by byte: the same two errors, the second as byte 128 KiB + 1 arrives', () => {
    const dec = new LineDecoder(opts);
    const out: Out[] = [];
    let readqAt = -1;
    for (let i = 0; i < endless.length; i++) {
      dec.write(endless.subarray(i, i + 1));
      const before = out.length;
      pull(dec, out);
      if (out.length > before && readqAt < 0 && out.some((x) => typeof x !== 'string' && 'readq' in x)) readqAt = i + 1;
    }
    assert.deepEqual(out, [{ error: 'body' }, { readq: READQ }]);
    assert.equal(readqAt, READQ + 1);
  });

  test('1 MB without LF, random splits (fast-check): the same two errors, once', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: MB - 1 }), { maxLength: 40 }), fc.boolean(), (points, pullEach) => {
        assert.deepEqual(decode(splitAt(endless, points), opts, pullEach), [{ error: 'body' }, { readq: READQ }]);
      }),
      { numRuns: 100 },
    );
  });

  test('the decoder goes on after the LF that ends the endless line', () => {
    const buf = Buffer.concat([bytes('PING a\r\n'), endless, bytes('\r\nPING b\r\n')]);
    const expected: Out[] = ['PING a', { error: 'body' }, { readq: READQ }, 'PING b'];
    assert.deepEqual(decode([buf], opts), expected);
    for (const size of [1000, 4096, 65536]) {
      const points = Array.from({ length: Math.ceil(buf.length / size) }, (_, i) => i * size);
      assert.deepEqual(decode(splitAt(buf, points), opts), expected, `chunks of ${size}`);
      assert.deepEqual(decode(splitAt(buf, points), opts, false), expected, `chunks of ${size}, pulled at the end`);
    }
  });

  test('a 16 KiB over-long line followed by normal lines: only ERR_LINE_TOO_LONG and the next lines', () => {
    const buf = Buffer.concat([bytes(`PRIVMSG #c :${'x'.repeat(16 * 1024)}\r\n`), bytes('PING a\r\nPING b\r\n')]);
    const expected: Out[] = [{ error: 'body' }, 'PING a', 'PING b'];
    assert.deepEqual(decode([buf], opts), expected);
    assert.deepEqual(decode(byteByByte(buf), opts), expected);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: buf.length - 1 }), { maxLength: 20 }), (points) => {
        assert.deepEqual(decode(splitAt(buf, points), opts), expected);
      }),
      { numRuns: 100 },
    );
  });

  test('the bound counts the bytes before the LF (a CR included): bound bytes pass, bound + 1 do not', () => {
    const small = { maxTagBytes: 8, maxBodyBytes: 16, maxOverlongBytes: 100 };
    for (const [line, expected] of [
      ['x'.repeat(100), [{ error: 'body' }, 'ok']],
      [`${'x'.repeat(99)}\r`, [{ error: 'body' }, 'ok']],
      ['x'.repeat(101), [{ error: 'body' }, { readq: 100 }, 'ok']],
      [`${'x'.repeat(100)}\r`, [{ error: 'body' }, { readq: 100 }, 'ok']],
      [`@${'t'.repeat(99)}`, [{ error: 'tags' }, 'ok']],
      [`@${'t'.repeat(100)}`, [{ error: 'tags' }, { readq: 100 }, 'ok']],
    ] as const) {
      const buf = bytes(`${line}\nok\n`);
      assert.deepEqual(decode([buf], small), expected, `${line.length} bytes`);
      assert.deepEqual(decode(byteByByte(buf), small), expected, `${line.length} bytes, byte by byte`);
      for (let i = 1; i < buf.length; i++) {
        assert.deepEqual(decode(splitAt(buf, [i]), small), expected, `${line.length} bytes, split at ${i}`);
      }
    }
  });

  test('takeRemainder drops a pending error along with the rest', () => {
    const dec = new LineDecoder({ maxOverlongBytes: 10_000 });
    dec.write(Buffer.alloc(20_000, 0x61));
    assert.ok(dec.next() instanceof IrcLineTooLongError);
    dec.takeRemainder();
    assert.equal(dec.next(), undefined);
    dec.write(bytes('PING x\n'));
    assert.equal(dec.next(), 'PING x');
  });
});

// --- text ------------------------------------------------------------------

describe('LineDecoder: decoding text', () => {
  const raw = Buffer.from([0x50, 0x52, 0x49, 0x56, 0x4d, 0x53, 0x47, 0x20, 0x3a, 0x63, 0x61, 0x66, 0xe9, 0x20, 0xff, 0xfe, 0x80, 0xc3]);
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((b) => b !== 0x0a && b !== 0x0d));

  test("by default ('utf8-escape'), each byte of invalid UTF-8 becomes U+DC00 + byte; encodeText gives the bytes back", () => {
    assert.equal(new LineDecoder().next(), undefined);
    const [line] = decode([Buffer.concat([raw, bytes('\r\n')])]);
    assert.equal(line, 'PRIVMSG :caf\udce9 \udcff\udcfe\udc80\udcc3');
    assert.deepEqual(encodeText(line as string), raw);
    assert.deepEqual(decode([Buffer.concat([raw, bytes('\r\n')])], { encoding: 'utf8-escape' }), [line]);
  });

  test('valid sequences inside an invalid line still read as UTF-8', () => {
    const buf = Buffer.concat([utf8('X :é日🙂 '), Buffer.from([0xe9, 0x20, 0xe6, 0x97]), utf8(' ü'), Buffer.from([0xf0, 0x9f, 0x99]), bytes('\n')]);
    assert.deepEqual(decode([buf]), ['X :é日🙂 \udce9 \udce6\udc97 ü\udcf0\udc9f\udc99']);
  });

  test('every byte value survives the default reading', () => {
    const line = Buffer.concat([bytes('X :'), all]);
    const buf = Buffer.concat([line, bytes('\n')]);
    for (const chunks of [[buf], byteByByte(buf)]) {
      const [text] = decode(chunks);
      assert.deepEqual(encodeText(text as string), line);
    }
  });

  test("encoding: 'utf8-latin1' reads invalid UTF-8 as Latin-1, byte for byte", () => {
    const [line] = decode([Buffer.concat([raw, bytes('\r\n')])], { encoding: 'utf8-latin1' });
    assert.equal(typeof line, 'string');
    assert.deepEqual(Buffer.from(line as string, 'latin1'), raw);
    assert.equal(line, 'PRIVMSG :café ÿþ\x80Ã');
  });

  test("every byte value survives the 'utf8-latin1' reading", () => {
    const line = Buffer.concat([bytes('X :'), all]);
    const buf = Buffer.concat([line, bytes('\n')]);
    for (const chunks of [[buf], byteByByte(buf)]) {
      const [text] = decode(chunks, { encoding: 'utf8-latin1' });
      assert.deepEqual(Buffer.from(text as string, 'latin1'), line);
    }
  });

  test('each line is decoded on its own: UTF-8 and 8-bit lines side by side', () => {
    const buf = Buffer.concat([utf8('A :é日🙂\r\n'), bytes('B :\xe9\r\n'), utf8('C :ü\r\n')]);
    assert.deepEqual(decode([buf]), ['A :é日🙂', 'B :\udce9', 'C :ü']);
    assert.deepEqual(decode([buf], { encoding: 'utf8-latin1' }), ['A :é日🙂', 'B :é', 'C :ü']);
  });

  test('valid UTF-8 split across chunks decodes right, at every split point', () => {
    const buf = utf8('PRIVMSG #c :日本語 é 🙂 ok\r\nPING :ñ\r\n');
    const expected = ['PRIVMSG #c :日本語 é 🙂 ok', 'PING :ñ'];
    for (let i = 1; i < buf.length; i++) {
      assert.deepEqual(decode(splitAt(buf, [i])), expected, `split at ${i}`);
    }
    assert.deepEqual(decode(byteByByte(buf)), expected);
  });

  test("encoding: 'utf8' turns invalid sequences into U+FFFD", () => {
    const buf = bytes('PRIVMSG :caf\xe9\r\n');
    assert.deepEqual(decode([buf], { encoding: 'utf8' }), ['PRIVMSG :caf\uFFFD']);
    assert.deepEqual(decode(byteByByte(buf), { encoding: 'utf8' }), ['PRIVMSG :caf\uFFFD']);
    assert.deepEqual(decode([utf8('X :日本\n')], { encoding: 'utf8' }), ['X :日本']);
  });

  test('a valid U+FFFD in UTF-8 text is kept as UTF-8', () => {
    assert.deepEqual(decode([utf8('X :a\uFFFDb\n')]), ['X :a\uFFFDb']);
  });
});

// --- remainder -------------------------------------------------------------

describe('LineDecoder: takeRemainder', () => {
  const lines = ['PING a', 'PRIVMSG #c :é', 'PING b'];
  // A compressed link starts right after a line: arbitrary bytes follow it.
  const tail = Buffer.from([0x78, 0x9c, 0x0a, 0xff, 0x00, 0x0d, 0x0a, 0xe9, 0x41]);
  const stream = Buffer.concat([...lines.map((l) => utf8(`${l}\r\n`)), tail]);

  test('the exact bytes after the last pulled line, whatever the chunking', () => {
    const chunkings: Buffer[][] = [[stream], byteByByte(stream)];
    for (let i = 1; i < stream.length; i += 3) chunkings.push(splitAt(stream, [i]));
    for (const chunks of chunkings) {
      for (let keep = 0; keep <= lines.length; keep++) {
        const dec = new LineDecoder();
        const got: string[] = [];
        let rest: Buffer[] = [];
        let taken: Buffer | undefined;
        for (const [ci, c] of chunks.entries()) {
          dec.write(c);
          while (got.length < keep) {
            const x = dec.next();
            if (x === undefined) break;
            assert.equal(typeof x, 'string');
            got.push(x as string);
          }
          if (got.length === keep) {
            taken = dec.takeRemainder();
            rest = chunks.slice(ci + 1);
            break;
          }
        }
        assert.deepEqual(got, lines.slice(0, keep));
        assert.ok(taken !== undefined);
        const consumed = lines.slice(0, keep).reduce((n, l) => n + Buffer.byteLength(l) + 2, 0);
        assert.deepEqual(Buffer.concat([taken, ...rest]), stream.subarray(consumed), `keep ${keep}, ${chunks.length} chunks`);
        assert.equal(dec.buffered, 0);
        assert.equal(dec.next(), undefined);
      }
    }
  });

  test('includes a partial line already buffered', () => {
    const dec = new LineDecoder();
    dec.write(bytes('PING a\r\nPAR'));
    assert.equal(dec.next(), 'PING a');
    assert.equal(dec.next(), undefined);
    dec.write(bytes('TIAL'));
    assert.equal(dec.next(), undefined);
    assert.deepEqual(dec.takeRemainder(), bytes('PARTIAL'));
    assert.deepEqual(dec.takeRemainder(), Buffer.alloc(0));
  });

  test('the decoder goes on after it, from an empty state', () => {
    const dec = new LineDecoder();
    dec.write(bytes('A\r\nB\r\nC'));
    assert.equal(dec.next(), 'A');
    assert.deepEqual(dec.takeRemainder(), bytes('B\r\nC'));
    dec.write(bytes('D\r\n'));
    assert.equal(dec.next(), 'D');
    assert.equal(dec.next(), undefined);
  });
});

// --- seed regression -------------------------------------------------------

describe('LineDecoder: one decoder per connection (seed regression)', () => {
  // The seed shared one POE::Filter::Line across every connection, so peer A's
  // partial line was glued onto peer B's next line.
  const peerA = bytes('PRIVMSG #a :hello from A\r\nNICK alice\r\n');
  const peerB = bytes('PRIVMSG #b :hello from B\r\nQUIT :bye\r\n');

  test("interleaved partial lines from two peers never mix", () => {
    for (let step = 1; step <= 9; step++) {
      const decA = new LineDecoder();
      const decB = new LineDecoder();
      const outA: Out[] = [];
      const outB: Out[] = [];
      for (let i = 0; i < Math.max(peerA.length, peerB.length); i += step) {
        decA.write(peerA.subarray(i, i + step));
        pull(decA, outA);
        decB.write(peerB.subarray(i, i + step));
        pull(decB, outB);
      }
      assert.deepEqual(outA, ['PRIVMSG #a :hello from A', 'NICK alice'], `step ${step}`);
      assert.deepEqual(outB, ['PRIVMSG #b :hello from B', 'QUIT :bye'], `step ${step}`);
    }
  });

  test('what the seed did: one shared decoder glues the two peers together', () => {
    const shared = new LineDecoder();
    const out: Out[] = [];
    shared.write(peerA.subarray(0, 10));
    pull(shared, out);
    shared.write(peerB.subarray(0, 30));
    pull(shared, out);
    assert.deepEqual(out, ['PRIVMSG #aPRIVMSG #b :hello from B']);
  });
});
