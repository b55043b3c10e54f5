/**
 * Compressed links (issue 5) over real loopback sockets: the switch agreed in
 * the protocol (a `ZIP` line each way) on two backends, the switch inside one
 * socket read, the pending switch, back to plain, corrupt input, a bomb, SendQ
 * while compressed, TLS, and bytes from Perl's Compress::Zlib (the library
 * under POE::Filter::Zlib::Stream, the seed's filter).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import zlib from 'node:zlib';
import { Backend, type BackendOptions } from '../../src/backend.js';
import type { Connection } from '../../src/connection/connection.js';
import type { Listener } from '../../src/listen/listener.js';
import type { IrcMessage, IrcMessageInit } from '../../src/message/message.js';
import { formatLine } from '../../src/message/format.js';
import { countEvents, once, until } from '../helpers/net.js';
import { localhostCert } from '../helpers/tls-cert.js';
import { mulberry32 as prng } from '../helpers/prng.js';

const LONG_WAIT = 30_000;
const BIG_QUEUE: BackendOptions['limits'] = { sendQ: 64 * 1024 * 1024, sendQHighWater: 32 * 1024 * 1024 };

// --- the lines ---------------------------------------------------------------

const WORDS = ['the', 'netsplit', 'ping', 'lag', 'ircd', 'café', 'naïve', 'über', 'привет', '日本語', 'こんにちは', '🙂', '🎉', 'a:b', 'x\\y'];
const MAX_BODY = 510; // 512 with CRLF
const MAX_TAGS = 8191; // '@' and the space included

/** Fills `prefix` with UTF-8 text up to exactly `bytes` bytes. */
function fillTo(prefix: string, bytes: number, rnd: () => number): string {
  let s = prefix;
  for (;;) {
    const w = ` ${WORDS[Math.floor(rnd() * WORDS.length)] as string}`;
    if (Buffer.byteLength(s + w) > bytes) break;
    s += w;
  }
  return s + 'x'.repeat(bytes - Buffer.byteLength(s));
}

