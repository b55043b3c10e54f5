import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import fc from 'fast-check';
import { decodeEscaped, decodeLegacy, encodeText, textByteLength } from '../../src/framing/text.js';
import * as framing from '../../src/framing/index.js';
import { parseLine } from '../../src/message/parse.js';
import { formatLine } from '../../src/message/format.js';
import { fitText } from '../../src/cli/relay/messaging.js';

const RUNS = { numRuns: 1000 };

// --- helpers and generators ------------------------------------------------

/**
 * An independent model of the reading: at each byte, the shortest run of 1 to
 * 4 bytes that is valid UTF-8 is one character; a byte that starts none is
 * escaped as U+DC00 + byte.
 */
function escapeModel(bytes: Uint8Array): string {
  const buf = Buffer.from(bytes);
  let out = '';
  for (let i = 0; i < buf.length; ) {
    let k = 1;
    while (k <= 4 && !(i + k <= buf.length && isUtf8(buf.subarray(i, i + k)))) k++;
    if (k <= 4) {
      out += buf.toString('utf8', i, i + k);
      i += k;
    } else {
      out += String.fromCharCode(0xdc00 + (buf[i] as number));
      i++;
    }
  }
  return out;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Any bytes, weighted towards what makes UTF-8 interesting: leads, continuations, valid sequences. */
const bytePiece = fc.oneof(
  fc.uint8Array({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 6 }).map((a) => a.map((b) => 0x80 | (b & 0x3f))),
  fc.constantFrom(0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x80, 0x9f, 0xa0, 0xbf).map((b) => Uint8Array.of(b)),
  fc.string({ unit: 'binary', maxLength: 4 }).map((s) => new Uint8Array(Buffer.from(s, 'utf8'))),
);
const anyBytes = fc.array(bytePiece, { maxLength: 30 }).map((parts) => new Uint8Array(Buffer.concat(parts)));

/** Any UTF-16 unit, lone surrogates included. */
const char16 = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
const anyString = fc.string({ unit: fc.oneof(char16, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 40 });

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

// KOI8-R and CP1251 samples, written as bytes: "Привет, мир!"
const KOI8R_PRIVET = Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4, 0x2c, 0x20, 0xcd, 0xc9, 0xd2, 0x21]);
const CP1251_PRIVET = Buffer.from([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2, 0x2c, 0x20, 0xec, 0xe8, 0xf0, 0x21]);

// --- tests -----------------------------------------------------------------

