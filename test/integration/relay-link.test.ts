/**
 * Relays linked as servers (RFC 2813), in-process on loopback: clients on
 * each side see each other, a relay that goes makes a netsplit, one that
 * comes back is restored by the burst; collisions, loops, a malformed burst
 * and a flooding peer.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CLI_FLOOD } from '../../src/cli/relay/options.js';
import type { Relay, RelayOptions } from '../../src/cli/relay/server.js';
import { LoggedRelay } from '../helpers/logged-relay.js';
import { Peer, registerPeer } from '../helpers/irc-peer.js';
import { closedPort, LineClient, once } from '../helpers/net.js';

const PASSWORD = 'linkpw';
const LOCAL = { host: '127.0.0.1', port: 0 };

/** `ircsock relay` in a process of its own (the built CLI), so that a test can SIGKILL it. */
class RelayChild {
  readonly #child: ChildProcess;
  readonly port: number;

  private constructor(child: ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
  }

  static async start(args: readonly string[]): Promise<RelayChild> {
    const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    let out = '';
    const stdout = child.stdout;
    stdout.setEncoding('utf8');
    const listening = once(stdout, 'data', { filter: (chunk) => (out += chunk as string).includes('listening on ') });
    await listening;
    const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
    assert.ok(m !== null, out);
    stdout.resume();
    return new RelayChild(child, Number(m[1]));
  }

  async kill(): Promise<void> {
    const closed = once(this.#child, 'close');
    this.#child.kill('SIGKILL');
    await closed;
  }
}

const children: ChildProcess[] = [];

const started: Relay[] = [];
const peers: Peer[] = [];

async function relay(opts: RelayOptions): Promise<LoggedRelay> {
  const r = await LoggedRelay.start({ listen: [LOCAL], linkPassword: PASSWORD, linkRetry: { min: 50, max: 200 }, ...opts });
  started.push(r.relay);
  return r;
}

async function user(r: { readonly port: number }, nick: string): Promise<Peer> {
  const p = await registerPeer(r.port, nick);
  peers.push(p);
  return p;
}

/** Relay `a.test` accepting `b.test`, and `b.test` dialling it; resolves once both see the link. */
async function pair(aOpts: RelayOptions = {}, bOpts: RelayOptions = {}): Promise<[LoggedRelay, LoggedRelay]> {
  const a = await relay({ name: 'a.test', acceptLinks: ['b.test'], ...aOpts });
  const b = await relay({ name: 'b.test', links: [{ name: 'a.test', host: '127.0.0.1', port: a.port }], ...bOpts });
  await a.logged(/link b\.test up/);
  await b.logged(/link a\.test up/);
  return [a, b];
}

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const p of peers.splice(0)) p.client.socket.destroy();
  await Promise.all(started.splice(0).map((r) => r.close()));
});

