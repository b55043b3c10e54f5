/** The client toolkit, pure: ISUPPORT, CTCP, names and hostnames, casefolding by CASEMAPPING. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildIsupport,
  casefold,
  decodeCtcp,
  encodeCtcp,
  escapeIsupportValue,
  formatLine,
  isCtcp,
  Isupport,
  isValidChannel,
  isValidHostname,
  isValidNick,
  parseLine,
  sameName,
  unescapeIsupportValue,
} from '../../src/message/index.js';
import { loadVectors, parserTestsSkip } from '../helpers/parser-tests.js';

const LINES = [
  ':irc.example.net 005 me CASEMAPPING=ascii CHANTYPES=#! PREFIX=(qaohv)~&@%+ CHANMODES=beI,k,l,imnpst NETWORK=Example\\x20Net NICKLEN=30 :are supported by this server',
  ':irc.example.net 005 me TARGMAX=PRIVMSG:4,NOTICE:4,JOIN:,KICK:1 MAXLIST=beI:100,q:50 STATUSMSG=@+ UTF8ONLY EXCEPTS INVEX=I CHANNELLEN=64 :are supported by this server',
];

test('ISUPPORT: typed values from 005 lines', () => {
  const is = new Isupport();
  for (const l of LINES) assert.equal(is.apply(parseLine(l)), true);
  assert.equal(is.casemapping, 'ascii');
  assert.equal(is.chantypes, '#!');
  assert.deepEqual(is.prefix, { modes: 'qaohv', prefixes: '~&@%+' });
  assert.deepEqual(is.chanmodes, { a: 'beI', b: 'k', c: 'l', d: 'imnpst' });
  assert.equal(is.network, 'Example Net');
  assert.equal(is.nicklen, 30);
  assert.equal(is.channellen, 64);
  assert.deepEqual([...is.targmax], [['PRIVMSG', 4], ['NOTICE', 4], ['JOIN', Infinity], ['KICK', 1]]);
  assert.deepEqual([...is.maxlist], [['b', 100], ['e', 100], ['I', 100], ['q', 50]]);
  assert.equal(is.statusmsg, '@+');
  assert.equal(is.utf8only, true);
  assert.equal(is.get('EXCEPTS'), true);
  assert.equal(is.get('invex'), 'I');
  assert.equal(is.has('WHOX'), false);
  assert.equal(is.apply(parseLine(':s 001 me :Welcome')), false);
});

test('ISUPPORT: defaults when nothing was announced', () => {
  const is = new Isupport();
  assert.equal(is.casemapping, 'rfc1459');
  assert.equal(is.casemappingName, undefined);
  assert.equal(is.chantypes, '#&');
  assert.deepEqual(is.prefix, { modes: 'ov', prefixes: '@+' });
  assert.equal(is.chanmodes, undefined);
  assert.equal(is.network, undefined);
  assert.equal(is.nicklen, undefined);
  assert.equal(is.targmax.size, 0);
  assert.equal(is.statusmsg, '');
  assert.equal(is.utf8only, false);
});

test('ISUPPORT: -TOKEN removes, a later value replaces, NAME= is NAME', () => {
  const is = new Isupport(['NETWORK=One', 'WHOX', 'EXCEPTS=e']);
  is.applyTokens(['-WHOX', 'NETWORK=Two', 'EXCEPTS=', '-NOTTHERE']);
  assert.equal(is.has('WHOX'), false);
  assert.equal(is.network, 'Two');
  assert.equal(is.get('EXCEPTS'), true);
  assert.deepEqual([...is.entries()].map(([k]) => k), ['NETWORK', 'EXCEPTS']);
});

test('ISUPPORT: malformed tokens and values', () => {
  const cases: [string[], (is: Isupport) => void][] = [
    [['', '=x', '-', 'BAD_NAME=1', 'S P=1'], (is) => { assert.equal(is.size, 0); }],
    [['PREFIX=(ov)@'], (is) => { assert.deepEqual(is.prefix, { modes: 'ov', prefixes: '@+' }, 'mismatched PREFIX falls back'); }],
    [['PREFIX=ov@+'], (is) => { assert.deepEqual(is.prefix, { modes: 'ov', prefixes: '@+' }); }],
    [['PREFIX'], (is) => { assert.deepEqual(is.prefix, { modes: '', prefixes: '' }); }],
    [['CHANTYPES'], (is) => { assert.equal(is.chantypes, ''); }],
    [['NICKLEN=abc'], (is) => { assert.equal(is.nicklen, undefined); }],
    [['NICKLEN'], (is) => { assert.equal(is.nicklen, undefined); }],
    [['CASEMAPPING=rfc7613'], (is) => { assert.equal(is.casemapping, 'rfc1459'); assert.equal(is.casemappingName, 'rfc7613'); }],
    [['CASEMAPPING=STRICT-RFC1459'], (is) => { assert.equal(is.casemapping, 'strict-rfc1459'); }],
    [['CHANMODES=b,k'], (is) => { assert.deepEqual(is.chanmodes, { a: 'b', b: 'k', c: '', d: '' }); }],
    [['CHANMODES=b,k,l,imnt,XYZ'], (is) => { assert.deepEqual(is.chanmodes, { a: 'b', b: 'k', c: 'l', d: 'imnt' }); }],
    [['TARGMAX=PRIVMSG:x,:3,NOCOLON'], (is) => { assert.deepEqual([...is.targmax], [['PRIVMSG', Infinity]]); }],
    [['MAXLIST=b:x,e:5,:3'], (is) => { assert.deepEqual([...is.maxlist], [['e', 5]]); }],
    [['NETWORK=bad\\x4Gx\\xZZ\\x\\x4'], (is) => { assert.equal(is.network, 'bad\\x4Gx\\xZZ\\x\\x4'); }],
  ];
  for (const [tokens, check] of cases) check(new Isupport(tokens));
  // A 005 without the trailing text: the last param is a token.
  const is = new Isupport();
  is.apply({ command: '005', params: ['me', 'NETWORK=X', 'UTF8ONLY'] });
  assert.equal(is.utf8only, true);
});

test('ISUPPORT value escapes: \\xHH as UTF-8 bytes, both ways', () => {
  assert.equal(unescapeIsupportValue('Caf\\xC3\\xA9\\x20Net\\x5C\\x3D'), 'Café Net\\=');
  assert.equal(escapeIsupportValue('Café Net\\='), 'Café\\x20Net\\x5C\\x3D');
  for (const v of ['plain', 'a b', 'x=y', 'back\\slash', 'tab\there', 'Ünïcödé ✓']) {
    assert.equal(unescapeIsupportValue(escapeIsupportValue(v)), v);
  }
});

test('buildIsupport: at most 13 tokens and 510 bytes per line, values escaped, false as -NAME; parse gives them back', () => {
  const tokens: Record<string, string | number | boolean> = { NETWORK: 'Example Net', CASEMAPPING: 'ascii', WHOX: true, OLD: false, NICKLEN: 30 };
  for (let i = 0; i < 30; i++) tokens[`TOK${i}`] = 'v'.repeat(40);
  const msgs = buildIsupport(tokens, { nick: 'me', source: 'irc.example.net' });
  assert.ok(msgs.length >= 3);
  const is = new Isupport(['OLD']);
  for (const m of msgs) {
    const params = m.params ?? [];
    assert.ok(params.length - 2 <= 13);
    const line = formatLine(m);
    assert.ok(Buffer.byteLength(line) <= 510, `${Buffer.byteLength(line)} bytes`);
    assert.equal(params.at(-1), 'are supported by this server');
    is.apply(parseLine(line));
  }
  assert.equal(is.network, 'Example Net');
  assert.equal(is.get('WHOX'), true);
  assert.equal(is.has('OLD'), false);
  assert.equal(is.nicklen, 30);
  assert.equal(is.get('TOK29'), 'v'.repeat(40));
  assert.throws(() => buildIsupport({ 'BAD NAME': 1 }, { nick: 'me' }), RangeError);
  assert.throws(() => buildIsupport({ HUGE: 'x'.repeat(600) }, { nick: 'me' }), RangeError);
});

test('CTCP decode: a table, the missing closing \\x01 included', () => {
  const table: [string, { command: string; params: string } | undefined][] = [
    ['\x01ACTION waves\x01', { command: 'ACTION', params: 'waves' }],
    ['\x01ACTION waves', { command: 'ACTION', params: 'waves' }],
    ['\x01VERSION\x01', { command: 'VERSION', params: '' }],
    ['\x01version\x01', { command: 'VERSION', params: '' }],
    ['\x01PING 1234 5678\x01', { command: 'PING', params: '1234 5678' }],
    ['\x01ACTION \x01', { command: 'ACTION', params: '' }],
    ['\x01ACTION  two  spaces \x01', { command: 'ACTION', params: ' two  spaces ' }],
    ['\x01\x01', undefined],
    ['\x01', undefined],
    ['\x01 leading space\x01', undefined],
    ['hello', undefined],
    ['', undefined],
    ['hello \x01ACTION\x01', undefined],
  ];
  for (const [text, want] of table) assert.deepEqual(decodeCtcp(text), want, JSON.stringify(text));
  assert.equal(isCtcp('\x01VERSION\x01'), true);
  assert.equal(isCtcp('VERSION'), false);
});

test('CTCP encode: requests and replies; \\x01, CR, LF and NUL refused', () => {
  assert.equal(encodeCtcp('ACTION', 'waves'), '\x01ACTION waves\x01');
  assert.equal(encodeCtcp('version'), '\x01VERSION\x01');
  assert.equal(encodeCtcp('VERSION', 'ircsock 0.1.0'), '\x01VERSION ircsock 0.1.0\x01');
  assert.deepEqual(decodeCtcp(encodeCtcp('PING', '42')), { command: 'PING', params: '42' });
  for (const [c, p] of [['', ''], ['AC TION', ''], ['ACT\x01', ''], ['ACTION', 'a\x01b'], ['ACTION', 'a\r\nQUIT'], ['ACTION', 'a\0']]) {
    assert.throws(() => encodeCtcp(c as string, p), { code: 'ERR_IRC_FORMAT' }, JSON.stringify([c, p]));
  }
});

test('nick validity under the ISUPPORT in force', () => {
  for (const nick of ['alice', 'Alice_', '[bot]', '`x', 'a-b', '{x}|^', 'a1']) assert.equal(isValidNick(nick), true, nick);
  for (const nick of ['', '1abc', '-abc', 'a b', 'a,b', 'a!b', 'a@b', 'a.b', 'a*', '#chan', 'ü', ':x']) assert.equal(isValidNick(nick), false, nick);
  const is = new Isupport(['NICKLEN=5', 'CHANTYPES=#']);
  assert.equal(isValidNick('abcde', is), true);
  assert.equal(isValidNick('abcdef', is), false);
  assert.equal(isValidNick('a'.repeat(40)), true, 'no NICKLEN: no length limit');
});

test('channel validity under CHANTYPES and CHANNELLEN', () => {
  for (const chan of ['#chan', '&local', '#a', '#ünï', '#c++']) assert.equal(isValidChannel(chan), true, chan);
  for (const chan of ['', '#', 'chan', '!chan', '#a b', '#a,b', '#a\x07', `#${'x'.repeat(50)}`]) assert.equal(isValidChannel(chan), false, chan);
  const is = new Isupport(['CHANTYPES=#!', 'CHANNELLEN=10']);
  assert.equal(isValidChannel('!chan', is), true);
  assert.equal(isValidChannel('&chan', is), false);
  assert.equal(isValidChannel('#123456789', is), true);
  assert.equal(isValidChannel('#1234567890', is), false);
});

test('hostname validity on the ircdocs vectors (validate-hostname.yaml)', { skip: parserTestsSkip }, () => {
  const vectors = loadVectors('validate-hostname.yaml');
  assert.ok(vectors.length >= 15);
  for (const v of vectors) assert.equal(isValidHostname(v.host), v.valid, JSON.stringify(v.host));
});

test('hostnames beyond the vectors: label and name lengths', () => {
  assert.equal(isValidHostname(`${'a'.repeat(63)}.net`), true);
  assert.equal(isValidHostname(`${'a'.repeat(64)}.net`), false);
  assert.equal(isValidHostname(`${'abcdefghi.'.repeat(25)}net`), true);
  assert.equal(isValidHostname(`${'abcdefghi.'.repeat(26)}net`), false);
  assert.equal(isValidHostname('a..b'), false);
  assert.equal(isValidHostname('.'), false);
});

test('casefold and sameName driven by a parsed CASEMAPPING', () => {
  const ascii = new Isupport(['CASEMAPPING=ascii']);
  const rfc = new Isupport(['CASEMAPPING=rfc1459']);
  const strict = new Isupport(['CASEMAPPING=strict-rfc1459']);
  assert.equal(casefold('Nick[A]^', ascii), 'nick[a]^');
  assert.equal(casefold('Nick[A]^', rfc), 'nick{a}~');
  assert.equal(casefold('Nick[A]^', strict), 'nick{a}^');
  assert.equal(sameName('Foo[1]', 'foo{1}', ascii), false);
  assert.equal(sameName('Foo[1]', 'foo{1}', rfc), true);
  assert.equal(sameName('a^', 'A~', strict), false);
  assert.equal(sameName('a^', 'A~', new Isupport()), true, 'rfc1459 when none was announced');
});
