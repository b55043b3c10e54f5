import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseLine } from '../../src/message/parse.js';
import { formatLine } from '../../src/message/format.js';
import { IrcMessage, type IrcMessageInit } from '../../src/message/message.js';
import { escapeTagValue, parseTags, unescapeTagValue } from '../../src/message/tags.js';
import { IRC_LIMITS, messageSizes } from '../../src/message/limits.js';
import { IrcFormatError, IrcParseError, IrcsockError } from '../../src/errors.js';

/** Asserts that `fn` throws an IrcFormatError; checks `code` (never the text). */
function throwsFormat(fn: () => unknown, field?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof IrcFormatError);
    assert.ok(err instanceof IrcsockError);
    assert.equal(err.code, 'ERR_IRC_FORMAT');
    if (field !== undefined) assert.equal(err.field, field);
    return true;
  });
}

function throwsParse(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof IrcParseError);
    assert.equal(err.code, 'ERR_IRC_PARSE');
    return true;
  });
}

const tagsOf = (line: string): Record<string, string> => ({ ...parseLine(line).tags });

describe('tags: parsing', () => {
  test('a value splits at the first = (the seed lost everything after a second =)', () => {
    assert.deepEqual(tagsOf('@a=b=c X'), { a: 'b=c' });
    assert.deepEqual(tagsOf('@a==;b=x=y=z X'), { a: '=', b: 'x=y=z' });
  });

  test('escapes: \\: \\s \\\\ \\r \\n', () => {
    assert.deepEqual(tagsOf('@k=a\\:b\\sc\\\\d\\re\\nf X'), { k: 'a;b c\\d\re\nf' });
    // Char by char: an escaped backslash followed by n is a backslash and an n.
    assert.deepEqual(tagsOf('@k=\\\\n X'), { k: '\\n' });
  });

  test('an unknown escape stands for the character itself', () => {
    assert.deepEqual(tagsOf('@k=\\a\\1\\=\\; X'), { k: 'a1=' });
    assert.equal(unescapeTagValue('\\b\\é\\t'), 'bét');
  });

  test('a lone trailing backslash is dropped', () => {
    assert.deepEqual(tagsOf('@k=abc\\ X'), { k: 'abc' });
    assert.deepEqual(tagsOf('@k=\\;j=x\\\\\\ X'), { k: '', j: 'x\\' });
  });

  test('duplicate keys: the last one wins', () => {
    assert.deepEqual(tagsOf('@a=1;b=2;a=3 X'), { a: '3', b: '2' });
    assert.deepEqual(tagsOf('@a=1;a X'), { a: '' });
  });

  test('value-less tags and empty values read as empty strings', () => {
    assert.deepEqual(tagsOf('@a;b=;c=x X'), { a: '', b: '', c: 'x' });
  });

  test('client tags and vendor keys are kept verbatim and case-sensitive', () => {
    const tags = tagsOf('@+draft/Reply=1;+Typing=active;Example.COM/Key=v;example.com/key=w;time=t X');
    assert.deepEqual(tags, {
      '+draft/Reply': '1',
      '+Typing': 'active',
      'Example.COM/Key': 'v',
      'example.com/key': 'w',
      time: 't',
    });
  });

  test('empty keys and empty tags are ignored; __proto__ is plain data', () => {
    assert.deepEqual({ ...parseTags(';;=x;a=1;') }, { a: '1' });
    const tags = parseTags('__proto__=x;constructor=y');
    assert.equal(tags.__proto__, 'x');
    assert.equal(tags.constructor, 'y');
    // Nothing is inherited: the prototype is empty, frozen, and has none itself.
    const proto = Object.getPrototypeOf(tags) as object;
    assert.equal(Object.getPrototypeOf(proto), null);
    assert.deepEqual(Reflect.ownKeys(proto), []);
    assert.equal(Object.isFrozen(proto), true);
    assert.throws(() => {
      (proto as Record<string, string>).polluted = 'x';
    }, TypeError);
    assert.equal(parseTags('a=1').polluted, undefined);
    assert.equal('toString' in tags, false);
    assert.deepEqual(Object.keys(tags), ['__proto__', 'constructor']);
  });

  test('tags are parsed lazily but read the same', () => {
    const msg = parseLine('@a=1;b PRIVMSG #c :hi');
    assert.equal(msg.command, 'PRIVMSG');
    assert.equal(msg.hasTags(), true);
    assert.equal(msg.tags, msg.tags, 'parsed once, then cached');
    assert.deepEqual({ ...msg.tags }, { a: '1', b: '' });
    assert.equal(parseLine('@ PING x').hasTags(), false);
    assert.equal(parseLine('PING x').hasTags(), false);
  });
});