describe('text: the utf8-escape reading', () => {
  test('decodeEscaped then encodeText gives back the same bytes, for any bytes (fast-check)', () => {
    fc.assert(
      fc.property(anyBytes, (bytes) => {
        assert.deepEqual(encodeText(decodeEscaped(bytes)), Buffer.from(bytes));
      }),
      RUNS,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        assert.deepEqual(encodeText(decodeEscaped(bytes)), Buffer.from(bytes));
      }),
      RUNS,
    );
  });

  test('decodeEscaped matches an independent model, for any bytes (fast-check)', () => {
    fc.assert(
      fc.property(anyBytes, (bytes) => {
        assert.equal(decodeEscaped(bytes), escapeModel(bytes));
      }),
      RUNS,
    );
  });

  test('every byte value, alone and all together', () => {
    for (let b = 0; b < 256; b++) {
      const s = decodeEscaped(Uint8Array.of(b));
      assert.equal(s, b < 0x80 ? String.fromCharCode(b) : String.fromCharCode(0xdc00 + b));
      assert.deepEqual(encodeText(s), Buffer.from([b]));
    }
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    assert.deepEqual(encodeText(decodeEscaped(all)), all);
  });

  test('valid UTF-8 decodes as TextDecoder does (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
        const bytes = Buffer.from(s, 'utf8');
        assert.equal(decodeEscaped(bytes), utf8Decoder.decode(bytes));
        assert.equal(decodeEscaped(bytes), s);
      }),
      RUNS,
    );
    fc.assert(
      fc.property(anyBytes.filter((b) => isUtf8(b)), (bytes) => {
        assert.equal(decodeEscaped(bytes), utf8Decoder.decode(bytes));
      }),
      { numRuns: 300 },
    );
    // A BOM is text like any other.
    assert.equal(decodeEscaped(Buffer.from('\uFEFFa', 'utf8')), '\uFEFFa');
  });

  test('what is not valid UTF-8 is escaped byte by byte, as Python surrogateescape does', () => {
    const cases: [number[], string][] = [
      [[0xe2, 0x82, 0x41], '\udce2\udc82A'], // truncated sequence
      [[0xc3], '\udcc3'], // truncated at the end
      [[0xc0, 0xaf], '\udcc0\udcaf'], // overlong
      [[0xe0, 0x80, 0xaf], '\udce0\udc80\udcaf'], // overlong
      [[0xed, 0xa0, 0x80], '\udced\udca0\udc80'], // a UTF-16 surrogate, CESU-style
      [[0xed, 0xb3, 0xa9], '\udced\udcb3\udca9'], // even the one that spells an escape
      [[0xf4, 0x90, 0x80, 0x80], '\udcf4\udc90\udc80\udc80'], // over U+10FFFF
      [[0xf5, 0x80], '\udcf5\udc80'],
      [[0x80, 0xc3, 0xa9, 0xbf], '\udc80é\udcbf'], // stray continuations around a valid é
      [[0xf0, 0x9f, 0x99, 0x82, 0xf0, 0x9f, 0x99], '🙂\udcf0\udc9f\udc99'],
    ];
    for (const [bytes, text] of cases) {
      assert.equal(decodeEscaped(Uint8Array.from(bytes)), text, bytes.map((b) => b.toString(16)).join(' '));
      assert.deepEqual(encodeText(text), Buffer.from(bytes));
    }
  });

  test('start and end select the bytes; any Uint8Array view works', () => {
    const backing = new Uint8Array([0x41, 0x63, 0x61, 0x66, 0xe9, 0x42, 0x43]);
    const view = backing.subarray(1, 6); // c a f é B
    assert.equal(decodeEscaped(view), 'caf\udce9B');
    assert.equal(decodeEscaped(view, 1, 4), 'af\udce9');
    assert.equal(decodeEscaped(view, 3), '\udce9B');
    assert.equal(decodeEscaped(view, 2, 2), '');
    assert.equal(decodeEscaped(Buffer.from('xxcaf\xe9yy', 'latin1'), 2, 6), 'caf\udce9');
  });
});

describe('text: legacy charsets', () => {
  test('Latin-1 caf\\xe9', () => {
    const s = decodeEscaped(latin1('caf\xe9'));
    assert.equal(s, 'caf\udce9');
    assert.deepEqual(encodeText(s), latin1('caf\xe9'));
    assert.equal(textByteLength(s), 4);
    assert.equal(decodeLegacy(s, 'latin1'), 'café');
    assert.equal(decodeLegacy(s, 'iso-8859-1'), 'café');
  });

  test('KOI8-R', () => {
    const s = decodeEscaped(KOI8R_PRIVET);
    assert.equal(s.length, KOI8R_PRIVET.length);
    assert.deepEqual(encodeText(s), KOI8R_PRIVET);
    assert.equal(decodeLegacy(s, 'koi8-r'), 'Привет, мир!');
  });

  test('CP1251', () => {
    const s = decodeEscaped(CP1251_PRIVET);
    assert.deepEqual(encodeText(s), CP1251_PRIVET);
    assert.equal(decodeLegacy(s, 'windows-1251'), 'Привет, мир!');
    assert.equal(decodeLegacy(s, 'cp1251'), 'Привет, мир!');
  });

  test('legacy bytes that happen to hold valid UTF-8 still keep every byte', () => {
    // CP1251 "Р°" is D0 B0, which is also UTF-8 for "а".
    const bytes = Buffer.concat([CP1251_PRIVET, Buffer.from([0x20, 0xd0, 0xb0, 0x20, 0xe9])]);
    const s = decodeEscaped(bytes);
    assert.ok(s.includes(' а '));
    assert.deepEqual(encodeText(s), bytes);
    assert.equal(decodeLegacy(s, 'windows-1251'), 'Привет, мир! Р° й');
  });

  test('decodeLegacy of plain UTF-8 text reads its UTF-8 bytes in the charset; an unknown label throws', () => {
    assert.equal(decodeLegacy('abc', 'koi8-r'), 'abc');
    assert.equal(decodeLegacy('é', 'latin1'), 'Ã©');
    assert.throws(() => decodeLegacy('abc', 'no-such-charset'), RangeError);
  });
});

