/**
 * `ircsock relay` over real loopback sockets: raw clients speak IRC to a relay
 * started in-process on port 0, and the tests check what comes back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRelay, type Relay } from '../../src/cli/relay/server.js';
import { until } from '../helpers/net.js';
import { Peer } from '../helpers/irc-peer.js';

const ISO_MS = /^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

async function register(relay: Relay, nick: string, caps?: string): Promise<Peer> {
  const p = await Peer.connect(relay.ports[0]!);
  if (caps !== undefined) p.send('CAP LS 302');
  p.send(`NICK ${nick}`, `USER ${nick.replace(/\W/g, '') || 'u'} 0 * :Real ${nick}`);
  if (caps !== undefined) {
    p.send(`CAP REQ :${caps}`);
    await p.expect(/ CAP \S+ ACK /);
    p.send('CAP END');
  }
  await p.expect(/ 422 /);
  return p;
}

/** Parses `@a=b;c :src CMD ...` enough for the tests: the tag section as a map. */
function tagsOf(line: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!line.startsWith('@')) return out;
  for (const kv of line.slice(1, line.indexOf(' ')).split(';')) {
    const eq = kv.indexOf('=');
    out.set(eq < 0 ? kv : kv.slice(0, eq), eq < 0 ? '' : kv.slice(eq + 1));
  }
  return out;
}