/** `n` varied messages: UTF-8, escaped tag values, bare tags, long bodies and tag sections at the limits. */
function messages(who: string, n: number, seed: number): IrcMessageInit[] {
  const rnd = prng(seed);
  const words = (k: number): string => Array.from({ length: k }, () => WORDS[Math.floor(rnd() * WORDS.length)] as string).join(' ');
  const out: IrcMessageInit[] = [];
  for (let i = 0; i < n; i++) {
    let msg: IrcMessageInit;
    switch (i % 9) {
      case 0:
        msg = { source: `${who}!user@host.example`, command: 'PRIVMSG', params: ['#chan', `${who} ${i}: ${words(2 + (i % 13))}`] };
        break;
      case 1:
        msg = {
          tags: { msgid: `${who}-${i}`, 'example.com/esc': `semi;colon space\\back\r\nnl=eq ${i} ${words(2)}`, '+draft/react': '🎉', bare: '' },
          command: 'TAGMSG',
          params: ['#chan'],
        };
        break;
      case 2: {
        // A body of exactly 510 bytes: the longest the limit lets through.
        const head = `PRIVMSG #chan :`;
        const text = fillTo(`${who} ${i} long`, MAX_BODY - head.length, rnd);
        msg = { command: 'PRIVMSG', params: ['#chan', text] };
        break;
      }
      case 3:
        msg = { command: 'MODE', params: ['#chan', '+ov', `${who}${i}`, 'other'] };
        break;
      case 4:
        msg = { source: 'irc.example.net', command: '353', params: [who, '=', '#chan', `@op +voice ${words(6)}`] };
        break;
      case 5:
        msg = { command: 'PRIVMSG', params: ['#chan', `:starts with a colon ${i}`] };
        break;
      case 6:
        msg = { command: 'TOPIC', params: ['#chan', ''] };
        break;
      case 7:
        if (i % 63 === 7) {
          // A tag section of exactly 8191 bytes; its value hardly compresses.
          const key = 'example.com/big';
          const room = MAX_TAGS - 1 - key.length - 1 - 1;
          const value = `${i}-${randomLike(rnd, room)}`.slice(0, room);
          msg = { tags: { [key]: value }, command: 'PRIVMSG', params: ['#chan', `big tags ${i}`] };
        } else {
          msg = { command: 'PING', params: [`${who}.${i}`] };
        }
        break;
      default:
        msg = { tags: { time: new Date(1_700_000_000_000 + i * 1000).toISOString(), account: who }, source: `${who}!u@h`, command: 'NOTICE', params: ['#chan', words(1 + (i % 20))] };
    }
    out.push(msg);
  }
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
function randomLike(rnd: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += B64[Math.floor(rnd() * 64)] as string;
  return s;
}

function wireBytes(msgs: readonly IrcMessageInit[]): number {
  let n = 0;
  for (const m of msgs) n += Buffer.byteLength(formatLine(m)) + 2;
  return n;
}

/** Asserts every message arrived exactly once, in order, unchanged. */
function assertSame(got: readonly IrcMessage[], sent: readonly IrcMessageInit[], what: string): void {
  assert.equal(got.length, sent.length, `${what}: count`);
  for (let i = 0; i < sent.length; i++) {
    const g = got[i] as IrcMessage;
    const s = sent[i] as IrcMessageInit;
    if (g.command !== s.command || g.source !== s.source || JSON.stringify(g.params) !== JSON.stringify(s.params ?? [])) {
      assert.fail(`${what}: message ${i} differs: got ${g.raw}, sent ${formatLine(s)}`);
    }
    assert.deepEqual({ ...g.tags }, s.tags ?? {}, `${what}: tags of message ${i}`);
  }
}

/** Sends `msgs` in batches, one batch per turn of the event loop, so many sync-flushed batches cross. */
function sendPaced(backend: Backend, conn: Connection, msgs: readonly IrcMessageInit[], batch = 400): void {
  let i = 0;
  const step = (): void => {
    if (!conn.connected) return;
    const end = Math.min(i + batch, msgs.length);
    for (; i < end; i++) backend.send(msgs[i] as IrcMessageInit, conn);
    if (i < msgs.length) setImmediate(step);
  };
  step();
}

// --- two backends ------------------------------------------------------------

interface Pair {
  a: Backend;
  b: Backend;
  /** A's end (the connector). */
  ca: Connection;
  /** B's end (accepted by B's listener). */
  cb: Connection;
  close(): Promise<void>;
}

async function pair(opts: { tls?: boolean } = {}): Promise<Pair> {
  const cert = opts.tls === true ? localhostCert() : undefined;
  const a = new Backend({ limits: BIG_QUEUE });
  const b = new Backend({ limits: BIG_QUEUE, ...(cert === undefined ? {} : { tls: { key: cert.key, cert: cert.cert } }) });
  const close = async (): Promise<void> => {
    await Promise.all([a.shutdown(), b.shutdown()]);
  };
  try {
    const listener = await b.createListener({ addr: '127.0.0.1', port: 0, ...(cert === undefined ? {} : { tls: true }) });
    const opened = once(b, 'listenerOpen');
    const ca = await a.createConnector({
      addr: '127.0.0.1',
      port: listener.port,
      ...(cert === undefined ? {} : { tls: { ca: cert.cert, servername: 'localhost' } }),
    });
    const [cb] = await opened;
    return { a, b, ca, cb, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * The switch, agreed in the protocol: A sends ZIP; B, on it, sends ZIP and
 * switches at once; A switches on B's ZIP. Each side calls `onSwitched` right
 * after its switch, in the same handler (so its first compressed sends share
 * a flush with B's plain ZIP). Resolves once both have switched.
 */
async function zipBothWays(p: Pair, onSwitched: (side: 'a' | 'b') => void = () => undefined): Promise<void> {
  const { a, b, ca, cb } = p;
  const switched = { a: false, b: false };
  const onA = (c: Connection, m: IrcMessage): void => {
    if (c !== ca || m.command !== 'ZIP' || switched.a) return;
    assert.ok(a.setCompressedLinkNow(c));
    switched.a = true;
    a.off('input', onA);
    onSwitched('a');
  };
  const onB = (c: Connection, m: IrcMessage): void => {
    if (c !== cb || m.command !== 'ZIP' || switched.b) return;
    b.send({ command: 'ZIP' }, c);
    assert.ok(b.setCompressedLinkNow(c));
    switched.b = true;
    b.off('input', onB);
    onSwitched('b');
  };
  a.on('input', onA);
  b.on('input', onB);
  const aOn = once(a, 'compressed', { timeout: LONG_WAIT });
  const bOn = once(b, 'compressed', { timeout: LONG_WAIT });
  a.send({ command: 'ZIP' }, ca);
  await Promise.all([aOn, bOn]);
}

/** Collects the `input` of one connection. */
function collect(backend: Backend, conn: Connection): IrcMessage[] {
  const got: IrcMessage[] = [];
  backend.on('input', (c, m) => {
    if (c === conn) got.push(m);
  });
  return got;
}

/** ZIP both ways, then `n` lines each way; checks order, exactly-once, and that the wire carried less. */
async function exchange(p: Pair, n: number): Promise<void> {
  const fromA = messages('alice', n, 1);
  const fromB = messages('bob', n, 2);
  const events = { a: countEvents(p.a, ['compressed']), b: countEvents(p.b, ['compressed']) };
  const gotA: IrcMessage[] = [];
  const gotB: IrcMessage[] = [];
  let aInBefore = 0;
  let bInBefore = 0;
  await zipBothWays(p, (side) => {
    // From here on, what each side receives is the other side's lines.
    if (side === 'a') {
      aInBefore = p.ca.bytesIn;
      p.a.on('input', (c, m) => {
        if (c === p.ca) gotA.push(m);
      });
      sendPaced(p.a, p.ca, fromA);
    } else {
      bInBefore = p.cb.bytesIn;
      p.b.on('input', (c, m) => {
        if (c === p.cb) gotB.push(m);
      });
      sendPaced(p.b, p.cb, fromB);
    }
  });
  await until(p.a, 'input', () => gotA.length >= n, LONG_WAIT);
  await until(p.b, 'input', () => gotB.length >= n, LONG_WAIT);
  assertSame(gotA, fromB, 'B to A');
  assertSame(gotB, fromA, 'A to B');
  assert.equal(events.a.counts.compressed, 1);
  assert.equal(events.b.counts.compressed, 1);
  assert.equal(p.ca.compressed, true);
  assert.equal(p.cb.compressed, true);
  // Compressed on the wire: far fewer bytes crossed than the plain lines hold.
  const plainB = wireBytes(fromB);
  const plainA = wireBytes(fromA);
  assert.ok(p.ca.bytesIn - aInBefore < plainB * 0.7, `A received ${p.ca.bytesIn - aInBefore} bytes for ${plainB} plain`);
  assert.ok(p.cb.bytesIn - bInBefore < plainA * 0.7, `B received ${p.cb.bytesIn - bInBefore} bytes for ${plainA} plain`);
}

test('two backends switch on a ZIP line; 10,000 varied lines cross both ways, each exactly once, in order', async () => {
  const p = await pair();
  try {
    await exchange(p, 10_000);
    // Still a working link afterwards, in both directions.
    const back = once(p.a, 'input', { filter: (c, m) => c === p.ca && m.command === 'PONG' });
    p.b.on('input', (c, m) => {
      if (m.command === 'PING') p.b.send({ command: 'PONG', params: m.params }, c);
    });
    p.a.send({ command: 'PING', params: ['final'] }, p.ca);
    const [, pong] = await back;
    assert.deepEqual(pong.params, ['final']);
  } finally {
    await p.close();
  }
});

test('compression on a TLS link', async () => {
  const p = await pair({ tls: true });
  try {
    assert.ok(p.ca.tls !== undefined && p.cb.tls !== undefined);
    await exchange(p, 3_000);
  } finally {
    await p.close();
  }
});

// --- a raw peer --------------------------------------------------------------

/** A raw zlib peer: writes bytes as given, keeps every byte it receives. */
class RawPeer {
  readonly socket: net.Socket;
  received = Buffer.alloc(0);
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      socket.emit('bytes');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static async connect(port: number): Promise<RawPeer> {
    const socket = net.connect({ host: '127.0.0.1', port });
    await once(socket, 'connect');
    return new RawPeer(socket);
  }

  /** Resolves once `predicate(received)` holds. */
  async waitFor(predicate: (received: Buffer) => boolean, timeout = 5_000): Promise<void> {
    if (predicate(this.received)) return;
    await once(this.socket, 'bytes', { timeout, filter: () => predicate(this.received) });
  }

  async waitClosed(timeout = 5_000): Promise<void> {
    if (!this.closed) await once(this.socket, 'close', { timeout });
  }
}

/** A zlib stream in the peer's direction: each `lines()` call is one sync-flushed batch, as the seed writes it. */
class PeerDeflater {
  readonly #z = zlib.createDeflate({ level: 6 });
  readonly #out: Buffer[] = [];

  constructor() {
    this.#z.on('data', (c: Buffer) => this.#out.push(c));
  }

  /** Compresses `text`, ends the batch with the given flush; resolves with its bytes. */
  batch(text: string | Buffer, flush: number = zlib.constants.Z_SYNC_FLUSH): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.#z.write(text);
      this.#z.flush(flush, () => {
        const out = Buffer.concat(this.#out);
        this.#out.length = 0;
        resolve(out);
      });
      this.#z.once('error', reject);
    });
  }

  close(): void {
    this.#z.close();
  }
}

/** Inflates what a backend sends after its switch point; `text` grows as bytes come. */
class PeerInflater {
  text = '';
  readonly #z = zlib.createInflate();

  constructor() {
    this.#z.on('data', (c: Buffer) => {
      this.text += c.toString('utf8');
      this.#z.emit('text');
    });
  }

  write(bytes: Buffer): void {
    this.#z.write(bytes);
  }

  async waitLines(n: number, timeout = 5_000): Promise<string[]> {
    const lines = (): string[] => this.text.split('\r\n').slice(0, -1);
    if (lines().length < n) await once(this.#z, 'text', { timeout, filter: () => lines().length >= n });
    return lines();
  }

  close(): void {
    this.#z.close();
  }
}