describe('tags: formatting', () => {
  test('values are escaped; value-less tags are written bare', () => {
    assert.equal(
      formatLine({ tags: { a: 'x;y z\\w\r\n', b: '', c: 'b=c' }, command: 'TAGMSG' }),
      '@a=x\\:y\\sz\\\\w\\r\\n;b;c=b=c TAGMSG',
    );
    assert.equal(escapeTagValue('plain'), 'plain');
  });

  test('client tags and vendor keys are written verbatim', () => {
    assert.equal(
      formatLine({ tags: { '+draft/Reply': 'ID', 'Vendor.Example/K': '' }, command: 'TAGMSG', params: ['#c'] }),
      '@+draft/Reply=ID;Vendor.Example/K TAGMSG #c',
    );
  });

  test('empty tags are no tag section', () => {
    assert.equal(formatLine({ tags: {}, command: 'PING', params: ['x'] }), 'PING x');
  });

  test('escaping round-trips every awkward value', () => {
    for (const value of ['', ';', ' ', '\\', '\r\n', '\\s', 'a=b', '\\\\n;; ', 'é日🙂']) {
      const line = formatLine({ tags: { k: value }, command: 'X' });
      assert.equal(parseLine(line).getTag('k'), value, JSON.stringify(value));
    }
  });
});

describe('source, command and params', () => {
  test('source and command; commands are upper-cased (ASCII only)', () => {
    const msg = parseLine(':nick!user@host privmsg #chan :hello world');
    assert.equal(msg.source, 'nick!user@host');
    assert.equal(msg.command, 'PRIVMSG');
    assert.deepEqual(msg.params, ['#chan', 'hello world']);
    assert.equal(parseLine('PrivMsg x').command, 'PRIVMSG');
    assert.equal(parseLine('001 me :hi').command, '001');
    assert.equal(parseLine('straße x').command, 'STRAßE');
  });

  test('an empty trailing param is distinct from an absent one', () => {
    assert.deepEqual(parseLine('AWAY :').params, ['']);
    assert.deepEqual(parseLine('AWAY').params, []);
    assert.deepEqual(parseLine('AWAY ').params, []);
    assert.deepEqual(parseLine('PRIVMSG #c :').params, ['#c', '']);
    assert.equal(formatLine({ command: 'AWAY', params: [''] }), 'AWAY :');
    assert.equal(formatLine({ command: 'AWAY', params: [] }), 'AWAY');
    assert.equal(formatLine({ command: 'AWAY' }), 'AWAY');
  });

  test('runs of spaces separate atoms', () => {
    const msg = parseLine('@a=1   :src    MODE   #c    +o    nick   ');
    assert.equal(msg.source, 'src');
    assert.equal(msg.command, 'MODE');
    assert.deepEqual(msg.params, ['#c', '+o', 'nick']);
    assert.deepEqual({ ...msg.tags }, { a: '1' });
    assert.deepEqual(parseLine('  PING   x').params, ['x']);
    // Spaces inside the trailing param are kept as they are.
    assert.deepEqual(parseLine('X a  :  b  c  ').params, ['a', '  b  c  ']);
  });

  test('any number of params', () => {
    const many = Array.from({ length: 40 }, (_, i) => `p${i}`);
    const msg = parseLine(`:srv 005 me ${many.join(' ')} :are supported`);
    assert.deepEqual(msg.params, ['me', ...many, 'are supported']);
    assert.equal(formatLine({ command: 'X', params: many }), `X ${many.join(' ')}`);
  });

  test('a trailing CRLF or LF is tolerated', () => {
    assert.deepEqual(parseLine('PING x\r\n').params, ['x']);
    assert.deepEqual(parseLine('PING x\n').params, ['x']);
  });

  test('lines that are not messages throw IrcParseError', () => {
    for (const line of ['', '   ', '@a=b', '@a=b ', ':src', ':src ', ': CMD x', 'PING a\rb', 'PING \0', 'A\nB']) {
      throwsParse(() => parseLine(line));
    }
  });

  test('the raw line is kept', () => {
    assert.equal(parseLine('PING x\r\n').raw, 'PING x');
    assert.equal(new IrcMessage({ command: 'PING' }).raw, undefined);
  });
});