describe('ircsock relay', () => {
  let relay: Relay;
  const peers: Peer[] = [];
  const client = async (nick: string, caps?: string): Promise<Peer> => {
    const p = await register(relay, nick, caps);
    peers.push(p);
    return p;
  };

  before(async () => {
    relay = await startRelay({ listen: [{ host: '127.0.0.1', port: 0 }], name: 'test.relay' });
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.client.destroy()));
    await relay.close();
  });

  test('registration: 001-005, ISUPPORT, 422; 451 before, 461, 432, 433', async () => {
    const p = await Peer.connect(relay.ports[0]!);
    peers.push(p);
    p.send('JOIN #early');
    assert.match(await p.expect(/ 451 /), /^:test\.relay 451 \* :You have not registered$/);
    p.send('USER onlyone');
    assert.match(await p.expect(/ 461 /), /461 \* USER :Not enough parameters$/);
    p.send('NICK 1bad');
    assert.match(await p.expect(/ 432 /), /432 \* 1bad :Erroneous nickname$/);
    p.send('NICK reggie', 'USER reg 0 * :Reg Gie');
    assert.match(await p.expect(/ 001 /), /^:test\.relay 001 reggie :Welcome .* reggie!~reg@127\.0\.0\.1$/);
    await p.expect(/ 002 reggie /);
    await p.expect(/ 003 reggie /);
    assert.match(await p.expect(/ 004 /), /^:test\.relay 004 reggie test\.relay \S+ \S+ \S+$/);
    const isupport = await p.expect(/ 005 /);
    for (const token of ['CASEMAPPING=rfc1459', 'CHANTYPES=#', 'NICKLEN=', 'CHANNELLEN=', 'NETWORK=', 'PREFIX=', 'CHANMODES=']) {
      assert.ok(isupport.includes(` ${token}`), `${token} in ${isupport}`);
    }
    await p.expect(/ 422 reggie :MOTD File is missing$/);

    const q = await Peer.connect(relay.ports[0]!);
    peers.push(q);
    q.send('NICK reggie');
    assert.match(await q.expect(/ 433 /), /433 \* reggie :Nickname is already in use$/);
    await q.quit();
  });

  test('JOIN with NAMES, PRIVMSG and NOTICE relay, PART, errors 401/403/404/411/412/421/442', async () => {
    const alice = await client('alice');
    const bob = await client('bob');
    alice.send('JOIN #room,#other');
    await alice.expect(/ 366 alice #other /);
    bob.send('JOIN #room');
    assert.match(await bob.expect(/ JOIN /), /^:bob!~bob@127\.0\.0\.1 JOIN #room$/);
    assert.match(await bob.expect(/ 353 /), /353 bob = #room :alice bob$/);
    await bob.expect(/ 366 bob #room :End of \/NAMES list$/);
    await alice.expect(/^:bob!\S+ JOIN #room$/);

    alice.send('PRIVMSG #room :hello there', 'NOTICE #room :a notice', 'PRIVMSG bob :just you');
    assert.equal(await bob.expect(/PRIVMSG #room/), ':alice!~alice@127.0.0.1 PRIVMSG #room :hello there');
    assert.equal(await bob.expect(/NOTICE/), ':alice!~alice@127.0.0.1 NOTICE #room :a notice');
    assert.equal(await bob.expect(/PRIVMSG bob/), ':alice!~alice@127.0.0.1 PRIVMSG bob :just you');
    // Without echo-message the sender gets nothing back.
    assert.deepEqual(await alice.sync(), []);

    bob.send('PRIVMSG #other :let me in');
    assert.match(await bob.expect(/ 404 /), /404 bob #other :Cannot send to channel$/);
    bob.send('PRIVMSG #nowhere :x');
    assert.match(await bob.expect(/ 403 /), /403 bob #nowhere :No such channel$/);
    bob.send('PRIVMSG nobody :x');
    assert.match(await bob.expect(/ 401 /), /401 bob nobody :No such nick\/channel$/);
    bob.send('PRIVMSG');
    await bob.expect(/ 411 bob :No recipient given \(PRIVMSG\)$/);
    bob.send('PRIVMSG #room');
    await bob.expect(/ 412 bob :No text to send$/);
    bob.send('FROBNICATE now');
    assert.match(await bob.expect(/ 421 /), /421 bob FROBNICATE :Unknown command$/);
    bob.send('PART #other');
    await bob.expect(/ 442 bob #other :/);
    // NOTICE never draws an error reply.
    bob.send('NOTICE nobody :x');
    assert.deepEqual(await bob.sync(), []);

    bob.send('PART #room :bye now');
    assert.equal(await bob.expect(/ PART /), ':bob!~bob@127.0.0.1 PART #room :bye now');
    assert.equal(await alice.expect(/ PART /), ':bob!~bob@127.0.0.1 PART #room :bye now');
    bob.send('JOIN #a,#b', 'JOIN 0');
    await bob.expect(/PART #a/);
    await bob.expect(/PART #b/);
  });

  test('QUIT reaches everyone sharing a channel, once each', async () => {
    const q = await client('quitter');
    const w = await client('watcher');
    const x = await client('outsider');
    q.send('JOIN #q1,#q2');
    await q.expect(/ 366 quitter #q2 /);
    w.send('JOIN #q1,#q2');
    await w.expect(/ 366 watcher #q2 /);
    q.send('QUIT :gone fishing');
    assert.match(await q.expect(/^ERROR /), /^ERROR :Closing link \(quitter!\S+\) \[Quit: gone fishing\]$/);
    await q.client.waitClosed();
    const seen = await w.sync();
    assert.deepEqual(
      seen.filter((l) => l.includes(' QUIT ')),
      [':quitter!~quitter@127.0.0.1 QUIT :Quit: gone fishing'],
    );
    assert.deepEqual(await x.sync(), []);
    // A dropped connection (no QUIT) is relayed too, with the backend's reason.
    const d = await client('dropper');
    d.send('JOIN #q1');
    await w.expect(/dropper\S* JOIN #q1/);
    await d.client.destroy();
    assert.match(await w.expect(/ QUIT /), /^:dropper!\S+ QUIT :\S/);
  });

  test('rfc1459 casemapping for nicks and channels; NICK change reaches channel peers', async () => {
    const foo = await client('[Foo]');
    const p = await Peer.connect(relay.ports[0]!);
    peers.push(p);
    p.send('NICK {foo}');
    await p.expect(/ 433 \* \{foo\} /);
    p.send('NICK other^', 'USER o 0 * :O');
    await p.expect(/ 422 /);
    p.send('PRIVMSG {FOO} :hi', 'JOIN #Chan[1]');
    assert.equal(await foo.expect(/PRIVMSG/), ':other^!~o@127.0.0.1 PRIVMSG [Foo] hi');
    await p.expect(/ 366 /);
    foo.send('JOIN #chan{1}');
    assert.match(await foo.expect(/ 353 /), /353 \[Foo\] = #Chan\[1\] :other\^ \[Foo\]$/);
    foo.send('NICK [FOO]');
    assert.equal(await p.expect(/ NICK /), ':[Foo]!~Foo@127.0.0.1 NICK [FOO]');
    assert.equal(await foo.expect(/ NICK /), ':[Foo]!~Foo@127.0.0.1 NICK [FOO]');
    p.send('NICK OTHER^');
    assert.equal(await p.expect(/ NICK /), ':other^!~o@127.0.0.1 NICK OTHER^');
    await client('back\\slash');
    p.send('NICK BACK|SLASH');
    await p.expect(/ 433 OTHER\^ BACK\|SLASH :/);
  });

  test('TOPIC: 331, set and relayed, 332/333 on join', async () => {
    const t = await client('topper');
    t.send('JOIN #topic', 'TOPIC #topic');
    await t.expect(/ 331 topper #topic :No topic is set$/);
    t.send('TOPIC #topic :héllo topic');
    await t.expect(/^:topper!\S+ TOPIC #topic :héllo topic$/);
    const u = await client('reader');
    u.send('JOIN #topic');
    await u.expect(/ 332 reader #topic :héllo topic$/);
    assert.match(await u.expect(/ 333 /), /333 reader #topic topper!~topper@127\.0\.0\.1 \d+$/);
    await u.expect(/ 353 /);
  });

  test('WHO, MODE queries, USERHOST', async () => {
    const w = await client('whoer');
    w.send('JOIN #who', 'WHO #who');
    assert.match(await w.expect(/ 352 /), /352 whoer #who ~whoer 127\.0\.0\.1 test\.relay whoer H :0 Real whoer$/);
    await w.expect(/ 315 whoer #who :End of \/WHO list$/);
    w.send('MODE #who');
    await w.expect(/ 324 whoer #who \+n$/);
    w.send('MODE #who b');
    await w.expect(/ 368 whoer #who /);
    w.send('MODE #who +k key');
    await w.expect(/ 472 whoer k /);
    w.send('MODE whoer');
    await w.expect(/ 221 whoer \+i$/);
    w.send('MODE whoer +z');
    await w.expect(/ 501 whoer /);
    w.send('USERHOST whoer nobody');
    await w.expect(/ 302 whoer :?whoer=\+~whoer@127\.0\.0\.1$/);
  });

  test('CAP: LS/REQ/ACK/NAK/LIST, registration waits for CAP END, tags and server-time by capability', async () => {
    const c = await Peer.connect(relay.ports[0]!);
    peers.push(c);
    c.send('CAP LS 302', 'NICK capper', 'USER capper 0 * :C');
    const ls = await c.expect(/ CAP \* LS /);
    for (const cap of ['message-tags', 'server-time', 'echo-message']) assert.ok(ls.includes(cap), ls);
    c.send('CAP REQ :message-tags bogus-cap');
    await c.expect(/ CAP capper NAK :message-tags bogus-cap$/);
    c.send('CAP LIST');
    await c.expect(/ CAP capper LIST :$/);
    // Registration is on hold until CAP END.
    assert.ok(!(await c.sync()).some((l) => / 001 /.test(l)));
    c.send('CAP REQ :message-tags server-time', 'CAP END');
    await c.expect(/ CAP capper ACK :message-tags server-time$/);
    await c.expect(/ 001 capper /);
    c.send('CAP LIST');
    await c.expect(/ CAP capper LIST :message-tags server-time$/);

    const plain = await client('plainer');
    const echo = await client('echoer', 'message-tags echo-message');
    for (const p of [c, plain, echo]) p.send('JOIN #caps');
    await c.expect(/ 366 capper /);
    await plain.expect(/ 366 plainer /);
    await echo.expect(/ 366 echoer /);

    echo.send('@+draft/react=\\s;+example.com/x;label=dropme PRIVMSG #caps :tagged');
    const full = await c.expect(/PRIVMSG #caps :?tagged/);
    const tags = tagsOf(full);
    assert.equal(tags.get('+draft/react'), '\\s');
    assert.equal(tags.get('+example.com/x'), '');
    assert.ok(!tags.has('label'), 'only client-only tags are relayed');
    assert.match(`time=${tags.get('time') ?? ''}`, ISO_MS);
    assert.equal(await plain.expect(/PRIVMSG #caps/), ':echoer!~echoer@127.0.0.1 PRIVMSG #caps tagged');
    // echo-message: the sender gets its own message, with the tags it may see (no server-time asked).
    assert.equal(await echo.expect(/PRIVMSG #caps/), '@+draft/react=\\s;+example.com/x :echoer!~echoer@127.0.0.1 PRIVMSG #caps tagged');

    // TAGMSG goes only to those with message-tags.
    echo.send('@+typing=active TAGMSG #caps');
    assert.match(await c.expect(/TAGMSG/), /^@\+typing=active;time=\S+ :echoer!\S+ TAGMSG #caps$/);
    assert.ok(!(await plain.sync()).some((l) => l.includes('TAGMSG')));
  });

  test('an over-long line gets 417 and the connection stays; a line that does not parse is ignored', async () => {
    const l = await client('longer');
    l.send(`PRIVMSG longer :${'x'.repeat(600)}`);
    await l.expect(/ 417 longer :Input line was too long$/);
    l.send(':bad');
    assert.deepEqual(await l.sync(), []);
  });

  test('a relayed line stays within 512 bytes, cut at a character boundary', async () => {
    const sender = await client('a_rather_long_nickname');
    const rcpt = await client('rcpt');
    // 510 bytes from the sender; with its full source the relayed line would pass 512.
    const head = 'PRIVMSG rcpt :';
    const text = 'é'.repeat((510 - head.length) / 2);
    sender.send(head + text);
    const line = await rcpt.expect(/ PRIVMSG rcpt :?é/);
    assert.ok(Buffer.byteLength(line) + 2 <= 512, `${Buffer.byteLength(line) + 2} bytes`);
    // No space in the text: the backend writes it without a colon.
    const got = line.slice(line.indexOf(' PRIVMSG rcpt ') + ' PRIVMSG rcpt '.length).replace(/^:/, '');
    assert.ok(text.startsWith(got), 'a prefix of the text, no broken character');
    assert.ok(got.length > 200);
  });

  test('8-bit text (Latin-1, KOI8-R, CP1251) reaches the other member byte for byte', async () => {
    const latin = await client('latin');
    const koi = await client('koi');
    latin.send('JOIN #bytes');
    await latin.expect(/ 366 latin #bytes /);
    koi.send('JOIN #bytes');
    await koi.expect(/ 366 koi #bytes /);
    await latin.expect(/^:koi!\S+ JOIN #bytes$/);

    const cafe = Buffer.from('caf\xe9 cr\xe8me br\xfbl\xe9e', 'latin1');
    // "Привет, мир!" in KOI8-R and in CP1251; then UTF-8 and a stray byte on one line.
    const koi8r = Buffer.from([0xf0, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4, 0x2c, 0x20, 0xcd, 0xc9, 0xd2, 0x21]);
    const cp1251 = Buffer.from([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2, 0x2c, 0x20, 0xec, 0xe8, 0xf0, 0x21]);
    const mixed = Buffer.concat([Buffer.from('日本 é '), Buffer.from([0xe9, 0x20, 0xc3])]);
    const line = (command: string, text: Buffer): Buffer => Buffer.concat([Buffer.from(`${command} #bytes :`), text, Buffer.from('\r\n')]);
    // Raw bytes: LineClient.write sends strings as UTF-8.
    latin.client.socket.write(Buffer.concat([line('PRIVMSG', cafe), line('PRIVMSG', koi8r), line('NOTICE', mixed)]));
    koi.client.socket.write(line('PRIVMSG', cp1251));

    // LineClient keeps each byte as one latin1 character: these are the bytes received.
    const received = (p: Peer): Buffer[] =>
      p.client.lines.filter((l) => / (PRIVMSG|NOTICE) #bytes :/.test(l)).map((l) => Buffer.from(l, 'latin1'));
    await until(koi.client.socket, 'line', () => received(koi).length >= 3);
    await until(latin.client.socket, 'line', () => received(latin).length >= 1);
    const from = (nick: string, command: string, text: Buffer): Buffer =>
      Buffer.concat([Buffer.from(`:${nick}!~${nick}@127.0.0.1 ${command} #bytes :`), text]);
    assert.deepEqual(received(koi), [from('latin', 'PRIVMSG', cafe), from('latin', 'PRIVMSG', koi8r), from('latin', 'NOTICE', mixed)]);
    assert.deepEqual(received(latin), [from('koi', 'PRIVMSG', cp1251)]);
  });

  test('8-bit text cut to 512 bytes: an escaped byte counts as one', async () => {
    const sender = await client('an_eight_bit_long_nickname');
    const rcpt = await client('rcpt8');
    // 510 bytes from the sender; with its full source the relayed line would pass 512.
    const head = Buffer.from('PRIVMSG rcpt8 :8 ');
    const text = Buffer.alloc(510 - head.length, 0xe9);
    sender.client.socket.write(Buffer.concat([head, text, Buffer.from('\r\n')]));
    await until(rcpt.client.socket, 'line', () => rcpt.client.lines.some((l) => l.includes(' PRIVMSG rcpt8 ')));
    const got = Buffer.from(rcpt.client.lines.find((l) => l.includes(' PRIVMSG rcpt8 ')) ?? '', 'latin1');
    // Escaped bytes count one each: the line is filled to the byte, not cut at a third of it.
    assert.equal(got.length + 2, 512);
    const body = got.subarray(got.indexOf(' PRIVMSG rcpt8 :8 ') + ' PRIVMSG rcpt8 :8 '.length);
    assert.ok(body.length > 400);
    assert.deepEqual(body, Buffer.alloc(body.length, 0xe9));
  });

  test('close(): every client gets ERROR :Closing link, then the relay is gone', async () => {
    const own = await startRelay({ listen: [{ host: '127.0.0.1', port: 0 }] });
    const a = await register(own, 'closer');
    const b = await Peer.connect(own.ports[0]!);
    await own.close();
    assert.match(await a.expect(/^ERROR /), /^ERROR :Closing link \(.*\)/);
    await b.expect(/^ERROR :Closing link/);
    await a.client.waitClosed();
    await b.client.waitClosed();
    assert.equal(own.backend.connections.size, 0);
  });
});

describe('ircsock relay liveness', () => {
  test('PING when idle; a client that answers stays, one that does not gets Ping timeout', async () => {
    const logs: string[] = [];
    const relay = await startRelay({ listen: [{ host: '127.0.0.1', port: 0 }], idle: 150, log: (l) => logs.push(l) });
    try {
      const live = await register(relay, 'alive');
      // `live` answers every PING at once, as a client would.
      let pings = 0;
      live.client.socket.on('line', () => {
        const last = live.client.lines[live.client.lines.length - 1]!;
        if (last.startsWith('PING ')) {
          pings++;
          live.send(`PONG ${last.slice(5)}`);
        }
      });
      const dead = await register(relay, 'dead');
      live.send('JOIN #live');
      dead.send('JOIN #live');
      await live.expect(/dead\S* JOIN #live/);
      await dead.expect(/^PING :?ircsock\.relay$/);
      assert.match(await dead.expect(/^ERROR /), /^ERROR :Closing link \(dead!\S+\) \[Ping timeout: \d+ seconds\]$/);
      await dead.client.waitClosed();
      assert.match(await live.expect(/ QUIT /), /^:dead!\S+ QUIT :Ping timeout: \d+ seconds$/);
      await until(live.client.socket, 'line', () => pings >= 3);
      assert.ok(!live.client.closed);
      await live.quit();
      assert.ok(logs.some((l) => /^connect #\d+ from 127\.0\.0\.1:\d+ on 127\.0\.0\.1:\d+$/.test(l)), logs.join('\n'));
      assert.ok(logs.some((l) => /^disconnect #\d+ dead from .*: Ping timeout: \d+ seconds$/.test(l)), logs.join('\n'));
    } finally {
      await relay.close();
    }
  });
});
