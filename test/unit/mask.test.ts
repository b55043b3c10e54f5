import assert from 'node:assert/strict';
import { test } from 'node:test';
import { casefold, matchMask, sameName } from '../../src/message/index.js';
import { loadVectors, parserTestsSkip } from '../helpers/parser-tests.js';

test('mask-match.yaml: every public mask vector', { skip: parserTestsSkip }, () => {
  const vectors = loadVectors('mask-match.yaml');
  assert.ok(vectors.length > 0);
  for (const v of vectors) {
    for (const s of v.matches ?? []) assert.equal(matchMask(v.mask, s), true, `${v.mask} should match ${s}`);
    for (const s of v.fails ?? []) assert.equal(matchMask(v.mask, s), false, `${v.mask} should not match ${s}`);
  }
});

test('masks: wildcards, literal brackets, casemapping', () => {
  assert.equal(matchMask('*', ''), true);
  assert.equal(matchMask('', ''), true);
  assert.equal(matchMask('', 'a'), false);
  assert.equal(matchMask('?', ''), false);
  assert.equal(matchMask('a*b*c', 'aXXbYYc'), true);
  assert.equal(matchMask('a*b*c', 'aXXbYY'), false);
  assert.equal(matchMask('*!*@*.example.com', 'Nick!user@host.EXAMPLE.com'), true);
  assert.equal(matchMask('[Foo]!*@*', '{foo}!u@h'), true, 'rfc1459: [] are {} upper-cased');
  assert.equal(matchMask('[Foo]!*@*', '{foo}!u@h', 'ascii'), false);
  // A long run of stars against a long subject stays fast (no exponential backtracking).
  assert.equal(matchMask('*a*a*a*a*a*a*a*a*b', 'a'.repeat(5000)), false);
});

test('casefold and sameName per casemapping', () => {
  assert.equal(casefold('Nick[^]'), 'nick{~}');
  assert.equal(casefold('Nick[^]', 'strict-rfc1459'), 'nick{^}');
  assert.equal(casefold('Nick[^]', 'ascii'), 'nick[^]');
  assert.equal(casefold('ÄBC'), 'Äbc', 'non-ASCII is kept');
  const folded = 'already';
  assert.equal(casefold(folded), folded);
  assert.equal(sameName('#Foo\\Bar', '#foo|bar'), true);
  assert.equal(sameName('a^', 'A~'), true);
  assert.equal(sameName('a^', 'A~', 'strict-rfc1459'), false);
});