describe('colonify', () => {
  const msg: IrcMessageInit = { command: 'PRIVMSG', params: ['#c', 'hi'] };

  test('by default the last param gets a colon only when it needs one', () => {
    assert.equal(formatLine(msg), 'PRIVMSG #c hi');
    assert.equal(formatLine({ command: 'PRIVMSG', params: ['#c', 'hi there'] }), 'PRIVMSG #c :hi there');
    assert.equal(formatLine({ command: 'PRIVMSG', params: ['#c', ':)'] }), 'PRIVMSG #c ::)');
    assert.equal(formatLine({ command: 'PRIVMSG', params: ['#c', ''] }), 'PRIVMSG #c :');
  });

  test('the option always adds it', () => {
    assert.equal(formatLine(msg, { colonify: true }), 'PRIVMSG #c :hi');
    assert.equal(formatLine(msg, { colonify: false }), 'PRIVMSG #c hi');
    assert.equal(formatLine({ command: 'QUIT' }, { colonify: true }), 'QUIT');
  });

  test("the message's own colonify wins over the option", () => {
    assert.equal(formatLine({ ...msg, colonify: false }, { colonify: true }), 'PRIVMSG #c hi');
    assert.equal(formatLine({ ...msg, colonify: true }, { colonify: false }), 'PRIVMSG #c :hi');
    assert.equal(formatLine({ ...msg, colonify: true }), 'PRIVMSG #c :hi');
    // Turning it off never drops a colon that is needed.
    assert.equal(formatLine({ command: 'X', params: ['a b'], colonify: false }), 'X :a b');
    assert.equal(new IrcMessage({ ...msg, colonify: true }).toString(), 'PRIVMSG #c :hi');
  });
});