describe('relay links', () => {
  test('clients on two linked relays see JOINs, channel and private messages in order, UTF-8 intact', async () => {
    const [a, b] = await pair();
    assert.match(await a.logged(/link b\.test up/), /\(in, compressed\)/);
    assert.match(await b.logged(/link a\.test up/), /\(out, compressed\)/);
    const alice = await user(a, 'alice');
    const bob = await user(b, 'bob');
    alice.send('JOIN #room');
    await alice.expect(/ 366 alice #room /);
    // Lines keep their order over the link: once bob has this, alice's JOIN has crossed too.
    alice.send('PRIVMSG bob :joined');
    await bob.expect(/PRIVMSG bob :?joined$/);
    bob.send('JOIN #room');
    // Bob's NAMES lists the remote member; alice sees bob's JOIN over the link.
    assert.match(await bob.expect(/ 353 bob = #room /), /:?(?:bob alice|alice bob)$/);
    await alice.expect(/^:bob!~bob@127\.0\.0\.1 JOIN :?#room$/);
    for (let i = 0; i < 20; i++) alice.send(`PRIVMSG #room :line ${i} ü→€`);
    for (let i = 0; i < 20; i++) assert.match(await bob.expect(/PRIVMSG #room /), new RegExp(`^:alice!~alice@127\\.0\\.0\\.1 PRIVMSG #room :line ${i} ü→€$`));
    bob.send('PRIVMSG alice :private ✓', 'WHO #room');
    await alice.expect(/^:bob!~bob@127\.0\.0\.1 PRIVMSG alice :private ✓$/);
    const who = await bob.linesUntil(/ 315 bob #room /);
    assert.ok(who.some((l) => / 352 bob #room ~alice 127\.0\.0\.1 a\.test alice H :1 /.test(l)), who.join('\n'));
    alice.send('WHOIS bob');
    await alice.expect(/ 312 alice bob b\.test /);
    bob.send('NICK bobby');
    await alice.expect(/^:bob!~bob@127\.0\.0\.1 NICK :?bobby$/);
    bob.send('PART #room :later');
    await alice.expect(/^:bobby!~bob@127\.0\.0\.1 PART #room :?later$/);
  });

  test('a relay that goes makes a netsplit; when it comes back the burst restores the view', async () => {
    const port = await closedPort();
    const b = await relay({ name: 'b.test', listen: [{ host: '127.0.0.1', port }], acceptLinks: ['a.test'] });
    const a = await relay({ name: 'a.test', links: [{ name: 'b.test', host: '127.0.0.1', port }] });
    await a.logged(/link b\.test up/);
    const alice = await user(a, 'alice');
    const bob = await user(b, 'bob');
    alice.send('JOIN #net');
    await alice.expect(/ 366 /);
    bob.send('JOIN #net');
    await alice.expect(/^:bob\S* JOIN /);
    await b.relay.close();
    started.splice(started.indexOf(b.relay), 1);
    // RFC netsplit reason: the server that stays, then the one lost.
    await alice.expect(/^:bob!~bob@127\.0\.0\.1 QUIT :a\.test b\.test$/);
    await a.logged(/link b\.test down/);

    const b2 = await relay({ name: 'b.test', listen: [{ host: '127.0.0.1', port }], acceptLinks: ['a.test'] });
    await b2.logged(/link a\.test up/);
    const carol = await user(b2, 'carol');
    carol.send('JOIN #net');
    // The burst tells b2 about alice in #net: in carol's NAMES or as a JOIN, whichever comes first.
    await carol.expect(/ 353 carol = #net .*alice|^:alice!~alice@127\.0\.0\.1 JOIN :?#net$/);
    await alice.expect(/^:carol!~carol@127\.0\.0\.1 JOIN :?#net$/);
  });

  test('a relay process killed with SIGKILL: netsplit QUITs on the other side; started again, its burst restores the view', async () => {
    const a = await relay({ name: 'a.test', acceptLinks: ['b.test'] });
    const alice = await user(a, 'alice');
    alice.send('JOIN #net');
    await alice.expect(/ 366 /);
    const args = ['relay', '--listen', '127.0.0.1:0', '--name', 'b.test', '--flood', 'off'];
    args.push('--link', `a.test@127.0.0.1:${a.port}`, '--link-password', PASSWORD);
    const first = await RelayChild.start(args);
    await a.logged(/link b\.test up/);
    const bob = await user({ port: first.port }, 'bob');
    bob.send('JOIN #net');
    await alice.expect(/^:bob!~bob@127\.0\.0\.1 JOIN :?#net$/);
    await first.kill();
    // No ERROR, no SQUIT: the kernel closes the dead process's socket, and that is the netsplit.
    await alice.expect(/^:bob!~bob@127\.0\.0\.1 QUIT :a\.test b\.test$/);
    await a.logged(/link b\.test down/);

    const second = await RelayChild.start(args);
    await a.logged(/link b\.test up/);
    const carol = await user({ port: second.port }, 'carol');
    carol.send('JOIN #net');
    // The burst tells the new process about alice in #net: in carol's NAMES or as a JOIN, whichever comes first.
    await carol.expect(/ 353 carol = #net .*alice|^:alice!~alice@127\.0\.0\.1 JOIN :?#net$/);
    await alice.expect(/^:carol!~carol@127\.0\.0\.1 JOIN :?#net$/);
    await second.kill();
  });

  test('the same nick on both sides at the burst: both are killed (RFC 2813)', async () => {
    const port = await closedPort();
    // a dials a port where nobody listens yet, and keeps trying.
    const a = await relay({ name: 'a.test', links: [{ name: 'b.test', host: '127.0.0.1', port }] });
    const b = await relay({ name: 'b.test', acceptLinks: ['a.test'] });
    const one = await user(a, 'dup');
    const two = await user(b, 'dup');
    const keep = await user(a, 'keeper');
    // Now b listens where a dials: the link comes up with `dup` on both sides.
    await b.relay.backend.createListener({ addr: '127.0.0.1', port });
    await b.logged(/link a\.test up/);
    // Each relay kills the newcomer back down the link, and each KILL takes that side's own dup.
    await one.expect(/^ERROR :Closing link .*Killed \(b\.test/);
    await two.expect(/^ERROR :Closing link .*Killed \(a\.test/);
    keep.send('ISON dup');
    assert.match(await keep.expect(/ 303 keeper /), / 303 keeper :?$/);
  });

  test('a server name already on the network is refused (no loops); clients stay', async () => {
    const [a] = await pair({ acceptLinks: ['b.test', 'c.test'] });
    const alice = await user(a, 'alice');
    // A second server calling itself b.test.
    const twin = await relay({ name: 'b.test', links: [{ name: 'a.test', host: '127.0.0.1', port: a.port }] });
    await twin.logged(/ERROR: Closing link: ID "b\.test" already registered/);
    await alice.sync();
    assert.equal(a.lines.filter((l) => /link b\.test up/.test(l)).length, 1);
  });

  test('a bad password or a server not accepted is refused', async () => {
    const a = await relay({ name: 'a.test', acceptLinks: ['b.test'] });
    const wrong = await relay({ name: 'b.test', linkPassword: 'nope', links: [{ name: 'a.test', host: '127.0.0.1', port: a.port }] });
    await wrong.logged(/sent ERROR: Closing link: Bad password/);
    const stranger = await relay({ name: 'x.test', links: [{ name: 'a.test', host: '127.0.0.1', port: a.port }] });
    await stranger.logged(/sent ERROR: Closing link: Server x\.test not configured here/);
  });

  test('--no-link-compress on one side: the link is plain', async () => {
    const [a, b] = await pair({}, { linkCompress: false });
    assert.match(await a.logged(/link b\.test up/), /\(in, plain\)/);
    assert.match(await b.logged(/link a\.test up/), /\(out, plain\)/);
  });

  /** A raw server linked in as `name`, its burst written; resolves once the relay has taken all of it. */
  async function rawServer(r: LoggedRelay, name: string, burst: readonly string[]): Promise<LineClient> {
    const peer = await LineClient.connect(r.port);
    peer.write(`PASS ${PASSWORD} 0210 IRC|x`, `SERVER ${name} 1 :${name}`, ...burst);
    await r.logged(new RegExp(`link ${name.replace(/\./g, '\\.')} up`));
    await serverSync(peer, 'burst');
    return peer;
  }

  /** Every line the peer sent before is handled once the relay answers this PING. */
  async function serverSync(peer: LineClient, token: string): Promise<void> {
    peer.write(`PING :${token}`);
    await once(peer.socket, 'line', { filter: () => peer.lines.some((l) => new RegExp(` PONG \\S+ :?${token}$`).test(l)) });
  }

  test('a link peer speaks only for its own side: KICK, TOPIC and KILL in the name of a local user or one behind another link are ignored, not passed on', async () => {
    const a = await relay({ name: 'a.test', acceptLinks: ['evil.test', 'other.test'] });
    const alice = await user(a, 'alice');
    alice.send('JOIN #x', 'TOPIC #x :the real topic');
    await alice.expect(/ TOPIC #x :the real topic$/);
    const other = await rawServer(a, 'other.test', ['NICK carol 1 carol host.test 1 + :Carol', 'NJOIN #x :carol']);
    await alice.expect(/^:carol!carol@host\.test JOIN :?#x$/);
    const evil = await rawServer(a, 'evil.test', ['NICK mallory 1 m host.test 1 + :M', 'NJOIN #x :mallory']);
    await alice.expect(/^:mallory!m@host\.test JOIN :?#x$/);
    const before = other.lines.length;
    evil.write(':carol KICK #x alice :spoofed', ':alice TOPIC #x :spoofed topic', ':carol KILL alice :spoofed', '::x TOPIC #x :boom');
    await serverSync(evil, 'after-spoof');
    await serverSync(other, 'after-spoof');
    assert.deepEqual(other.lines.slice(before).filter((l) => !/ PONG /.test(l)), [], 'nothing forged reached the other server');
    alice.send('TOPIC #x');
    await alice.expect(/ 332 alice #x :the real topic$/);
    // Still in the channel, still connected, and a JOIN elsewhere works (a forged topic setter cannot break 333).
    alice.send('JOIN #y');
    await alice.expect(/ 366 alice #y /);
    // A line from a user of the peer's own side still goes everywhere, with its resolved source.
    evil.write(':mallory TOPIC #x :fair topic');
    await alice.expect(/^:mallory!m@host\.test TOPIC #x :fair topic$/);
    await once(other.socket, 'line', { filter: () => other.lines.some((l) => /^:mallory TOPIC #x :fair topic$/.test(l)) });
  });

  test("a server's own PRIVMSG without a prefix reaches local members and the other links, from that server", async () => {
    const a = await relay({ name: 'a.test', acceptLinks: ['evil.test', 'other.test'] });
    const alice = await user(a, 'alice');
    alice.send('JOIN #x');
    await alice.expect(/ 366 /);
    const other = await rawServer(a, 'other.test', ['NICK carol 1 carol host.test 1 + :Carol', 'NJOIN #x :carol']);
    const evil = await rawServer(a, 'evil.test', []);
    evil.write('PRIVMSG #x :server notice');
    await alice.expect(/^:evil\.test PRIVMSG #x :server notice$/);
    await once(other.socket, 'line', { filter: () => other.lines.some((l) => /^:evil\.test PRIVMSG #x :server notice$/.test(l)) });
  });

  test('a token of a server that was SQUIT cannot bring users back onto it (no user outlives its link)', async () => {
    const a = await relay({ name: 'a.test', acceptLinks: ['evil.test'] });
    const alice = await user(a, 'alice');
    const evil = await rawServer(a, 'evil.test', [':evil.test SERVER c.test 2 7 :c', ':evil.test SQUIT c.test :gone']);
    evil.write('NICK ghost 2 g host.test 7 + :G');
    await evil.waitClosed();
    await a.logged(/link evil\.test down/);
    alice.send('NICK ghost');
    await alice.expect(/^:alice!\S+ NICK :?ghost$/);
  });

  test('a peer with a malformed burst is dropped; the relay keeps its clients', async () => {
    const a = await relay({ name: 'a.test', acceptLinks: ['evil.test'] });
    const alice = await user(a, 'alice');
    const evil = await LineClient.connect(a.port);
    evil.write(`PASS ${PASSWORD} 0210 IRC|x`, 'SERVER evil.test 1 :evil', ':evil.test NICK bad!nick 1 u h 1 + :r');
    await once(evil.socket, 'line', { filter: () => evil.lines.some((l) => /^ERROR :Closing link: Malformed NICK/.test(l)) });
    await evil.waitClosed();
    await a.logged(/link evil\.test down/);
    await alice.sync();
  });

  test("a link's burst is not held by the listener's client flood control (the CLI's 5:20): 2,000 burst lines arrive at once", async () => {
    const a = await relay({ name: 'a.test', acceptLinks: ['big.test'], flood: CLI_FLOOD });
    const alice = await user(a, 'alice');
    const big = await LineClient.connect(a.port);
    big.write(`PASS ${PASSWORD} 0210 IRC|x`, 'SERVER big.test 1 :big');
    const nicks = Array.from({ length: 2_000 }, (_, i) => `u${i}`);
    big.write(...nicks.map((n, i) => `:big.test NICK ${n} 1 ${n} host.test 1 + :user ${i}`));
    big.write('PING :done');
    // At 5 lines a second 2,000 lines would take 6 minutes, and a client flood past 10 s of debt is an Excess Flood.
    await once(big.socket, 'line', { filter: () => big.lines.some((l) => / PONG .*done/.test(l)) });
    alice.send('ISON u0 u1999');
    await alice.expect(/ 303 alice :u0 u1999$/);
    await big.destroy();
  });

  test('a flooding peer is dropped with Excess Flood; the relay keeps its clients', async () => {
    const a = await relay({ name: 'a.test', acceptLinks: ['flood.test'], linkFlood: { rate: 100, burst: 500 } });
    const alice = await user(a, 'alice');
    const flood = await LineClient.connect(a.port);
    flood.write(`PASS ${PASSWORD} 0210 IRC|x`, 'SERVER flood.test 1 :flood');
    flood.write(...Array.from({ length: 5000 }, (_, i) => `:flood.test WALLOPS :line ${i}`));
    await a.logged(/link flood\.test down: Excess Flood/);
    await flood.waitClosed();
    await alice.sync();
  });
});