async function listen(opts: BackendOptions = {}, limits?: BackendOptions['limits']): Promise<{ backend: Backend; listener: Listener }> {
  const backend = new Backend(opts);
  const listener = await backend.createListener({ addr: '127.0.0.1', port: 0, ...(limits === undefined ? {} : { limits }) });
  return { backend, listener };
}

/** Switches a connection at once when its peer sends ZIP. */
function zipOnRequest(backend: Backend): void {
  backend.on('input', (c, m) => {
    if (m.command === 'ZIP') backend.setCompressedLinkNow(c);
  });
}

test('the switch falls inside one socket read: bytes after the ZIP line, already read, are inflated', async () => {
  const { backend, listener } = await listen();
  try {
    zipOnRequest(backend);
    const got: string[] = [];
    backend.on('input', (_c, m) => got.push(m.raw ?? ''));
    const opened = once(backend, 'listenerOpen');
    const peer = await RawPeer.connect(listener.port);
    const [conn] = await opened;
    const z = new PeerDeflater();
    // Compressed bytes that hold LFs: the line decoder has split them as
    // "lines" of the plain read already, and must give them back unread.
    let first: Buffer;
    let k = 0;
    do {
      first = await z.batch(`PRIVMSG #a :compressed one ${k} ünï\r\nPRIVMSG #a :compressed two\r\nPRIVMSG #a :par`);
      k++;
    } while (!first.includes(0x0a) && k < 200);
    assert.ok(first.includes(0x0a), 'the compressed bytes hold an LF');
    const compressedEvent = once(backend, 'compressed');
    // One write: a plain line, the ZIP line, then compressed bytes ending in a partial line.
    peer.socket.write(Buffer.concat([Buffer.from('NICK plain\r\nZIP\r\n'), first]));
    await compressedEvent;
    await until(backend, 'input', () => got.length >= 4);
    // The partial line is finished by the next compressed batch.
    peer.socket.write(await z.batch('t three\r\nPRIVMSG #a :four\r\n'));
    await until(backend, 'input', () => got.length >= 6);
    assert.deepEqual(got, [
      'NICK plain',
      'ZIP',
      `PRIVMSG #a :compressed one ${k - 1} ünï`,
      'PRIVMSG #a :compressed two',
      'PRIVMSG #a :part three',
      'PRIVMSG #a :four',
    ]);
    assert.equal(conn.compressed, true);
    // Our output is compressed too, from the switch on.
    backend.send({ command: 'PONG', params: ['back'] }, conn);
    const inflate = new PeerInflater();
    await peer.waitFor((r) => r.length > 0);
    inflate.write(peer.received);
    assert.deepEqual(await inflate.waitLines(1), ['PONG back']);
    z.close();
    inflate.close();
    peer.socket.destroy();
  } finally {
    await backend.shutdown();
  }
});

