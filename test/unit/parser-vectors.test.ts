import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLine } from '../../src/message/parse.js';
import { formatLine } from '../../src/message/format.js';
import { parseSource } from '../../src/message/source.js';
import { loadVectors, parserTestsSkip } from '../helpers/parser-tests.js';

// The ircdocs vectors (../shared/parser-tests), read at test time.
// Conventions, from the files' own comments: a missing `params` means no params,
// missing tags/source mean none, a tag without a value has the value ''. The
// verb is compared case-insensitively (ircsock upper-cases commands).

test('msg-split.yaml: every line parses into its atoms', { skip: parserTestsSkip }, async (t) => {
  const vectors = loadVectors('msg-split.yaml');
  for (const v of vectors) {
    await t.test(JSON.stringify(v.input), () => {
      const msg = parseLine(v.input);
      assert.equal(msg.command.toUpperCase(), v.atoms.verb.toUpperCase());
      assert.equal(msg.source, v.atoms.source);
      assert.deepEqual(msg.params, v.atoms.params ?? []);
      assert.deepEqual({ ...msg.tags }, v.atoms.tags ?? {});
      assert.equal(msg.hasTags(), v.atoms.tags !== undefined && Object.keys(v.atoms.tags).length > 0);
    });
  }
});

test('msg-join.yaml: atoms format into one of the accepted lines', { skip: parserTestsSkip }, async (t) => {
  const vectors = loadVectors('msg-join.yaml');
  for (const v of vectors) {
    await t.test(v.desc ?? JSON.stringify(v.matches[0]), () => {
      const line = formatLine({
        tags: v.atoms.tags,
        source: v.atoms.source,
        command: v.atoms.verb,
        params: v.atoms.params,
      });
      assert.ok(v.matches.includes(line), `${JSON.stringify(line)} is not one of ${JSON.stringify(v.matches)}`);
      // And every accepted form reads back as the same atoms.
      for (const match of v.matches) {
        const msg = parseLine(match);
        assert.equal(msg.command.toUpperCase(), v.atoms.verb.toUpperCase());
        assert.equal(msg.source, v.atoms.source);
        assert.deepEqual(msg.params, v.atoms.params ?? []);
        assert.deepEqual({ ...msg.tags }, v.atoms.tags ?? {});
      }
    });
  }
});

// The file says a missing atom is an empty string; parseSource reports an
// absent part as `undefined`, so a missing atom is compared with `undefined`
// (and a present one, even empty, with its string).
test('userhost-split.yaml: every source splits into nick, user and host', { skip: parserTestsSkip }, async (t) => {
  const vectors = loadVectors('userhost-split.yaml');
  for (const v of vectors) {
    await t.test(JSON.stringify(v.source), () => {
      const parts = parseSource(v.source);
      assert.equal(parts.nick, v.atoms.nick ?? '');
      assert.equal(parts.user, v.atoms.user);
      assert.equal(parts.host, v.atoms.host);
    });
  }
});

test('userhost-split.yaml sources read the same through a parsed message', { skip: parserTestsSkip }, () => {
  for (const v of loadVectors('userhost-split.yaml')) {
    const msg = parseLine(`:${v.source} PRIVMSG #c :hi`);
    assert.deepEqual(msg.sourceParts, parseSource(v.source));
    assert.equal(msg.nick, v.atoms.nick);
  }
});