describe('text: encodeText and textByteLength', () => {
  test('well-formed strings encode as UTF-8 (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        assert.deepEqual(encodeText(s), Buffer.from(s, 'utf8'));
        assert.equal(textByteLength(s), Buffer.byteLength(s, 'utf8'));
      }),
      RUNS,
    );
  });

  test('textByteLength(s) === encodeText(s).length, for any string (fast-check)', () => {
    fc.assert(
      fc.property(anyString, (s) => {
        assert.equal(textByteLength(s), encodeText(s).length);
      }),
      RUNS,
    );
  });

  test('an escape is its byte; any other lone surrogate is EF BF BD, as Buffer.from writes it', () => {
    assert.deepEqual(encodeText('\udc80\udcff'), Buffer.from([0x80, 0xff]));
    for (const lone of ['\ud800', '\udbff', '\udc00', '\udc7f', '\udfff']) {
      assert.deepEqual(encodeText(`a${lone}b`), Buffer.from(`a${lone}b`, 'utf8'));
      assert.deepEqual(encodeText(`a${lone}b`), Buffer.from([0x61, 0xef, 0xbf, 0xbd, 0x62]));
      assert.equal(textByteLength(`a${lone}b`), 5);
    }
    // A high surrogate then a unit in the escape range is a pair, not an escape
    // (decodeEscaped never writes a high surrogate before an escape).
    assert.deepEqual(encodeText('\ud83d\udce9'), Buffer.from('📩', 'utf8'));
    assert.deepEqual(encodeText('\ud83d\u0041\udce9'), Buffer.from([0xef, 0xbf, 0xbd, 0x41, 0xe9]));
    // Pairs and every UTF-8 length, mixed with escapes.
    const s = 'a\u00e9\u65e5\ud83d\ude42\udce9';
    assert.deepEqual(encodeText(s), Buffer.concat([Buffer.from('aé日🙂', 'utf8'), Buffer.from([0xe9])]));
    assert.equal(textByteLength(s), 1 + 2 + 3 + 4 + 1);
  });

  test('the helpers are exported from src/framing', () => {
    assert.equal(framing.encodeText, encodeText);
    assert.equal(framing.textByteLength, textByteLength);
    assert.equal(framing.decodeEscaped, decodeEscaped);
    assert.equal(framing.decodeLegacy, decodeLegacy);
  });
});