test('setCompressedLink: lines queued before the call go out plain, later ones compressed; then input inflates', async () => {
  const { backend, listener } = await listen();
  try {
    const got: string[] = [];
    backend.on('input', (_c, m) => got.push(m.raw ?? ''));
    const opened = once(backend, 'listenerOpen');
    const peer = await RawPeer.connect(listener.port);
    const [conn] = await opened;
    const compressed = once(backend, 'compressed');
    const before = ['PRIVMSG #a :before one', 'PRIVMSG #a :before two ünï', 'ZIP'];
    const after = Array.from({ length: 200 }, (_, i) => `PRIVMSG #a :after ${i}`);
    for (const l of before) backend.sendLine(l, conn);
    assert.ok(backend.setCompressedLink(conn));
    // Pending until the queue is out: sends meanwhile wait, to go out compressed.
    assert.equal(conn.compressed, false);
    for (const l of after) backend.sendLine(l, conn);
    const [c] = await compressed;
    assert.equal(c, conn);
    assert.equal(conn.compressed, true);

    const plain = Buffer.from(before.map((l) => `${l}\r\n`).join(''));
    await peer.waitFor((r) => r.length > plain.length);
    assert.ok(peer.received.subarray(0, plain.length).equals(plain), 'the lines before the call, plain, first');
    const inflate = new PeerInflater();
    let fed = plain.length;
    const feed = (): void => {
      inflate.write(peer.received.subarray(fed));
      fed = peer.received.length;
    };
    feed();
    peer.socket.on('bytes', feed);
    assert.deepEqual(await inflate.waitLines(after.length), after);

    // Input is inflated from the switch on.
    const z = new PeerDeflater();
    peer.socket.write(await z.batch('PRIVMSG #a :from the peer, compressed\r\n'));
    await until(backend, 'input', () => got.length >= 1);
    assert.deepEqual(got, ['PRIVMSG #a :from the peer, compressed']);
    z.close();
    inflate.close();
    peer.socket.destroy();
  } finally {
    await backend.shutdown();
  }
});