describe('formatLine refuses what would change the meaning on the wire', () => {
  const base: IrcMessageInit = { tags: { t: 'v' }, source: 'n!u@h', command: 'PRIVMSG', params: ['#c', 'text'] };

  test('CR, LF or NUL in any field', () => {
    for (const bad of ['\r', '\n', '\0', 'a\r\nb']) {
      throwsFormat(() => formatLine({ ...base, source: `n${bad}x` }), 'source');
      throwsFormat(() => formatLine({ ...base, command: `PRIV${bad}MSG` }), 'command');
      throwsFormat(() => formatLine({ ...base, params: [`#c${bad}`, 'text'] }), 'params[0]');
      throwsFormat(() => formatLine({ ...base, params: ['#c', `te${bad}xt`] }), 'params[1]');
      throwsFormat(() => formatLine({ ...base, params: ['#c', `te${bad}xt`] }, { colonify: true }), 'params[1]');
      throwsFormat(() => formatLine({ ...base, tags: { [`k${bad}`]: 'v' } }), 'tags');
    }
    // A tag value may hold CR and LF (they are escaped), never NUL.
    throwsFormat(() => formatLine({ ...base, tags: { t: 'a\0b' } }), 'tags');
    assert.equal(formatLine({ command: 'X', tags: { t: '\r\n' } }), '@t=\\r\\n X');
  });

  test('a middle param that is empty, holds a space or starts with a colon', () => {
    throwsFormat(() => formatLine({ command: 'X', params: ['', 'last'] }), 'params[0]');
    throwsFormat(() => formatLine({ command: 'X', params: ['a b', 'last'] }), 'params[0]');
    throwsFormat(() => formatLine({ command: 'X', params: [':a', 'last'] }), 'params[0]');
    throwsFormat(() => formatLine({ command: 'X', params: ['ok', ' ', 'last'] }), 'params[1]');
  });

  test('an empty command, or one with a space', () => {
    throwsFormat(() => formatLine({ command: '' }), 'command');
    throwsFormat(() => formatLine({ command: 'PRIV MSG' }), 'command');
    throwsFormat(() => formatLine({ command: ' PING' }), 'command');
    throwsFormat(() => formatLine({ command: ':PING' }), 'command');
    throwsFormat(() => formatLine({ command: '@PING' }), 'command');
  });

  test('a source that is empty or holds a space', () => {
    throwsFormat(() => formatLine({ ...base, source: 'n u' }), 'source');
    throwsFormat(() => formatLine({ ...base, source: '' }), 'source');
  });

  test('a tag key that is empty or holds a space, ; or =', () => {
    for (const key of ['a b', 'a;b', 'a=b', '', ' ']) {
      throwsFormat(() => formatLine({ command: 'X', tags: { [key]: 'v' } }), 'tags');
    }
  });

  test('the same refusals reach IrcMessage#toString', () => {
    throwsFormat(() => new IrcMessage({ command: 'X', params: ['a b', 'c'] }).toString());
  });

  test('a relayed param can never inject a second line', () => {
    const relayed = 'hi\r\nQUIT';
    for (const params of [['#c', relayed], [relayed, 'x'], [relayed]]) {
      throwsFormat(() => formatLine({ command: 'PRIVMSG', params }));
      throwsFormat(() => formatLine({ command: 'PRIVMSG', params }, { colonify: true }));
    }
    throwsFormat(() => formatLine({ source: relayed, command: 'PRIVMSG', params: ['#c', 'x'] }));
    throwsFormat(() => formatLine({ command: relayed }));
    // In a tag value it is escaped into one line.
    const line = formatLine({ tags: { k: relayed }, command: 'PRIVMSG', params: ['#c', 'x'] });
    assert.equal(line, '@k=hi\\r\\nQUIT PRIVMSG #c x');
    assert.doesNotMatch(line, /[\r\n]/);
    assert.equal(parseLine(line).getTag('k'), relayed);
  });
});