describe('text: through the message layer', () => {
  /** Bytes for an atom: no NUL, CR, LF or space; not starting with a colon. */
  const atomBytes = fc
    .uint8Array({ minLength: 1, maxLength: 20 })
    .map((a) => Buffer.from(a.filter((b) => b !== 0 && b !== 0x0a && b !== 0x0d && b !== 0x20)))
    .filter((b) => b.length > 0 && b[0] !== 0x3a);
  /** Bytes for a trailing param: no NUL, CR or LF. */
  const textBytes = fc.uint8Array({ maxLength: 80 }).map((a) => Buffer.from(a.filter((b) => b !== 0 && b !== 0x0a && b !== 0x0d)));
  /** Bytes for a tag value that needs no IRCv3 escaping (not empty: an empty value is written as a bare key). */
  const tagBytes = fc
    .uint8Array({ minLength: 1, maxLength: 20 })
    .map((a) => Buffer.from(a.filter((b) => b !== 0 && b !== 0x0a && b !== 0x0d && b !== 0x20 && b !== 0x3b && b !== 0x5c)))
    .filter((b) => b.length > 0);

  test('parseLine then formatLine keeps the bytes of any line (fast-check)', () => {
    fc.assert(
      fc.property(tagBytes, atomBytes, atomBytes, textBytes, (tag, source, target, text) => {
        const bytes = Buffer.concat([
          latin1('@+draft/x='),
          tag,
          latin1(' :'),
          source,
          latin1(' PRIVMSG '),
          target,
          latin1(' :'),
          text,
        ]);
        const line = decodeEscaped(bytes);
        const msg = parseLine(line);
        assert.deepEqual(encodeText(msg.source ?? ''), source);
        assert.deepEqual(encodeText(msg.params[0] ?? ''), target);
        assert.deepEqual(encodeText(msg.params[1] ?? ''), text);
        assert.deepEqual(encodeText(msg.tags['+draft/x'] ?? ''), tag);
        assert.deepEqual(encodeText(formatLine(msg, { colonify: true })), bytes);
        // A message built anew from the parsed fields is written the same way.
        const rebuilt = formatLine({ tags: msg.tags, source: msg.source, command: msg.command, params: msg.params }, { colonify: true });
        assert.deepEqual(encodeText(rebuilt), bytes);
      }),
      RUNS,
    );
  });

  test('a Latin-1 PRIVMSG relayed with a new source keeps its bytes', () => {
    const msg = parseLine(decodeEscaped(latin1('PRIVMSG #caf\xe9 :caf\xe9 cr\xe8me')));
    const out = formatLine({ source: 'n!u@h', command: msg.command, params: msg.params });
    assert.deepEqual(encodeText(out), latin1(':n!u@h PRIVMSG #caf\xe9 :caf\xe9 cr\xe8me'));
  });
});

describe('text: the relay cuts relayed text by the bytes it sends', () => {
  const source = 'nick!user@host.example';
  const target = '#chan';
  /** The relayed line's bytes, CRLF included. */
  const lineBytes = (text: string): number => encodeText(`:${source} PRIVMSG ${target} :${text}\r\n`).length;

  test('8-bit text: an escaped byte is one byte, and the line fills 512 bytes', () => {
    const text = decodeEscaped(Buffer.alloc(600, 0xe9));
    const cut = fitText(source, 'PRIVMSG', target, text);
    assert.equal(lineBytes(cut), 512);
    assert.deepEqual(encodeText(cut), Buffer.alloc(encodeText(cut).length, 0xe9));
  });

  test('short text is kept as it is', () => {
    const text = decodeEscaped(latin1('caf\xe9 '.repeat(40)));
    assert.equal(fitText(source, 'PRIVMSG', target, text), text);
  });

  test('any text: the cut is a prefix of whole characters, its bytes a prefix of the bytes, within 512 (fast-check)', () => {
    fc.assert(
      fc.property(anyBytes, fc.integer({ min: 1, max: 40 }), (bytes, times) => {
        const all = Buffer.concat(Array.from({ length: times }, () => bytes));
        const text = decodeEscaped(all);
        const cut = fitText(source, 'PRIVMSG', target, text);
        assert.ok(text.startsWith(cut));
        const sent = encodeText(cut);
        assert.deepEqual(sent, all.subarray(0, sent.length));
        assert.ok(lineBytes(cut) <= 512);
        if (cut.length < text.length) {
          // Cut between characters: the next one (a pair, or one unit) would not fit.
          const next = text.codePointAt(cut.length) as number;
          assert.ok(lineBytes(text.slice(0, cut.length + (next > 0xffff ? 2 : 1))) > 512);
          assert.equal(decodeEscaped(sent), cut);
        }
      }),
      { numRuns: 300 },
    );
  });
});
