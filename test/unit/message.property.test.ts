import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseLine } from '../../src/message/parse.js';
import { formatLine } from '../../src/message/format.js';
import { IrcMessage, type IrcMessageInit } from '../../src/message/message.js';
import { IrcFormatError, IrcParseError } from '../../src/errors.js';

// Moderate run counts: the whole file runs in a few seconds.
const RUNS = { numRuns: 1000 };

// --- generators ------------------------------------------------------------

/** Any UTF-16 unit, lone surrogates included. */
const char16 = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
/** Any code point. */
const codePoint = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 });

/** Any string without NUL, from every unit fast-check makes (control chars, unicode, lone surrogates). */
const anyChars = (exclude: RegExp, opts: { minLength?: number; maxLength?: number } = {}): fc.Arbitrary<string> =>
  fc
    .string({ unit: fc.oneof(fc.constantFrom(' ', ':', ';', '=', '\\', '@', '\r', '\n', '\0', '\t'), codePoint, char16), ...opts })
    .map((s) => s.replace(exclude, ''))
    .filter((s) => s.length >= (opts.minLength ?? 0));

const alnum = fc.constantFrom(...Array.from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-'));

/** Tag keys as IRCv3 defines them: `[+][vendor/]name`, name of letters, digits and `-`. */
const tagKey = fc
  .tuple(
    fc.boolean(),
    fc.option(fc.string({ unit: fc.constantFrom(...Array.from('abcdefghijklmnopqrstuvwxyz0123456789.-')), minLength: 1, maxLength: 12 })),
    fc.string({ unit: alnum, minLength: 1, maxLength: 12 }),
  )
  .map(([client, vendor, name]) => `${client ? '+' : ''}${vendor === null ? '' : `${vendor}/`}${name}`);

const tagValue = anyChars(/\0/g, { maxLength: 30 });

/** An atom: non-empty, no space, CR, LF or NUL, not starting with a colon. */
const atom = anyChars(/[ \r\n\0]/g, { minLength: 1, maxLength: 20 }).map((s) => s.replace(/^:+/, '')).filter((s) => s !== '');

/** Commands: atoms that do not start with `@` either (they would read as tags). */
const command = atom.filter((s) => !s.startsWith('@'));

/** A trailing param: anything without CR, LF or NUL, empty included. */
const trailing = anyChars(/[\r\n\0]/g, { maxLength: 40 });

const validMessage: fc.Arbitrary<IrcMessageInit> = fc.record(
  {
    tags: fc.dictionary(tagKey, tagValue, { maxKeys: 5 }),
    source: atom,
    command,
    params: fc
      .tuple(fc.array(atom, { maxLength: 16 }), fc.option(trailing))
      .map(([middle, last]) => (last === null ? middle : [...middle, last])),
    colonify: fc.boolean(),
  },
  { requiredKeys: ['command'] },
);

const upperAscii = (s: string): string => s.replace(/[a-z]+/g, (m) => m.toUpperCase());

// --- properties ------------------------------------------------------------

test('format then parse gives back the same message', () => {
  fc.assert(
    fc.property(validMessage, fc.boolean(), (init, colonifyOpt) => {
      const line = formatLine(init, { colonify: colonifyOpt });
      const msg = parseLine(line);
      assert.equal(msg.command, upperAscii(init.command));
      assert.equal(msg.source, init.source);
      assert.deepEqual(msg.params, init.params ?? []);
      assert.deepEqual({ ...msg.tags }, { ...init.tags });
      // And the parsed message formats to the same line (when the command was already upper-case).
      if (init.command === msg.command) {
        assert.equal(formatLine(msg, { colonify: init.colonify ?? colonifyOpt }), line);
      }
    }),
    RUNS,
  );
});

test('IrcMessage#toString then parseLine gives back the same message', () => {
  fc.assert(
    fc.property(validMessage, (init) => {
      const msg = parseLine(new IrcMessage(init).toString());
      assert.equal(msg.command, upperAscii(init.command));
      assert.deepEqual(msg.params, init.params ?? []);
    }),
    RUNS,
  );
});

const arbitraryLine = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme' }),
  fc.string({ unit: char16 }),
  fc.string({ unit: fc.constantFrom('@', ':', ' ', ';', '=', '\\', 'a', 'B', '\r', '\n', '\0', '!', '#') }),
  // Lines that look like IRC, with noise in them.
  fc
    .tuple(fc.constantFrom('', '@', '@a=b;c ', ':', ':n!u@h ', ' '), fc.string({ unit: 'binary' }))
    .map(([head, rest]) => head + rest),
);

test('parsing any string gives an IrcMessage or throws IrcParseError, nothing else', () => {
  fc.assert(
    fc.property(arbitraryLine, (line) => {
      let msg: IrcMessage;
      try {
        msg = parseLine(line);
      } catch (err) {
        assert.ok(err instanceof IrcParseError, `threw ${String(err)}`);
        assert.equal(err.code, 'ERR_IRC_PARSE');
        return;
      }
      assert.ok(msg instanceof IrcMessage);
      assert.notEqual(msg.command, '');
      // Reading every field must not throw either.
      assert.equal(typeof msg.tags, 'object');
      assert.equal(msg.sourceParts === undefined, msg.source === undefined);
      for (const p of msg.params) assert.equal(typeof p, 'string');
    }),
    { numRuns: 3000 },
  );
});

const arbitraryInit: fc.Arbitrary<IrcMessageInit> = fc.record(
  {
    tags: fc.dictionary(fc.oneof(fc.string(), tagKey), fc.oneof(fc.string(), fc.string({ unit: 'binary' })), { maxKeys: 4 }),
    source: fc.oneof(fc.string(), atom),
    command: fc.oneof(fc.string(), command),
    params: fc.array(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), atom, trailing), { maxLength: 6 }),
    colonify: fc.boolean(),
  },
  { requiredKeys: ['command'] },
);

test('formatLine never emits CR, LF or NUL; it throws IrcFormatError instead', () => {
  let written = 0;
  fc.assert(
    fc.property(arbitraryInit, fc.boolean(), (init, colonify) => {
      let line: string;
      try {
        line = formatLine(init, { colonify });
      } catch (err) {
        assert.ok(err instanceof IrcFormatError, `threw ${String(err)}`);
        assert.equal(err.code, 'ERR_IRC_FORMAT');
        return;
      }
      written++;
      assert.doesNotMatch(line, /[\r\n\0]/);
      // What was written reads back as a message.
      assert.ok(parseLine(line) instanceof IrcMessage);
    }),
    { numRuns: 3000 },
  );
  assert.ok(written > 0, 'some generated messages were valid');
});