describe('IrcMessage', () => {
  test('hasTag and getTag', () => {
    const msg = parseLine('@a=1;b;+c=x PRIVMSG #c :hi');
    assert.equal(msg.hasTag('a'), true);
    assert.equal(msg.hasTag('b'), true);
    assert.equal(msg.hasTag('+c'), true);
    assert.equal(msg.hasTag('c'), false);
    assert.equal(msg.hasTag('toString'), false);
    assert.equal(msg.getTag('a'), '1');
    assert.equal(msg.getTag('b'), '');
    assert.equal(msg.getTag('B'), undefined);
    assert.equal(msg.getTag('constructor'), undefined);
    assert.equal(parseLine('PING x').hasTag('a'), false);
  });

  test('built in code: fields copied, defaults filled', () => {
    const params = ['#c', 'hi'];
    const tags = { a: '1' };
    const msg = new IrcMessage({ command: 'PRIVMSG', params, tags });
    params.push('changed');
    tags.a = 'changed';
    assert.deepEqual(msg.params, ['#c', 'hi']);
    assert.equal(msg.getTag('a'), '1');
    assert.equal(msg.source, undefined);
    assert.deepEqual(new IrcMessage({ command: 'PING' }).params, []);
    assert.equal(new IrcMessage({ command: 'PING' }).hasTags(), false);
  });

  test('with: a new message with some fields replaced', () => {
    const msg = parseLine('@a=1 :n!u@h PRIVMSG #c :hi there');
    const copy = msg.with({ params: ['#d', 'bye'] });
    assert.notEqual(copy, msg);
    assert.equal(copy.command, 'PRIVMSG');
    assert.equal(copy.source, 'n!u@h');
    assert.deepEqual(copy.params, ['#d', 'bye']);
    assert.deepEqual({ ...copy.tags }, { a: '1' });
    assert.deepEqual(msg.params, ['#c', 'hi there'], 'the original is untouched');
    assert.equal(msg.with({ source: undefined }).source, undefined);
    assert.equal(msg.with({ tags: {} }).hasTags(), false);
    assert.equal(parseLine('PRIVMSG #c hi').with({ colonify: true }).toString(), 'PRIVMSG #c :hi');
  });

  test('toString formats; a parsed line reads back the same', () => {
    const line = '@a=x\\sy;b :n!u@h PRIVMSG #c :hi there';
    assert.equal(parseLine(line).toString(), line);
    assert.equal(new IrcMessage({ command: 'PING', params: ['srv'] }).toString(), 'PING srv');
    assert.equal(String(new IrcMessage({ command: 'PONG', params: ['a b'] })), 'PONG :a b');
  });

  test('sourceParts and nick', () => {
    const msg = parseLine(':nick!~user@host.example PRIVMSG #c :hi');
    assert.deepEqual(msg.sourceParts, { nick: 'nick', user: '~user', host: 'host.example' });
    assert.equal(msg.sourceParts, msg.sourceParts, 'computed once');
    assert.equal(msg.nick, 'nick');
    assert.deepEqual(parseLine(':irc.example.net 001 me :hi').sourceParts, {
      nick: 'irc.example.net',
      user: undefined,
      host: undefined,
    });
    assert.equal(parseLine('PING x').sourceParts, undefined);
    assert.equal(parseLine('PING x').nick, undefined);
  });

  test('toJSON', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(parseLine('@a=1 :s X p :q r'))), {
      tags: { a: '1' },
      source: 's',
      command: 'X',
      params: ['p', 'q r'],
    });
  });
});

describe('messageSizes', () => {
  test('the IRCv3 limits', () => {
    assert.deepEqual({ ...IRC_LIMITS }, { tagSection: 8191, clientTagData: 4094, body: 512 });
    assert.ok(Object.isFrozen(IRC_LIMITS));
  });

  test('a line without tags: the body counts CRLF', () => {
    assert.deepEqual(messageSizes('PING x'), { tagSection: 0, tagData: 0, clientTagData: 0, body: 8, total: 8 });
  });

  test('a tagged line: @ and the space count in the tag section; client tags apart', () => {
    const line = '@+a=1;b=2;+cc :s X';
    // tag data "+a=1;b=2;+cc" = 12 bytes, client tags "+a=1" and "+cc" and one ";" = 8
    assert.deepEqual(messageSizes(line), { tagSection: 14, tagData: 12, clientTagData: 8, body: 6, total: 20 });
  });

  test('bytes, not UTF-16 units', () => {
    const sizes = messageSizes({ tags: { k: 'é' }, command: 'PRIVMSG', params: ['#c', '日本🙂'] });
    // "k=é" = 4 bytes; "PRIVMSG #c 日本🙂" = 11 + 6 + 4 bytes
    assert.equal(sizes.tagData, 4);
    assert.equal(sizes.tagSection, 6);
    assert.equal(sizes.body, 21 + 2);
    assert.equal(sizes.total, sizes.tagSection + sizes.body);
  });

  test('a message is formatted first, and refused as formatLine refuses it', () => {
    assert.equal(messageSizes({ command: 'PRIVMSG', params: ['#c', 'hi there'] }).body, 'PRIVMSG #c :hi there'.length + 2);
    throwsFormat(() => messageSizes({ command: 'PRIVMSG', params: ['#c', 'a\nb'] }));
  });

  test('a body of exactly 512 bytes with CRLF', () => {
    const line = `PRIVMSG #c :${'x'.repeat(512 - 2 - 'PRIVMSG #c :'.length)}`;
    assert.equal(messageSizes(line).body, IRC_LIMITS.body);
  });
});