test('disconnect right after setCompressedLink: the lines sent after the call still go out compressed', async () => {
  const { backend, listener } = await listen();
  try {
    const opened = once(backend, 'listenerOpen');
    const peer = await RawPeer.connect(listener.port);
    const [conn] = await opened;
    backend.sendLine('ZIP', conn);
    backend.setCompressedLink(conn);
    backend.sendLine('ERROR :Closing link (compressed)', conn);
    backend.disconnect(conn, 'bye');
    await peer.waitClosed();
    const plain = Buffer.from('ZIP\r\n');
    assert.ok(peer.received.subarray(0, plain.length).equals(plain));
    const rest = peer.received.subarray(plain.length);
    const text = zlib.inflateSync(rest, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
    assert.equal(text, 'ERROR :Closing link (compressed)\r\n');
  } finally {
    await backend.shutdown();
  }
});

test('unset: both ends go back to plain at the agreed line, and on in plain both ways; then compress again', async () => {
  const p = await pair();
  try {
    await zipBothWays(p);
    const { a, b, ca, cb } = p;
    const n = 2_000;
    const fromA = messages('alice', n, 3);
    const fromB = messages('bob', n, 4);
    const gotA = collect(a, ca);
    const gotB = collect(b, cb);
    // The way back mirrors the way in: A sends UNZIP (compressed) and stops;
    // B on it sends UNZIP (compressed), unsets, and at once sends plain; A
    // unsets on B's UNZIP and sends plain.
    b.on('input', (c, m) => {
      if (c !== cb || m.command !== 'UNZIP') return;
      b.send({ command: 'UNZIP' }, c);
      assert.ok(b.unsetCompressedLink(c));
      assert.equal(c.compressed, false);
      sendPaced(b, c, fromB);
    });
    a.on('input', (c, m) => {
      if (c !== ca || m.command !== 'UNZIP') return;
      assert.ok(a.unsetCompressedLink(c));
      sendPaced(a, c, fromA);
    });
    // A compressed burst just before UNZIP, so the old inflater still has work when plain bytes arrive.
    for (const m of messages('pre', 500, 5)) a.send(m, ca);
    a.send({ command: 'UNZIP' }, ca);
    await until(a, 'input', () => gotA.length >= n + 1, LONG_WAIT);
    await until(b, 'input', () => gotB.length >= n + 501, LONG_WAIT);
    assertSame(gotA.slice(1), fromB, 'B to A, plain');
    assertSame(gotB.slice(501), fromA, 'A to B, plain');
    assert.equal(gotA[0]?.command, 'UNZIP');
    assert.equal(gotB[500]?.command, 'UNZIP');
    assert.equal(ca.compressed, false);
    assert.equal(cb.compressed, false);
    // Plain on the wire now: what A reads is exactly what B formats.
    const inBefore = ca.bytesIn;
    const plainLine = { command: 'PRIVMSG', params: ['#chan', 'plain check'] };
    b.send(plainLine, cb);
    await until(a, 'input', () => gotA.length >= n + 2);
    assert.equal(ca.bytesIn - inBefore, Buffer.byteLength(formatLine(plainLine)) + 2);

    // And compressed again, with fresh streams.
    gotA.length = 0;
    gotB.length = 0;
    await zipBothWays(p);
    const again = messages('again', 300, 6);
    for (const m of again) b.send(m, cb);
    for (const m of again) a.send(m, ca);
    await until(a, 'input', () => gotA.length >= 301, LONG_WAIT);
    await until(b, 'input', () => gotB.length >= 301, LONG_WAIT);
    assertSame(gotA.slice(1), again, 'again B to A');
    assertSame(gotB.slice(1), again, 'again A to B');
  } finally {
    await p.close();
  }
});

test('unset inside one socket read: plain bytes right after the UNZIP batch are not inflated', async () => {
  const { backend, listener } = await listen();
  try {
    const got: string[] = [];
    backend.on('input', (c, m) => {
      got.push(m.raw ?? '');
      if (m.command === 'ZIP') backend.setCompressedLinkNow(c);
      if (m.command === 'UNZIP') backend.unsetCompressedLink(c);
    });
    const errors: string[] = [];
    backend.on('disconnect', (_c, _r, err) => errors.push((err as { code?: string } | undefined)?.code ?? 'none'));
    const opened = once(backend, 'listenerOpen');
    const peer = await RawPeer.connect(listener.port);
    const [conn] = await opened;
    const z = new PeerDeflater();
    // ZIP, compressed batches flushed one per line (as the Perl original
    // sends them), the last one UNZIP, then plain: all in one write.
    const batches = [await z.batch('PRIVMSG #a :compressed\r\n'), await z.batch('UNZIP\r\n')];
    peer.socket.write(Buffer.concat([Buffer.from('ZIP\r\n'), ...batches, Buffer.from('PRIVMSG #a :plain after\r\n')]));
    await until(backend, 'input', () => got.length >= 4);
    assert.deepEqual(got, ['ZIP', 'PRIVMSG #a :compressed', 'UNZIP', 'PRIVMSG #a :plain after']);
    assert.equal(conn.compressed, false);

    // Again, with the flush marker that ends the UNZIP batch cut across two writes.
    peer.socket.write('ZIP\r\n');
    await until(backend, 'input', () => got.length >= 5);
    // A fresh zlib stream (with its header) for the second compressed stretch.
    const z2 = new PeerDeflater();
    const batch2 = await z2.batch('PRIVMSG #a :again\r\nUNZIP\r\n');
    assert.ok(batch2.subarray(-4).equals(Buffer.from([0, 0, 0xff, 0xff])));
    peer.socket.write(batch2.subarray(0, -2));
    await until(backend, 'input', () => got.length >= 7);
    peer.socket.write(Buffer.concat([batch2.subarray(-2), Buffer.from('PRIVMSG #a :plain again\r\n')]));
    await until(backend, 'input', () => got.length >= 8);
    assert.deepEqual(got.slice(4), ['ZIP', 'PRIVMSG #a :again', 'UNZIP', 'PRIVMSG #a :plain again']);
    assert.deepEqual(errors, []);
    assert.equal(conn.connected, true);
    z.close();
    z2.close();
    peer.socket.destroy();
  } finally {
    await backend.shutdown();
  }
});

test('corrupt compressed input closes that connection alone with ERR_ZLIB', async () => {
  const { backend, listener } = await listen();
  try {
    zipOnRequest(backend);
    const got = new Map<number, string[]>();
    backend.on('input', (c, m) => {
      const list = got.get(c.id) ?? [];
      list.push(m.raw ?? '');
      got.set(c.id, list);
    });
    const opens = [once(backend, 'listenerOpen')];
    const bad = await RawPeer.connect(listener.port);
    const [badConn] = await opens[0]!;
    const opened2 = once(backend, 'listenerOpen');
    const good = await RawPeer.connect(listener.port);
    const [goodConn] = await opened2;
    const zGood = new PeerDeflater();
    const zBad = new PeerDeflater();
    good.socket.write(Buffer.concat([Buffer.from('ZIP\r\n'), await zGood.batch('PRIVMSG #a :good one\r\n')]));
    await until(backend, 'input', () => (got.get(goodConn.id)?.length ?? 0) >= 2);

    const gone = once(backend, 'disconnect', { filter: (c) => c === badConn });
    // A valid batch, then bytes that are no deflate data: BTYPE 11 is reserved.
    const valid = await zBad.batch('PRIVMSG #a :bad one, still fine\r\n');
    bad.socket.write(Buffer.concat([Buffer.from('ZIP\r\n'), valid, Buffer.from([0x07, 0xff, 0x13, 0x37, 0x00, 0x0a, 0x42])]));
    const [, reason, err] = await gone;
    assert.equal((err as { code?: string } | undefined)?.code, 'ERR_ZLIB');
    assert.equal(typeof reason, 'string');
    assert.deepEqual(got.get(badConn.id), ['ZIP', 'PRIVMSG #a :bad one, still fine']);
    await bad.waitClosed();

    // The other compressed connection goes on, both ways.
    assert.equal(goodConn.connected, true);
    good.socket.write(await zGood.batch('PRIVMSG #a :good two\r\n'));
    await until(backend, 'input', () => (got.get(goodConn.id)?.length ?? 0) >= 3);
    assert.deepEqual(got.get(goodConn.id), ['ZIP', 'PRIVMSG #a :good one', 'PRIVMSG #a :good two']);
    backend.sendLine('PONG :still here', goodConn);
    const inflate = new PeerInflater();
    await good.waitFor((r) => r.length > 0);
    inflate.write(good.received);
    assert.deepEqual(await inflate.waitLines(1), ['PONG :still here']);
    zGood.close();
    zBad.close();
    inflate.close();
    good.socket.destroy();
  } finally {
    await backend.shutdown();
  }
});

for (const [name, segmentBytes, perWrite] of [
  ['16 MiB segments', 16 * 1024 * 1024, 1],
  ['512 KiB segments, each under the cut-off, many per read', 512 * 1024, 64],
] as const) {
test(`a decompression bomb (${name}) is cut off with ERR_ZLIB_BOMB and bounded RSS`, async () => {
  const { backend, listener } = await listen();
  try {
    zipOnRequest(backend);
    const errors: string[] = [];
    backend.on('inputError', (_c, e) => errors.push(e.code));
    const opened = once(backend, 'listenerOpen');
    const peer = await RawPeer.connect(listener.port);
    const [conn] = await opened;
    // 16 MiB of line feeds (empty lines: nothing over-long for the line
    // decoder to cut first), full-flushed: a segment of ~16 KiB that needs no
    // history, so it can be sent again and again (1 GiB inflated per 64 copies).
    const z = new PeerDeflater();
    const zeros = Buffer.alloc(segmentBytes, 0x0a);
    const head = await z.batch(zeros, zlib.constants.Z_FULL_FLUSH);
    const one = await z.batch(zeros, zlib.constants.Z_FULL_FLUSH);
    z.close();
    const segment = Buffer.concat(Array.from({ length: perWrite }, () => one));
    assert.ok(segment.length < 64 * 1024, `segment is ${segment.length} bytes`);
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const gone = once(backend, 'disconnect', { filter: (c) => c === conn, timeout: 15_000 });
    peer.socket.write(Buffer.concat([Buffer.from('ZIP\r\n'), head]));
    // Keep sending until the backend hangs up, at most 4 GiB worth of zeros.
    const pump = async (): Promise<void> => {
      for (let i = 0; i < 256 && !peer.closed && peer.socket.writable; i++) {
        rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
        if (!peer.socket.write(segment)) {
          await Promise.race([once(peer.socket, 'drain', { timeout: 15_000 }), peer.waitClosed(15_000)]).catch(() => undefined);
        }
      }
    };
    const pumping = pump();
    const [, , err] = await gone;
    await pumping;
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    assert.equal((err as { code?: string } | undefined)?.code, 'ERR_ZLIB_BOMB');
    const grew = (rssPeak - rssBefore) / 1024 / 1024;
    assert.ok(grew < 100, `RSS grew by ${grew.toFixed(1)} MiB`);
    assert.ok(conn.bytesIn < 64 * 1024 * 1024, `read ${conn.bytesIn} bytes before the cut`);
    await peer.waitClosed();
  } finally {
    await backend.shutdown();
  }
});
}

test('a compressed line over the limit is dropped by the line limit, and the link goes on', async () => {
  const { backend, listener } = await listen();
  try {
    zipOnRequest(backend);
    const errors: string[] = [];
    const got: string[] = [];
    backend.on('inputError', (_c, e) => errors.push(e.code));
    backend.on('input', (_c, m) => got.push(m.raw ?? ''));
    const opened = once(backend, 'listenerOpen');
    const peer = await RawPeer.connect(listener.port);
    const [conn] = await opened;
    const z = new PeerDeflater();
    // 100 KiB without an LF inflates from ~1 KiB: below the bomb cut-off and
    // the over-long bound, so the line limit must drop it without keeping it.
    const long = await z.batch(Buffer.concat([Buffer.alloc(100 * 1024, 0x41), Buffer.from('\r\nPRIVMSG #a :after the long one\r\n')]));
    assert.ok(long.length < 4096);
    peer.socket.write(Buffer.concat([Buffer.from('ZIP\r\n'), long]));
    await until(backend, 'input', () => got.length >= 2);
    assert.deepEqual(got, ['ZIP', 'PRIVMSG #a :after the long one']);
    assert.deepEqual(errors, ['ERR_LINE_TOO_LONG']);
    assert.equal(conn.connected, true);
    z.close();
    peer.socket.destroy();
  } finally {
    await backend.shutdown();
  }
});

test('a compressed line past the over-long bound (limits.readQ) closes the link with ERR_READQ_EXCEEDED', async () => {
  const { backend, listener } = await listen();
  try {
    zipOnRequest(backend);
    const opened = once(backend, 'listenerOpen');
    const peer = await RawPeer.connect(listener.port);
    const [conn] = await opened;
    const z = new PeerDeflater();
    const gone = once(backend, 'disconnect', { filter: (c) => c === conn });
    peer.socket.write(Buffer.concat([Buffer.from('ZIP\r\n'), await z.batch(Buffer.alloc(900 * 1024, 0x41))]));
    const [, reason, err] = await gone;
    assert.equal((err as { code?: string } | undefined)?.code, 'ERR_READQ_EXCEEDED');
    assert.equal(reason, 'Excess Flood');
    z.close();
    await peer.waitClosed();
  } finally {
    await backend.shutdown();
  }
});

test('a peer that never reads while compressed still hits SendQ (ERR_SENDQ_EXCEEDED)', async () => {
  const { backend, listener } = await listen({}, { sendQ: 256 * 1024, sendQHighWater: 64 * 1024 });
  try {
    zipOnRequest(backend);
    const opened = once(backend, 'listenerOpen');
    const peer = await RawPeer.connect(listener.port);
    const [conn] = await opened;
    const compressed = once(backend, 'compressed');
    peer.socket.write('ZIP\r\n');
    await compressed;
    peer.socket.pause(); // never reads again
    const gone = once(backend, 'disconnect', { filter: (c) => c === conn, timeout: 20_000 });
    // Lines that hardly compress, a batch per turn, until the backend gives up on the peer.
    let stop = false;
    const step = (): void => {
      if (stop || !conn.connected || conn.disconnecting !== false) return;
      for (let i = 0; i < 200; i++) backend.sendLine(`PRIVMSG #a :${randomBytes(300).toString('base64')}`, conn);
      setImmediate(step);
    };
    step();
    const [, , err] = await gone;
    stop = true;
    assert.equal((err as { code?: string } | undefined)?.code, 'ERR_SENDQ_EXCEEDED');
    peer.socket.destroy();
  } finally {
    await backend.shutdown();
  }
});

// --- Perl interop ------------------------------------------------------------

const PERL_PEER = String.raw`
use strict; use warnings;
use IO::Socket::INET; use Compress::Zlib;
my ($port, $n) = @ARGV;
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp') or die "connect: $!";
binmode $s; $s->autoflush(1);
# What POE::Filter::Zlib::Stream does: deflateInit with Compress::Zlib's
# defaults, and per put() the deflated line followed by a Z_SYNC_FLUSH.
my ($d, $st) = deflateInit(); die "deflateInit: $st" unless $st == Z_OK;
my $out = "ZIP\r\n";
for my $i (1 .. $n) {
  my $line = "PRIVMSG #perl :line $i from Compress::Zlib \xc3\xbc\xc3\xb1\xc3\xaf \xe6\x97\xa5\xe6\x9c\xac" . ('.' x ($i % 50)) . "\r\n";
  my ($o, $s1) = $d->deflate($line); die "deflate: $s1" unless $s1 == Z_OK;
  my ($f, $s2) = $d->flush(Z_SYNC_FLUSH); die "flush: $s2" unless $s2 == Z_OK;
  $out .= $o . $f;
  if (length($out) > 8192) { print $s $out; $out = '' }
}
print $s $out;
# The backend answers compressed: inflate it as the seed's filter would.
my ($i, $st2) = inflateInit(); die "inflateInit: $st2" unless $st2 == Z_OK;
my $text = '';
while (($text =~ tr/\n//) < $n) {
  my $buf; my $r = sysread($s, $buf, 65536);
  die "eof after " . ($text =~ tr/\n//) . " lines" unless $r;
  my ($o, $st3) = $i->inflate($buf);
  die "inflate: $st3" unless $st3 == Z_OK || $st3 == Z_BUF_ERROR;
  $text .= $o;
}
print $text;
`;

function perlHasZlib(): boolean {
  const r = spawnSync('perl', ['-MCompress::Zlib', '-e', '1'], { stdio: 'ignore' });
  return r.status === 0;
}

test('interop: lines deflated by Perl Compress::Zlib (as POE::Filter::Zlib::Stream) decode, and Perl inflates ours', async (t) => {
  if (!perlHasZlib()) {
    t.skip('perl with Compress::Zlib is not installed');
    return;
  }
  const { backend, listener } = await listen();
  try {
    const n = 500;
    const got: string[] = [];
    backend.on('input', (c, m) => {
      if (m.command === 'ZIP') {
        backend.setCompressedLinkNow(c);
        return;
      }
      got.push(m.params[1] ?? '');
      if (got.length === n) for (const text of got) backend.send({ command: 'NOTICE', params: ['#perl', `echo ${text}`] }, c);
    });
    const child = spawn('perl', ['-e', PERL_PEER, String(listener.port), String(n)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const [code] = await once(child, 'exit', { timeout: 20_000 });
    assert.equal(code, 0, `perl failed: ${stderr}`);
    const expected = Array.from({ length: n }, (_, k) => `line ${k + 1} from Compress::Zlib üñï 日本${'.'.repeat((k + 1) % 50)}`);
    assert.deepEqual(
      got.map((s) => s),
      expected,
    );
    assert.deepEqual(stdout.split('\r\n').slice(0, -1), expected.map((s) => `NOTICE #perl :echo ${s}`));
  } finally {
    await backend.shutdown();
  }
});

// --- regressions of the compressed-links notes ----------------------------------

test('fakelag on a compressed link delays lines instead of tripping ReadQ: the inflater pauses with the socket', async () => {
  const backend = new Backend();
  try {
    // 4,000 lines of ~60 bytes: 240 KiB inflated from one small batch, far over the 128 KiB ReadQ.
    const listener = await backend.createListener({ addr: '127.0.0.1', port: 0, flood: { rate: 20_000, burst: 10 } });
    zipOnRequest(backend);
    const got: string[] = [];
    backend.on('input', (_c, m) => got.push(m.params[1] ?? m.command));
    const closed = countEvents(backend, ['disconnect']);
    const opened = once(backend, 'listenerOpen');
    const peer = await RawPeer.connect(listener.port);
    const [conn] = await opened;
    const z = new PeerDeflater();
    const lines = Array.from({ length: 4_000 }, (_, i) => `PRIVMSG #a :fakelagged line ${String(i).padStart(5, '0')} .................`);
    const batch = await z.batch(lines.map((l) => `${l}\r\n`).join(''));
    assert.ok(batch.length < 64 * 1024, 'one compressed batch, one socket read or so');
    peer.socket.write(Buffer.concat([Buffer.from('ZIP\r\n'), batch]));
    await until(backend, 'input', () => got.length >= lines.length + 1, LONG_WAIT);
    assert.deepEqual(got.slice(1), lines.map((l) => l.slice('PRIVMSG #a :'.length)));
    assert.equal(conn.connected, true);
    assert.equal(closed.counts.disconnect, 0);
    z.close();
    peer.socket.destroy();
  } finally {
    await backend.shutdown();
  }
});

test('setCompressedLinkNow while an unset still winds down: output stays in order (old stream, plain, new stream)', async () => {
  const { backend, listener } = await listen();
  try {
    const opened = once(backend, 'listenerOpen');
    const peer = await RawPeer.connect(listener.port);
    const [conn] = await opened;
    assert.ok(backend.setCompressedLinkNow(conn));
    const burst = messages('burst', 800, 7);
    const after = messages('after', 300, 8);
    // A large compressed burst (the deflater is still busy with it when the
    // unset comes), UNZIP, back to plain, one plain REZIP, compressed again at once.
    for (const m of burst) backend.send(m, conn);
    backend.sendLine('UNZIP', conn);
    assert.ok(backend.unsetCompressedLink(conn));
    backend.sendLine('REZIP', conn);
    assert.ok(backend.setCompressedLinkNow(conn));
    for (const m of after) backend.send(m, conn);
    const cut = Buffer.from('\x00\x00\xff\xffREZIP\r\n', 'latin1');
    const text = (bytes: Buffer): string => zlib.inflateSync(bytes, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
    const split = (): { first: Buffer; second: Buffer } | undefined => {
      const at = peer.received.indexOf(cut);
      return at < 0 ? undefined : { first: peer.received.subarray(0, at + 4), second: peer.received.subarray(at + cut.length) };
    };
    const want = after.map((m) => `${formatLine(m)}\r\n`).join('');
    await peer.waitFor(() => {
      const parts = split();
      if (parts === undefined || parts.second.length === 0) return false;
      try {
        return text(parts.second) === want;
      } catch {
        return false;
      }
    }, LONG_WAIT);
    const parts = split() as { first: Buffer; second: Buffer };
    assert.equal(text(parts.first), burst.map((m) => `${formatLine(m)}\r\n`).join('') + 'UNZIP\r\n', 'the old stream: the burst, then UNZIP');
    assert.equal(parts.second[0], 0x78, 'a new zlib stream starts right after the plain REZIP');
    assert.equal(text(parts.second), want);
    assert.equal(conn.compressed, true);
    peer.socket.destroy();
  } finally {
    await backend.shutdown();
  }
});

test('SendQ overflow while setCompressedLink waits for the drain: the ERROR line goes out compressed, after the plain lines', async () => {
  const { backend, listener } = await listen({}, { sendQ: 64 * 1024, sendQHighWater: 16 * 1024 });
  try {
    const opened = once(backend, 'listenerOpen');
    const peer = await RawPeer.connect(listener.port);
    const [conn] = await opened;
    // The peer stops reading: fill the kernel buffers with plain lines until ircsock holds bytes itself.
    peer.socket.pause();
    const line = `PRIVMSG #a :${'x'.repeat(400)}`;
    let plainBytes = 0;
    for (let turn = 0; turn < 10_000 && conn.queuedBytes === 0; turn++) {
      for (let i = 0; i < 32; i++) plainBytes += backend.sendLine(line, conn) * (line.length + 2);
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(conn.queuedBytes > 0 && conn.queuedBytes < 64 * 1024, 'the kernel is full, SendQ not yet');
    const gone = once(backend, 'disconnect', { filter: (c) => c === conn });
    assert.ok(backend.setCompressedLink(conn));
    assert.equal(conn.compressed, false, 'waiting for the drain');
    for (let i = 0; i < 200; i++) backend.sendLine(line, conn);
    assert.equal(conn.disconnecting, 'SendQ exceeded');
    // The peer reads again, within the grace the ERROR line gets.
    peer.socket.resume();
    const [, reason, err] = await gone;
    assert.equal(reason, 'SendQ exceeded');
    assert.equal((err as { code?: string } | undefined)?.code, 'ERR_SENDQ_EXCEEDED');
    await peer.waitClosed(10_000);
    const plain = peer.received.subarray(0, plainBytes);
    assert.equal(plain.toString('latin1'), `${line}\r\n`.repeat(plainBytes / (line.length + 2)), 'every line queued before the call, plain');
    const text = zlib.inflateSync(peer.received.subarray(plainBytes), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();
    assert.equal(text, 'ERROR :SendQ exceeded\r\n', 'after the switch point, only the ERROR line, compressed');
  } finally {
    await backend.shutdown();
  }
});
