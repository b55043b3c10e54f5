/**
 * PROXY protocol listeners over real loopback sockets, with raw sockets
 * (`net.connect`) playing the proxy: every valid header shape (v1 TCP4, TCP6,
 * UNKNOWN; v2 PROXY INET, INET6, LOCAL, TLVs and CRC32C), each sent whole
 * with the first IRC lines, one byte per write, and split in two writes at
 * every offset; malformed headers, each ending only its own connection;
 * admission and the `check` hook on the client's address, with counts
 * released exactly once; a local TLS handshake after the header; connectors
 * that send a header into another backend's listener; and shutdown while a
 * header is half read. haproxy itself is in proxy-haproxy.test.ts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Duplex } from 'node:stream';
import tls from 'node:tls';
import { Backend, type BackendOptions, type ConnectionRefusal, type ConnectorOptions, type ListenerOptions } from '../../src/backend.js';
import type { Connection } from '../../src/connection/connection.js';
import { IrcProxyError } from '../../src/errors.js';
import type { AdmissionRequest, Listener } from '../../src/listen/listener.js';
import type { IrcMessage } from '../../src/message/message.js';
import { encodeProxyHeader, type ProxyHeaderInit } from '../../src/transport/proxy/encode.js';
import { countEvents, DEFAULT_WAIT, hasIPv6, once, until } from '../helpers/net.js';
import { trackedBackends } from '../helpers/backends.js';
import { localhostCert } from '../helpers/tls-cert.js';

const cert = localhostCert();
after(() => {
  cert.cleanup();
});

const newBackend = trackedBackends();

// --- bytes ---------------------------------------------------------------------

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
/** Hex with any spacing, laid out like a dump. */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SIG = hex('0d0a 0d0a 000d 0a51 5549 540a');

/** A v2 header from its parts; `len` is the body's unless given (to lie about it). */
function v2(verCmd: number, fam: number, body: Buffer, len = body.length): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = verCmd;
  fixed[1] = fam;
  fixed.writeUInt16BE(len, 2);
  return Buffer.concat([SIG, fixed, body]);
}

function tlv(type: number, value: Buffer | string, len?: number): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(len ?? v.length, 1);
  return Buffer.concat([head, v]);
}

/** The 12-byte IPv4 address block: 198.51.100.1:51000 → 192.0.2.1:6667. */
const INET_BLOCK = hex('c6336401 c0000201 c738 1a0b');

/** The first IRC lines a client sends after the header; `tag` makes each connection's own. */
function ircLines(tag: string): Buffer {
  return latin1(`NICK n${tag}\r\nUSER u 0 * :Real Name ${tag}\r\nPING :${tag}\r\n`);
}

function assertIrcLines(got: readonly IrcMessage[], tag: string, what: string): void {
  assert.deepEqual(
    got.map((m) => [m.command, [...m.params]]),
    [
      ['NICK', [`n${tag}`]],
      ['USER', ['u', '0', '*', `Real Name ${tag}`]],
      ['PING', [tag]],
    ],
    `${what}: the lines after the header, in order, none lost or added`,
  );
}

// --- sockets -------------------------------------------------------------------

const tick = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

/**
 * Writes `data` and waits until it is in the kernel and the loop has turned
 * twice, so a listener in this process has read it before the next write.
 */
async function writeAndSettle(socket: net.Socket, data: Buffer): Promise<void> {
  await new Promise<void>((resolve) => {
    socket.write(data, () => {
      resolve();
    });
  });
  await tick();
  await tick();
}

/** A raw client socket: writes bytes as given, keeps every byte it receives. */
class RawPeer {
  readonly socket: net.Socket;
  received = Buffer.alloc(0);
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
    });
    socket.on('error', () => {
      // A reset by the listener is what several tests expect; 'close' follows.
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Connects; rejects on the socket's error (a local address that cannot be bound, say). */
  static async connect(opts: net.NetConnectOpts): Promise<RawPeer> {
    const peer = new RawPeer(net.connect(opts));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('no connection'));
      }, DEFAULT_WAIT);
      peer.socket.once('connect', () => {
        clearTimeout(timer);
        resolve();
      });
      peer.socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    // One write, one segment: what the byte-by-byte and split tests rely on.
    peer.socket.setNoDelay(true);
    return peer;
  }

  /** The port the listener sees this socket come from. */
  get port(): number {
    return this.socket.localPort ?? 0;
  }

  /** The complete CRLF lines received so far. */
  get lines(): string[] {
    const parts = this.received.toString('latin1').split('\r\n');
    parts.pop();
    return parts;
  }

  async waitLines(n: number): Promise<string[]> {
    if (this.lines.length < n) await once(this.socket, 'data', { filter: () => this.lines.length >= n });
    return this.lines;
  }

  async waitClosed(): Promise<void> {
    if (!this.closed) await once(this.socket, 'close');
  }

  async destroy(): Promise<void> {
    this.socket.destroy();
    await this.waitClosed();
  }
}

/** The port of the socket's real peer (the proxy): how a test finds its own connection. */
function realPort(conn: Connection): number {
  const p = conn.proxy?.peer ?? conn.peer;
  return 'port' in p ? p.port : -1;
}

/**
 * Records a backend's events from the start, so nothing that fires between
 * two awaits is missed: connections by the proxy's port, their input, and
 * the refusals.
 */
class Watch {
  readonly opened = new Map<number, Connection>();
  readonly inputs = new Map<Connection, IrcMessage[]>();
  readonly refusals: ConnectionRefusal[] = [];

  constructor(readonly backend: Backend) {
    // Every connection of a batch waits on the same events at once.
    backend.setMaxListeners(0);
    backend.on('listenerOpen', (conn) => {
      this.opened.set(realPort(conn), conn);
      this.inputs.set(conn, []);
    });
    backend.on('input', (conn, msg) => {
      const list = this.inputs.get(conn);
      if (list === undefined) this.inputs.set(conn, [msg]);
      else list.push(msg);
    });
    backend.on('disconnect', (conn) => {
      // Ports are reused: a later socket must not find this connection.
      if (this.opened.get(realPort(conn)) === conn) this.opened.delete(realPort(conn));
    });
    backend.on('connectionRefused', (r) => this.refusals.push(r));
  }

  /** The connection the listener opened for `peer`. */
  async connOf(peer: RawPeer): Promise<Connection> {
    const port = peer.port;
    await until(this.backend, 'listenerOpen', () => this.opened.has(port));
    return this.opened.get(port) as Connection;
  }

  /** Resolves with `conn`'s input once `n` messages have arrived. */
  async inputOf(conn: Connection, n: number): Promise<IrcMessage[]> {
    await until(this.backend, 'input', () => (this.inputs.get(conn)?.length ?? 0) >= n);
    return this.inputs.get(conn) ?? [];
  }

  /** The first refusal matching `pred` (removed from the list). */
  async refusal(pred: (r: ConnectionRefusal) => boolean): Promise<ConnectionRefusal> {
    await until(this.backend, 'connectionRefused', () => this.refusals.some(pred));
    const i = this.refusals.findIndex(pred);
    return this.refusals.splice(i, 1)[0] as ConnectionRefusal;
  }

  /** How many messages arrived on connections other than `except`. */
  inputsBesides(...except: Connection[]): number {
    let n = 0;
    for (const [conn, list] of this.inputs) if (!except.includes(conn)) n += list.length;
    return n;
  }
}

interface Env {
  backend: Backend;
  watch: Watch;
  listener: Listener;
}

/** Resolves once `predicate()` holds, looking again on every turn of the event loop; fails after the default wait. */
async function eventually(predicate: () => boolean, what: string): Promise<void> {
  const deadline = performance.now() + DEFAULT_WAIT;
  while (!predicate()) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await tick();
  }
}

/** Admission that does not stand in the way of hundreds of connections naming one client. */
const ROOMY = { throttle: false, maxPerIp: Infinity } as const;

async function proxyListener(opts: ListenerOptions = {}, backendOpts?: BackendOptions): Promise<Env> {
  const backend = newBackend(backendOpts);
  const watch = new Watch(backend);
  const listener = await backend.createListener({ addr: '127.0.0.1', proxy: true, ...opts });
  assert.equal(listener.proxy, true);
  return { backend, watch, listener };
}

/** A client behind a well-formed header: its connection is open and has sent one line. */
async function goodPeer(env: Env, tag = 'good'): Promise<{ peer: RawPeer; conn: Connection }> {
  const peer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  const header = encodeProxyHeader({
    version: 2,
    source: { address: '198.51.100.200', port: 40200 },
    destination: { address: '192.0.2.1', port: 6667 },
  });
  peer.socket.write(Buffer.concat([header, latin1(`NICK ${tag}\r\n`)]));
  const conn = await env.watch.connOf(peer);
  const [msg] = await env.watch.inputOf(conn, 1);
  assert.equal(msg?.command, 'NICK');
  return { peer, conn };
}

/** One line each way on an open connection. */
async function alive(env: Env, peer: RawPeer, conn: Connection, text: string): Promise<void> {
  assert.equal(conn.connected, true);
  const before = env.watch.inputs.get(conn)?.length ?? 0;
  peer.socket.write(`PRIVMSG #t :${text}\r\n`);
  const got = await env.watch.inputOf(conn, before + 1);
  assert.deepEqual(got[before]?.params, ['#t', text]);
  const seen = peer.lines.length;
  assert.equal(env.backend.send({ command: 'NOTICE', params: ['*', text] }, conn), 1);
  const lines = await peer.waitLines(seen + 1);
  assert.equal(lines[seen], `NOTICE * :${text}`);
}

// --- valid headers ---------------------------------------------------------------

interface Ep {
  address: string;
  port: number;
  family: 4 | 6;
}

interface ValidCase {
  name: string;
  header: Buffer;
  version: 1 | 2;
  command: 'proxy' | 'local';
  family: 'inet' | 'inet6' | 'unspec';
  /** The client and what it connected to, as the header names them; absent: the socket's own endpoints apply. */
  client?: Ep;
  server?: Ep;
  /** More checks on `conn.proxy.header`. */
  extra?: (conn: Connection) => void;
}

const V1_TCP4 = encodeProxyHeader({
  version: 1,
  source: { address: '198.51.100.1', port: 51000 },
  destination: { address: '192.0.2.10', port: 6667 },
});
const V2_AUTHORITY_BYTES = Buffer.concat([
  SIG,
  hex('21 11 001a'), // PROXY, INET + STREAM, 26 bytes follow
  hex('c6336414 c0000201 c350 1a0b'), // 198.51.100.20:50000 → 192.0.2.1:6667
  hex('02 000b'),
  latin1('irc.example'),
]);
const V2_LOCAL_BYTES = hex('0d0a0d0a000d0a515549540a 20 00 0000');
const V1_UNKNOWN_107 = latin1(
  `PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`,
);
const TLVS_INIT: ProxyHeaderInit = {
  version: 2,
  source: { address: '198.51.100.30', port: 40000 },
  destination: { address: '192.0.2.30', port: 6697 },
  tlvs: {
    alpn: 'irc',
    authority: 'irc.example',
    uniqueId: Buffer.from('conn-0001'),
    ssl: { ssl: true, certConn: true, verify: 0, version: 'TLSv1.3', cn: 'client.test', cipher: 'TLS_AES_128_GCM_SHA256' },
    netns: 'blue',
    raw: [
      { type: 0xe0, value: Buffer.from([1, 2, 3]) },
      { type: 0x04, value: Buffer.alloc(5) }, // NOOP padding: skipped
    ],
  },
  crc32c: true,
};

const VALID: ValidCase[] = [
  {
    name: 'v1 TCP4',
    header: V1_TCP4,
    version: 1,
    command: 'proxy',
    family: 'inet',
    client: { address: '198.51.100.1', port: 51000, family: 4 },
    server: { address: '192.0.2.10', port: 6667, family: 4 },
  },
  {
    name: 'v1 TCP6 (addresses not in canonical form)',
    header: latin1('PROXY TCP6 2001:DB8:0:0:0:0:0:7 2001:db8::1 50002 6697\r\n'),
    version: 1,
    command: 'proxy',
    family: 'inet6',
    client: { address: '2001:db8::7', port: 50002, family: 6 },
    server: { address: '2001:db8::1', port: 6697, family: 6 },
  },
  { name: 'v1 UNKNOWN', header: encodeProxyHeader({ version: 1 }), version: 1, command: 'local', family: 'unspec' },
  { name: 'v1 UNKNOWN of 107 bytes (its ignored rest at the limit)', header: V1_UNKNOWN_107, version: 1, command: 'local', family: 'unspec' },
  {
    name: 'v2 PROXY INET',
    header: encodeProxyHeader({ version: 2, source: { address: '198.51.100.2', port: 52000 }, destination: { address: '192.0.2.11', port: 6667 } }),
    version: 2,
    command: 'proxy',
    family: 'inet',
    client: { address: '198.51.100.2', port: 52000, family: 4 },
    server: { address: '192.0.2.11', port: 6667, family: 4 },
  },
  {
    name: 'v2 PROXY INET with an AUTHORITY TLV (hand-written bytes)',
    header: V2_AUTHORITY_BYTES,
    version: 2,
    command: 'proxy',
    family: 'inet',
    client: { address: '198.51.100.20', port: 50000, family: 4 },
    server: { address: '192.0.2.1', port: 6667, family: 4 },
    extra: (conn) => {
      assert.equal(conn.proxy?.header.tlvs.authority, 'irc.example');
    },
  },
  {
    name: 'v2 PROXY INET6',
    header: encodeProxyHeader({ version: 2, source: { address: '2001:db8::5', port: 50001 }, destination: { address: '2001:db8::1', port: 6667 } }),
    version: 2,
    command: 'proxy',
    family: 'inet6',
    client: { address: '2001:db8::5', port: 50001, family: 6 },
    server: { address: '2001:db8::1', port: 6667, family: 6 },
  },
  { name: 'v2 LOCAL (hand-written bytes)', header: V2_LOCAL_BYTES, version: 2, command: 'local', family: 'unspec' },
  {
    name: 'v2 LOCAL carrying an INET address block (ignored)',
    header: v2(0x20, 0x11, hex('c633644d c0000201 c738 1a0b')),
    version: 2,
    command: 'local',
    family: 'inet',
  },
  {
    name: 'v2 PROXY INET with every TLV and a CRC32C',
    header: encodeProxyHeader(TLVS_INIT),
    version: 2,
    command: 'proxy',
    family: 'inet',
    client: { address: '198.51.100.30', port: 40000, family: 4 },
    server: { address: '192.0.2.30', port: 6697, family: 4 },
    extra: (conn) => {
      const t = conn.proxy?.header.tlvs;
      assert.ok(t !== undefined);
      assert.deepEqual(t.alpn, Buffer.from('irc'));
      assert.equal(t.authority, 'irc.example');
      assert.deepEqual(t.uniqueId, Buffer.from('conn-0001'));
      assert.equal(t.netns, 'blue');
      assert.equal(typeof t.crc32c, 'number');
      assert.equal(t.ssl?.ssl, true);
      assert.equal(t.ssl.verified, true);
      assert.equal(t.ssl.version, 'TLSv1.3');
      assert.equal(t.ssl.cn, 'client.test');
      assert.equal(t.ssl.cipher, 'TLS_AES_128_GCM_SHA256');
      assert.deepEqual(t.unknown, [{ type: 0xe0, value: Buffer.from([1, 2, 3]) }], 'the custom TLV kept, NOOP skipped');
    },
  },
];

test('the encoder writes exactly the hand-written headers the listener tests use', () => {
  assert.deepEqual(V1_TCP4, latin1('PROXY TCP4 198.51.100.1 192.0.2.10 51000 6667\r\n'));
  assert.deepEqual(
    encodeProxyHeader({
      version: 2,
      source: { address: '198.51.100.20', port: 50000 },
      destination: { address: '192.0.2.1', port: 6667 },
      tlvs: { authority: 'irc.example' },
    }),
    V2_AUTHORITY_BYTES,
  );
  assert.deepEqual(encodeProxyHeader({ version: 2, command: 'local' }), V2_LOCAL_BYTES);
  assert.equal(V1_UNKNOWN_107.length, 107);
});

/** Every fact of a connection behind `c`'s header, and of the proxy in front of it. */
function assertProxied(conn: Connection, c: ValidCase, peer: RawPeer, listener: Listener, what: string): void {
  assert.equal(conn.kind, 'tcp', what);
  const real: Ep = { address: '127.0.0.1', port: peer.port, family: 4 };
  const ours: Ep = { address: '127.0.0.1', port: listener.port, family: 4 };
  const client = c.client ?? real;
  const server = c.server ?? ours;
  assert.deepEqual([conn.peerAddr, conn.peerPort, conn.family], [client.address, client.port, client.family], `${what}: the peer`);
  assert.deepEqual(conn.peer, client, `${what}: conn.peer`);
  assert.deepEqual([conn.sockAddr, conn.sockPort], [server.address, server.port], `${what}: our end`);
  assert.deepEqual(conn.local, server, `${what}: conn.local`);
  const proxy = conn.proxy;
  assert.ok(proxy !== undefined, `${what}: conn.proxy`);
  assert.equal(proxy.header.version, c.version, `${what}: version`);
  assert.equal(proxy.header.command, c.command, `${what}: command`);
  assert.equal(proxy.header.family, c.family, `${what}: family`);
  assert.equal(proxy.header.length, c.header.length, `${what}: header length`);
  assert.deepEqual(proxy.peer, real, `${what}: proxy.peer is the real socket peer`);
  assert.deepEqual(proxy.local, ours, `${what}: proxy.local is our real end`);
  c.extra?.(conn);
}

/** One connection: `deliver` puts header and lines on the wire; every fact and line is checked; the client leaves. */
async function oneProxied(env: Env, c: ValidCase, tag: string, deliver: (s: net.Socket, payload: Buffer) => Promise<void>): Promise<void> {
  const peer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  try {
    await deliver(peer.socket, Buffer.concat([c.header, ircLines(tag)]));
    const conn = await env.watch.connOf(peer);
    assertProxied(conn, c, peer, env.listener, `${c.name} [${tag}]`);
    assertIrcLines(await env.watch.inputOf(conn, 3), tag, `${c.name} [${tag}]`);
    assert.equal(env.backend.send({ command: 'PONG', params: [tag] }, conn), 1);
    assert.deepEqual(await peer.waitLines(1), [`PONG ${tag}`]);
    const gone = once(env.backend, 'disconnect', { filter: (x) => x === conn });
    peer.socket.destroy();
    await gone;
  } finally {
    peer.socket.destroy();
  }
}

for (const [i, c] of VALID.entries()) {
  test(`${c.name}: whole, with the first IRC lines in the same write`, async () => {
    const env = await proxyListener({ admission: ROOMY });
    const opens = countEvents(env.backend, ['listenerOpen', 'connectionRefused']);
    await oneProxied(env, c, `w${i}`, async (s, payload) => {
      s.write(payload);
      await tick();
    });
    assert.deepEqual(opens.counts, { listenerOpen: 1, connectionRefused: 0 });
    assert.equal(env.listener.admission?.activeCount, 0);
    await env.backend.shutdown();
  });

  test(`${c.name}: one byte per write`, async () => {
    const env = await proxyListener({ admission: ROOMY });
    await oneProxied(env, c, `b${i}`, async (s, payload) => {
      for (let k = 0; k < payload.length; k++) {
        s.write(payload.subarray(k, k + 1));
        await tick();
      }
    });
    await env.backend.shutdown();
  });

  test(`${c.name}: split in two writes at every offset`, async () => {
    const env = await proxyListener({ admission: ROOMY });
    const opens = countEvents(env.backend, ['listenerOpen', 'connectionRefused']);
    const total = c.header.length + ircLines(`s${i}x000`).length;
    const offsets = Array.from({ length: total - 1 }, (_, k) => k + 1);
    // Many connections at once on one listener; each is its own client.
    const BATCH = 48;
    for (let b = 0; b < offsets.length; b += BATCH) {
      await Promise.all(
        offsets.slice(b, b + BATCH).map((k) =>
          oneProxied(env, c, `s${i}x${String(k).padStart(3, '0')}`, async (s, payload) => {
            assert.equal(payload.length, total);
            await writeAndSettle(s, payload.subarray(0, k));
            s.write(payload.subarray(k));
          }),
        ),
      );
    }
    assert.deepEqual(opens.counts, { listenerOpen: offsets.length, connectionRefused: 0 });
    assert.equal(env.listener.admission?.activeCount, 0);
    await env.backend.shutdown();
  });
}

test('IPv6: a proxy at ::1 (trusted by default) names an IPv4 and an IPv6 client', async (t) => {
  if (!(await hasIPv6())) {
    t.skip('no IPv6 on this machine');
    return;
  }
  const env = await proxyListener({ addr: '::1', admission: ROOMY });
  for (const [version, source, family] of [
    [1, { address: '198.51.100.61', port: 1061 }, 4],
    [2, { address: '2001:db8::61', port: 1062 }, 6],
  ] as const) {
    const peer = await RawPeer.connect({ host: '::1', port: env.listener.port });
    const dst = family === 6 ? '2001:db8::1' : '192.0.2.1';
    peer.socket.write(Buffer.concat([encodeProxyHeader({ version, source, destination: { address: dst, port: 6667 } }), ircLines('six')]));
    const conn = await env.watch.connOf(peer);
    assert.deepEqual(conn.peer, { ...source, family });
    assert.deepEqual(conn.proxy?.peer, { address: '::1', port: peer.port, family: 6 }, 'proxy.peer is the real IPv6 peer');
    assertIrcLines(await env.watch.inputOf(conn, 3), 'six', `v${version}`);
    await peer.destroy();
    await until(env.backend, 'disconnect', () => !conn.connected);
  }
  await env.backend.shutdown();
});

// --- malformed headers ------------------------------------------------------------

interface BadCase {
  name: string;
  bytes: Buffer;
  code: 'ERR_PROXY_INVALID' | 'ERR_PROXY_CRC';
}

const CRC_HEADER = encodeProxyHeader({
  version: 2,
  source: { address: '198.51.100.40', port: 40040 },
  destination: { address: '192.0.2.1', port: 6667 },
  tlvs: { authority: 'irc.example' },
  crc32c: true,
});
/** `CRC_HEADER` with one byte XORed. */
function corrupt(at: number, mask = 0x01): Buffer {
  const b = Buffer.from(CRC_HEADER);
  b[at] = (b[at] ?? 0) ^ mask;
  return b;
}
// fixed 16, addresses 12, AUTHORITY 3 + 11, then the CRC32C TLV: 3 bytes of type and length, 4 of value.
const CRC_VALUE_AT = 16 + 12 + 14 + 3;

const BAD: BadCase[] = [
  { name: 'v2 with version 1 in its version/command byte', bytes: v2(0x11, 0x11, INET_BLOCK), code: 'ERR_PROXY_INVALID' },
  { name: 'v2 command 0x3', bytes: v2(0x23, 0x11, INET_BLOCK), code: 'ERR_PROXY_INVALID' },
  { name: 'v2 address family 0x4', bytes: v2(0x21, 0x41, INET_BLOCK), code: 'ERR_PROXY_INVALID' },
  { name: 'v2 transport 0x3', bytes: v2(0x21, 0x13, INET_BLOCK), code: 'ERR_PROXY_INVALID' },
  { name: 'v1 ending in a lone LF', bytes: latin1('PROXY TCP4 198.51.100.1 192.0.2.1 51000 6667\n'), code: 'ERR_PROXY_INVALID' },
  { name: 'v1 with a CR not followed by LF', bytes: latin1('PROXY UNKNOWN\rX\n'), code: 'ERR_PROXY_INVALID' },
  { name: 'v1 over 107 bytes without CRLF', bytes: latin1(`PROXY UNKNOWN ${'f'.repeat(100)}\r\n`), code: 'ERR_PROXY_INVALID' },
  { name: 'v1 TCP4 with an IPv6 source address', bytes: latin1('PROXY TCP4 2001:db8::1 192.0.2.1 51000 6667\r\n'), code: 'ERR_PROXY_INVALID' },
  { name: 'v1 TCP6 with IPv4 addresses', bytes: latin1('PROXY TCP6 198.51.100.1 192.0.2.1 51000 6667\r\n'), code: 'ERR_PROXY_INVALID' },
  { name: 'v1 TCP4 with an octet over 255', bytes: latin1('PROXY TCP4 198.51.100.256 192.0.2.1 51000 6667\r\n'), code: 'ERR_PROXY_INVALID' },
  { name: 'v1 with a port over 65535', bytes: latin1('PROXY TCP4 198.51.100.1 192.0.2.1 65536 6667\r\n'), code: 'ERR_PROXY_INVALID' },
  { name: 'v1 with an unknown protocol', bytes: latin1('PROXY UDP4 198.51.100.1 192.0.2.1 51000 6667\r\n'), code: 'ERR_PROXY_INVALID' },
  { name: 'v2 INET with a length too short for its addresses (8 < 12)', bytes: v2(0x21, 0x11, INET_BLOCK.subarray(0, 8)), code: 'ERR_PROXY_INVALID' },
  { name: 'v2 INET6 with a length too short for its addresses (12 < 36)', bytes: v2(0x21, 0x21, INET_BLOCK), code: 'ERR_PROXY_INVALID' },
  {
    name: 'v2 with a TLV announcing more bytes than the header holds',
    bytes: v2(0x21, 0x11, Buffer.concat([INET_BLOCK, tlv(0x02, 'irc.', 10)])),
    code: 'ERR_PROXY_INVALID',
  },
  { name: 'v2 with a TLV cut inside its own 3-byte head', bytes: v2(0x21, 0x11, Buffer.concat([INET_BLOCK, hex('02 00')])), code: 'ERR_PROXY_INVALID' },
  {
    name: 'v2 with the same known TLV twice',
    bytes: v2(0x21, 0x11, Buffer.concat([INET_BLOCK, tlv(0x02, 'a.example'), tlv(0x02, 'b.example')])),
    code: 'ERR_PROXY_INVALID',
  },
  { name: 'v2 with a CRC32C that does not match (a source port bit flipped)', bytes: corrupt(16 + 8), code: 'ERR_PROXY_CRC' },
  { name: 'v2 with a CRC32C that does not match (the checksum itself flipped)', bytes: corrupt(CRC_VALUE_AT + 3, 0x80), code: 'ERR_PROXY_CRC' },
  { name: 'plain IRC, no header at all', bytes: latin1('NICK a\r\n'), code: 'ERR_PROXY_INVALID' },
];

/**
 * Sends `bytes` (and, after them, an IRC line) from a new raw peer on `env`'s
 * listener, expects `code`, and that the peer is closed with nothing written
 * back and no connection or input made. Returns the refusal.
 */
async function refusedPeer(env: Env, bytes: Buffer, code: string, what: string): Promise<ConnectionRefusal> {
  const peer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  const port = peer.port;
  peer.socket.write(Buffer.concat([bytes, latin1('NICK never\r\nUSER never 0 * :never\r\n')]));
  const r = await env.watch.refusal((x) => x.port === port);
  assert.equal(r.code, code, what);
  assert.ok(r.error instanceof IrcProxyError, `${what}: the refusal's error is an IrcProxyError`);
  assert.equal(r.error.code, r.code, `${what}: refusal.error.code is refusal.code`);
  assert.equal(r.listener, env.listener);
  assert.equal(r.addr, '127.0.0.1', `${what}: the header was not taken: the real peer`);
  assert.equal(typeof r.reason, 'string');
  await peer.waitClosed();
  assert.equal(peer.received.length, 0, `${what}: a proxy speaking nonsense is only closed, not answered`);
  assert.equal(env.watch.opened.has(port), false, `${what}: no connection`);
  return r;
}

for (const bad of BAD) {
  test(`malformed: ${bad.name} → ${bad.code}, only that connection ends`, async () => {
    // A deadline longer than any wait here: a refusal can only come from the bytes.
    const env = await proxyListener({ proxy: { timeout: 60_000 } });
    const good = await goodPeer(env);
    await refusedPeer(env, bad.bytes, bad.code, bad.name);
    await alive(env, good.peer, good.conn, 'after the refusal');
    assert.equal(env.backend.connections.size, 1);
    assert.equal(env.watch.inputsBesides(good.conn), 0, 'nothing after a bad header is ever input');
    assert.equal(env.listener.admission?.activeCount, 1, 'only the good connection is counted');
    await good.peer.destroy();
    await env.backend.shutdown();
  });
}

test('malformed: a wrong byte anywhere in the v2 signature is refused on that byte, before the rest arrives', async () => {
  const env = await proxyListener({ proxy: { timeout: 60_000 } });
  const good = await goodPeer(env);
  const header = v2(0x21, 0x11, INET_BLOCK);
  for (let i = 0; i < SIG.length; i++) {
    const peer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
    const port = peer.port;
    const prefix = Buffer.from(header.subarray(0, i + 1));
    prefix[i] = (prefix[i] ?? 0) ^ 0x40;
    // Only up to the bad byte: no length, no addresses, and a deadline a minute away.
    peer.socket.write(prefix);
    const r = await env.watch.refusal((x) => x.port === port);
    assert.equal(r.code, 'ERR_PROXY_INVALID', `signature byte ${i}`);
    assert.ok(r.error instanceof IrcProxyError);
    assert.equal(r.error.code, r.code);
    await peer.waitClosed();
    assert.equal(peer.received.length, 0);
  }
  await alive(env, good.peer, good.conn, 'after twelve refusals');
  assert.equal(env.backend.connections.size, 1);
  await good.peer.destroy();
  await env.backend.shutdown();
});

test('malformed: plain IRC on a PROXY listener is ERR_PROXY_INVALID and its line is never input', async () => {
  const env = await proxyListener({ proxy: { timeout: 60_000 } });
  const good = await goodPeer(env);
  const peer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  const port = peer.port;
  peer.socket.write('NICK a\r\n');
  const r = await env.watch.refusal((x) => x.port === port);
  assert.equal(r.code, 'ERR_PROXY_INVALID');
  assert.ok(r.error instanceof IrcProxyError);
  assert.equal(r.error.code, r.code);
  await peer.waitClosed();
  await alive(env, good.peer, good.conn, 'still here');
  const all = [...env.watch.inputs.values()].flat();
  assert.equal(all.some((m) => m.command === 'NICK' && m.params[0] === 'a'), false, 'NICK a never reached input');
  await good.peer.destroy();
  await env.backend.shutdown();
});

test('untrusted source: ERR_PROXY_UNTRUSTED before any byte is read, refusal.error is an IrcProxyError', async () => {
  const env = await proxyListener({ proxy: { from: ['192.0.2.0/24'] } });
  const opens = countEvents(env.backend, ['listenerOpen']);
  const peer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  const port = peer.port;
  // A perfectly good header: it does not matter who sends it, only where from.
  peer.socket.write(Buffer.concat([encodeProxyHeader({ version: 1, source: { address: '192.0.2.9', port: 1 }, destination: { address: '192.0.2.1', port: 6667 } }), ircLines('u')]));
  const r = await env.watch.refusal((x) => x.port === port);
  assert.equal(r.code, 'ERR_PROXY_UNTRUSTED');
  assert.ok(r.error instanceof IrcProxyError);
  assert.equal(r.error.code, r.code);
  assert.equal(r.addr, '127.0.0.1');
  await peer.waitClosed();
  assert.equal(peer.received.length, 0);
  assert.equal(opens.counts.listenerOpen, 0);
  assert.equal(env.watch.inputsBesides(), 0);
  await env.backend.shutdown();
});

test('untrusted source: a trusted proxy (127.0.0.2) on the same listener stays up while 127.0.0.1 is refused', async (t) => {
  const env = await proxyListener({ proxy: { from: ['192.0.2.0/24', '127.0.0.2'] } });
  let trusted: RawPeer;
  try {
    trusted = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port, localAddress: '127.0.0.2' });
  } catch {
    t.skip('127.0.0.2 cannot be bound here');
    return;
  }
  trusted.socket.write(Buffer.concat([encodeProxyHeader({ version: 2, source: { address: '192.0.2.50', port: 5050 }, destination: { address: '192.0.2.1', port: 6667 } }), ircLines('t')]));
  const conn = await env.watch.connOf(trusted);
  assert.equal(conn.peerAddr, '192.0.2.50');
  assert.deepEqual(conn.proxy?.peer, { address: '127.0.0.2', port: trusted.port, family: 4 });
  assertIrcLines(await env.watch.inputOf(conn, 3), 't', 'trusted');
  const peer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  const port = peer.port;
  const r = await env.watch.refusal((x) => x.port === port);
  assert.equal(r.code, 'ERR_PROXY_UNTRUSTED');
  await peer.waitClosed();
  await alive(env, trusted, conn, 'trusted and alive');
  await trusted.destroy();
  await env.backend.shutdown();
});

test('deadline: half a header and then silence is ERR_PROXY_TIMEOUT after proxy.timeout; others stay up', async () => {
  const env = await proxyListener({ proxy: { timeout: 200 } });
  const good = await goodPeer(env);
  for (const half of [V1_TCP4.subarray(0, 20), encodeProxyHeader(TLVS_INIT).subarray(0, 30), SIG.subarray(0, 5)]) {
    const peer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
    const port = peer.port;
    const start = performance.now();
    peer.socket.write(half);
    const r = await env.watch.refusal((x) => x.port === port);
    const took = performance.now() - start;
    assert.equal(r.code, 'ERR_PROXY_TIMEOUT');
    assert.ok(r.error instanceof IrcProxyError);
    assert.equal(r.error.code, r.code);
    assert.ok(took >= 150, `not before the deadline: ${took.toFixed(0)} ms`);
    assert.ok(took < 2_000, `soon after the deadline: ${took.toFixed(0)} ms`);
    await peer.waitClosed();
    assert.equal(peer.received.length, 0);
  }
  // The good connection's header was complete long before: no deadline for it.
  await alive(env, good.peer, good.conn, 'past three deadlines');
  await good.peer.destroy();
  await env.backend.shutdown();
});

// --- admission and the check hook ----------------------------------------------------

function headerNaming(address: string, port: number): Buffer {
  return encodeProxyHeader({ version: 2, source: { address, port }, destination: { address: '192.0.2.1', port: 6667 } });
}

test("admission judges the client's address from the header: deny 198.51.100.7 refuses it, admits 198.51.100.8", async () => {
  const env = await proxyListener({ admission: { deny: ['198.51.100.7'] } });
  const denied = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  denied.socket.write(Buffer.concat([headerNaming('198.51.100.7', 7007), ircLines('d')]));
  const r = await env.watch.refusal((x) => x.port === 7007);
  assert.equal(r.code, 'ERR_DENIED');
  assert.equal(r.addr, '198.51.100.7', "the refusal names the header's client");
  assert.equal(r.error, undefined);
  await denied.waitClosed();
  // Not a PROXY failure: the client behind the proxy is told why.
  assert.deepEqual(denied.lines, [`ERROR :Closing link: 198.51.100.7 (${r.reason})`]);

  const allowed = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  allowed.socket.write(Buffer.concat([headerNaming('198.51.100.8', 7008), ircLines('a')]));
  const conn = await env.watch.connOf(allowed);
  assert.equal(conn.peerAddr, '198.51.100.8');
  assertIrcLines(await env.watch.inputOf(conn, 3), 'a', 'admitted');
  assert.equal(env.listener.admission?.connectionsOf('198.51.100.8'), 1);
  assert.equal(env.listener.admission.connectionsOf('127.0.0.1'), 0, 'the proxy itself holds no count');
  await allowed.destroy();
  await env.backend.shutdown();
});

test("admission: denying the proxy's own address does not refuse the clients behind it", async () => {
  const env = await proxyListener({ admission: { deny: ['127.0.0.0/8'] } });
  const peer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  peer.socket.write(Buffer.concat([headerNaming('198.51.100.8', 7018), ircLines('p')]));
  const conn = await env.watch.connOf(peer);
  assert.equal(conn.peerAddr, '198.51.100.8');
  assertIrcLines(await env.watch.inputOf(conn, 3), 'p', 'behind a denied proxy');
  await peer.destroy();
  await env.backend.shutdown();
});

test("the check hook gets the client's address, and the proxy's in req.proxy", async () => {
  const seen: AdmissionRequest[] = [];
  const env = await proxyListener({
    check: (req) => {
      seen.push(req);
      return req.addr === '198.51.100.66' ? 'Go away' : true;
    },
  });
  const peer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  peer.socket.write(Buffer.concat([headerNaming('198.51.100.8', 7028), ircLines('c')]));
  const conn = await env.watch.connOf(peer);
  assert.equal(seen.length, 1);
  const req = seen[0] as AdmissionRequest;
  assert.equal(req.addr, '198.51.100.8');
  assert.equal(req.port, 7028);
  assert.deepEqual(req.peer, { address: '198.51.100.8', port: 7028, family: 4 });
  assert.ok(req.proxy !== undefined);
  assert.ok('address' in req.proxy.peer);
  assert.equal(req.proxy.peer.address, '127.0.0.1');
  assert.equal(req.proxy.peer.port, peer.port);
  assert.equal(req.proxy.header.version, 2);
  assert.equal(req.tls, undefined);
  assert.equal(req.listener, env.listener);
  assertIrcLines(await env.watch.inputOf(conn, 3), 'c', 'checked');

  const refused = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  refused.socket.write(Buffer.concat([headerNaming('198.51.100.66', 7066), ircLines('r')]));
  const r = await env.watch.refusal((x) => x.port === 7066);
  assert.equal(r.code, 'ERR_CHECK_REFUSED');
  assert.equal(r.addr, '198.51.100.66');
  assert.equal(r.reason, 'Go away');
  await refused.waitClosed();
  assert.deepEqual(refused.lines, ['ERROR :Closing link: 198.51.100.66 (Go away)']);
  assert.equal(seen.length, 2);
  await peer.destroy();
  await env.backend.shutdown();
});

test('admission counts behind a proxy are taken per client and released exactly once, however a peer leaves', async () => {
  let release: (() => void) | undefined;
  const pending = new Promise<void>((resolve) => {
    release = resolve;
  });
  const env = await proxyListener({
    proxy: { timeout: 300 },
    admission: { exempt: [], throttle: false, maxPerIp: 3, deny: ['198.51.100.7'] },
    // Port 6666 is refused after a turn; 7777 waits until the test lets it go (after its peer has gone).
    check: async (req) => {
      await tick();
      if (req.port === 6666) return 'Refused by the hook';
      if (req.port === 7777) {
        await pending;
        return true;
      }
      return true;
    },
  });
  const admission = env.listener.admission;
  assert.ok(admission !== undefined);
  const C = '198.51.100.8';
  const open = async (port: number): Promise<{ peer: RawPeer; conn: Connection }> => {
    const peer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
    peer.socket.write(Buffer.concat([headerNaming(C, port), latin1('NICK x\r\n')]));
    return { peer, conn: await env.watch.connOf(peer) };
  };
  const refusedAt = async (bytes: Buffer, match: (r: ConnectionRefusal) => boolean): Promise<string> => {
    const peer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
    const port = peer.port;
    peer.socket.write(bytes);
    const r = await env.watch.refusal((x) => x.port === port || match(x));
    await peer.waitClosed();
    return r.code;
  };

  for (let round = 0; round < 2; round++) {
    const a = await open(1001);
    const b = await open(1002);
    assert.equal(admission.connectionsOf(C), 2, `round ${round}: two connections for the client behind the proxy`);

    // Refused at every stage, by every means; none may release a, b's counts nor keep one of its own.
    assert.equal(await refusedAt(headerNaming('198.51.100.7', 1007), (r) => r.port === 1007), 'ERR_DENIED');
    assert.equal(await refusedAt(latin1('HELLO\r\n'), () => false), 'ERR_PROXY_INVALID');
    assert.equal(await refusedAt(headerNaming(C, 6666), (r) => r.port === 6666), 'ERR_CHECK_REFUSED');
    assert.equal(await refusedAt(V1_TCP4.subarray(0, 12), () => false), 'ERR_PROXY_TIMEOUT');
    assert.equal(admission.connectionsOf(C), 2, `round ${round}: after four refusals`);

    // Gone mid-header: never counted, nothing to release.
    const half = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
    await writeAndSettle(half.socket, headerNaming(C, 1003).subarray(0, 20));
    await half.destroy();

    // Gone while the check hook still thinks: counted, then released on the close; the late verdict opens nothing.
    const pendingPeer = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
    await writeAndSettle(pendingPeer.socket, headerNaming(C, 7777));
    assert.equal(admission.connectionsOf(C), 3, `round ${round}: the peer in the check hook holds a count`);
    await pendingPeer.destroy();
    await eventually(() => admission.connectionsOf(C) === 2, `round ${round}: the count released when the peer in the hook closed`);

    // The third slot is free again, exactly one: the fourth is refused.
    const c = await open(1004);
    assert.equal(await refusedAt(headerNaming(C, 1005), (r) => r.port === 1005), 'ERR_TOO_MANY_PER_IP');
    assert.equal(admission.connectionsOf(C), 3);

    // One leaves by itself, one is disconnected, one is dropped at once.
    const gone = Promise.all([a.conn, b.conn, c.conn].map((conn) => once(env.backend, 'disconnect', { filter: (x) => x === conn })));
    a.peer.socket.destroy();
    env.backend.disconnect(b.conn, 'bye');
    env.backend.disconnectNow(c.conn, 'bye now');
    await gone;
    assert.equal(admission.activeCount, 0, `round ${round}: activeCount back to 0`);
    assert.equal(admission.keyCount, 0);
    await Promise.all([a.peer.waitClosed(), b.peer.waitClosed(), c.peer.waitClosed()]);
  }
  release?.();
  await tick();
  assert.equal(env.watch.opened.size, 0, 'the late verdict opened nothing');
  assert.equal(admission.activeCount, 0);
  await env.backend.shutdown();
});

// --- PROXY, then TLS on the same listener ----------------------------------------------

const TLS_BACKEND: BackendOptions = { tls: { key: cert.key, cert: cert.cert } };
const CLIENT_TLS: tls.ConnectionOptions = { ca: cert.cert, servername: 'localhost' };

/** Waits for the handshake; rejects on the socket's error. */
function secured(socket: tls.TLSSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error('no TLS handshake'));
    }, DEFAULT_WAIT);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('error', (err: Error) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Lines both ways over the client's TLS socket, and the facts of the connection behind the header. */
async function checkTlsProxied(env: Env, raw: RawPeer, secure: tls.TLSSocket, source: { address: string; port: number }, tag: string): Promise<void> {
  await secured(secure);
  assert.equal(secure.authorized, true, String(secure.authorizationError));
  secure.write(ircLines(tag));
  const conn = await env.watch.connOf(raw);
  assert.equal(conn.kind, 'tls');
  assert.ok(conn.tls !== undefined, 'conn.tls is set');
  assert.match(conn.tls.protocol ?? '', /^TLSv1\.[23]$/);
  assert.deepEqual(conn.peer, { ...source, family: 4 });
  assert.equal(conn.peerAddr, source.address);
  assert.ok(conn.proxy !== undefined && 'address' in conn.proxy.peer);
  assert.equal(conn.proxy.peer.address, '127.0.0.1');
  assertIrcLines(await env.watch.inputOf(conn, 3), tag, 'over TLS');
  let text = '';
  secure.setEncoding('latin1');
  secure.on('data', (d: string) => (text += d));
  env.backend.send({ command: 'PONG', params: [tag] }, conn);
  await until(secure, 'data', () => text.includes('\r\n'));
  assert.equal(text, `PONG ${tag}\r\n`);
  const gone = once(env.backend, 'disconnect', { filter: (x) => x === conn });
  secure.destroy();
  await gone;
  await raw.destroy();
}

test('PROXY then TLS: the header in the clear, then tls.connect over the same socket', async () => {
  const env = await proxyListener({ tls: true, admission: ROOMY }, TLS_BACKEND);
  assert.equal(env.listener.tls, true);
  const tlsErrors = countEvents(env.backend, ['tlsClientError']);
  for (const version of [1, 2] as const) {
    const source = { address: '198.51.100.70', port: 7070 + version };
    const raw = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
    await writeAndSettle(raw.socket, encodeProxyHeader({ version, source, destination: { address: '192.0.2.1', port: 6697 } }));
    const secure = tls.connect({ socket: raw.socket, ...CLIENT_TLS });
    await checkTlsProxied(env, raw, secure, source, `t${version}`);
  }
  assert.equal(tlsErrors.counts.tlsClientError, 0);
  await env.backend.shutdown();
});

test('PROXY then TLS: header and ClientHello in one TCP write (corked)', async () => {
  const env = await proxyListener({ tls: true, admission: ROOMY }, TLS_BACKEND);
  const source = { address: '198.51.100.71', port: 7171 };
  const raw = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  const header = encodeProxyHeader({ version: 2, source, destination: { address: '192.0.2.1', port: 6697 } });
  raw.socket.cork();
  raw.socket.write(header);
  const secure = tls.connect({ socket: raw.socket, ...CLIENT_TLS });
  assert.equal(raw.socket.writableLength, header.length, 'the header is held back by the cork');
  await tick();
  raw.socket.uncork();
  await checkTlsProxied(env, raw, secure, source, 'cork');
  await env.backend.shutdown();
});

test('PROXY then TLS: header and ClientHello provably in one write() of the raw socket', async () => {
  const env = await proxyListener({ tls: true, admission: ROOMY }, TLS_BACKEND);
  const source = { address: '198.51.100.72', port: 7272 };
  const raw = await RawPeer.connect({ host: '127.0.0.1', port: env.listener.port });
  const header = encodeProxyHeader({ version: 1, source, destination: { address: '192.0.2.1', port: 6697 } });
  // TLS speaks to this shim; its first record (the ClientHello) goes out glued to the header.
  const writes: Buffer[] = [];
  const shim = new Duplex({
    read() {
      // Pushed from the raw socket's 'data'.
    },
    write(chunk: Buffer, _enc, cb) {
      const out = writes.length === 0 ? Buffer.concat([header, chunk]) : chunk;
      writes.push(out);
      raw.socket.write(out, (err) => {
        cb(err ?? null);
      });
    },
  });
  raw.socket.on('data', (d: Buffer) => shim.push(d));
  raw.socket.on('end', () => shim.push(null));
  raw.socket.on('close', () => shim.destroy());
  const secure = tls.connect({ socket: shim, ...CLIENT_TLS });
  await secured(secure);
  const first = writes[0];
  assert.ok(first !== undefined);
  assert.deepEqual(first.subarray(0, header.length), header);
  assert.equal(first[header.length], 0x16, 'a TLS handshake record right after the header, in the same write');
  assert.ok(first.length > header.length + 40);
  const conn = await env.watch.connOf(raw);
  assert.equal(conn.kind, 'tls');
  assert.ok(conn.tls !== undefined);
  assert.equal(conn.peerAddr, source.address);
  assert.equal(conn.peerPort, source.port);
  secure.write(ircLines('glued'));
  assertIrcLines(await env.watch.inputOf(conn, 3), 'glued', 'glued ClientHello');
  const gone = once(env.backend, 'disconnect', { filter: (x) => x === conn });
  secure.destroy();
  raw.socket.destroy();
  await gone;
  await env.backend.shutdown();
});

// --- connectors that send a header ------------------------------------------------------

/** Two backends: `sender` connects out with a header, `receiver` has a PROXY listener. */
async function connectThrough(
  listenerOpts: ListenerOptions,
  connector: (port: number) => ConnectorOptions,
): Promise<{ sender: Backend; receiver: Env; out: Connection; in: Connection }> {
  const receiver = await proxyListener({ admission: ROOMY, ...listenerOpts }, TLS_BACKEND);
  const sender = newBackend();
  const opened = once(receiver.backend, 'listenerOpen');
  const out = await sender.createConnector(connector(receiver.listener.port));
  const [inbound] = await opened;
  return { sender, receiver, out, in: inbound };
}

async function bothWays(p: { sender: Backend; receiver: Env; out: Connection; in: Connection }): Promise<void> {
  const toReceiver = once(p.receiver.backend, 'input', { filter: (c) => c === p.in });
  p.sender.send({ command: 'NICK', params: ['gw'] }, p.out);
  const [, m1] = await toReceiver;
  assert.deepEqual([m1.command, m1.params], ['NICK', ['gw']]);
  const toSender = once(p.sender, 'input', { filter: (c) => c === p.out });
  p.receiver.backend.send({ command: 'PING', params: ['back'] }, p.in);
  const [, m2] = await toSender;
  assert.deepEqual([m2.command, m2.params], ['PING', ['back']]);
}

test('a connector with a v1 proxyHeader: the other backend sees the client it names', async () => {
  const p = await connectThrough({}, (port) => ({
    addr: '127.0.0.1',
    port,
    proxyHeader: { version: 1, source: { address: '203.0.113.5', port: 4000 }, destination: { address: '127.0.0.1', port } },
  }));
  assert.equal(p.in.peerAddr, '203.0.113.5');
  assert.equal(p.in.peerPort, 4000);
  assert.equal(p.in.family, 4);
  assert.equal(p.in.proxy?.header.version, 1);
  assert.equal(p.in.proxy.header.command, 'proxy');
  assert.deepEqual(p.in.proxy.peer, { address: '127.0.0.1', port: p.out.sockPort, family: 4 }, "proxy.peer: the connector's own end");
  // The sender's side is a plain connection to the real listener.
  assert.equal(p.out.proxy, undefined);
  assert.equal(p.out.peerAddr, '127.0.0.1');
  assert.equal(p.out.peerPort, p.receiver.listener.port);
  await bothWays(p);
  await p.sender.shutdown();
  await p.receiver.backend.shutdown();
});

test('a connector with a v2 proxyHeader, an AUTHORITY TLV and a CRC32C', async () => {
  const p = await connectThrough({}, (port) => ({
    addr: '127.0.0.1',
    port,
    proxyHeader: {
      version: 2,
      source: { address: '203.0.113.5', port: 4000 },
      destination: { address: '127.0.0.1', port },
      tlvs: { authority: 'irc.example' },
      crc32c: true,
    },
  }));
  assert.equal(p.in.peerAddr, '203.0.113.5');
  assert.equal(p.in.proxy?.header.version, 2);
  assert.equal(p.in.proxy.header.tlvs.authority, 'irc.example');
  assert.equal(typeof p.in.proxy.header.tlvs.crc32c, 'number', 'the checksum was there and verified');
  await bothWays(p);
  await p.sender.shutdown();
  await p.receiver.backend.shutdown();
});

test('a connector with proxyHeader and tls: the header in the clear, then TLS, into a proxy + tls listener', async () => {
  for (const version of [1, 2] as const) {
    const p = await connectThrough({ tls: true }, (port) => ({
      addr: '127.0.0.1',
      port,
      tls: { ca: cert.cert },
      proxyHeader: { version, source: { address: '203.0.113.5', port: 4000 + version }, destination: { address: '127.0.0.1', port } },
    }));
    assert.equal(p.out.kind, 'tls');
    assert.equal(p.out.tls?.authorized, true);
    assert.equal(p.in.kind, 'tls');
    assert.ok(p.in.tls !== undefined);
    assert.equal(p.in.peerAddr, '203.0.113.5');
    assert.equal(p.in.peerPort, 4000 + version);
    assert.equal(p.in.proxy?.header.version, version);
    await bothWays(p);
    await p.sender.shutdown();
    await p.receiver.backend.shutdown();
  }
});

test('a proxyHeader that cannot be encoded throws ERR_INVALID_OPTION at the createConnector call', async () => {
  const backend = newBackend();
  const failures = countEvents(backend, ['connectorFailure']);
  const bad: ProxyHeaderInit[] = [
    { version: 1, source: { path: '/run/a.sock' }, destination: { path: '/run/b.sock' } },
    { version: 1, source: { address: '203.0.113.5', port: 1 }, destination: { address: '127.0.0.1', port: 2 }, tlvs: { authority: 'x' } },
    { version: 2, source: { address: '203.0.113.5', port: 1 }, destination: { address: '::1', port: 2 } },
    { version: 2, source: { address: '203.0.113.5', port: 70_000 }, destination: { address: '127.0.0.1', port: 2 } },
    { version: 2, source: { address: 'not-an-ip', port: 1 }, destination: { address: '127.0.0.1', port: 2 } },
    { version: 2, source: { address: '203.0.113.5', port: 1 } },
  ];
  for (const proxyHeader of bad) {
    assert.throws(() => backend.createConnector({ addr: '127.0.0.1', port: 6667, proxyHeader }), { code: 'ERR_INVALID_OPTION' }, JSON.stringify(proxyHeader));
  }
  assert.equal(backend.pendingConnectors.size, 0);
  assert.equal(failures.counts.connectorFailure, 0);
  await backend.shutdown();
});

// --- shutdown mid-header ----------------------------------------------------------------

/** Handles of the kinds a backend owns (sockets, servers), by type. */
function socketHandles(): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) {
    if (/^(TCP|Pipe)/.test(r)) out.set(r, (out.get(r) ?? 0) + 1);
  }
  return out;
}

test('shutdown() while a peer is mid-header resolves at once and leaves no handle', async () => {
  const before = socketHandles();
  const env = await proxyListener({ proxy: { timeout: 10_000 } });
  const refusals = countEvents(env.backend, ['connectionRefused', 'listenerOpen']);
  const peers = await Promise.all([1, 2, 3].map(() => RawPeer.connect({ host: '127.0.0.1', port: env.listener.port })));
  await Promise.all([
    writeAndSettle(peers[0]!.socket, V1_TCP4.subarray(0, 25)),
    writeAndSettle(peers[1]!.socket, encodeProxyHeader(TLVS_INIT).subarray(0, 40)),
    writeAndSettle(peers[2]!.socket, SIG.subarray(0, 3)),
  ]);
  const start = performance.now();
  await env.backend.shutdown();
  const took = performance.now() - start;
  assert.ok(took < 1_000, `shutdown took ${took.toFixed(0)} ms with a 10 s header deadline`);
  // The backend closed them: they were in its pipeline, not forgotten.
  await Promise.all(peers.map((p) => p.waitClosed()));
  assert.equal(refusals.counts.listenerOpen, 0);
  assert.equal(env.backend.connections.size, 0);
  assert.equal(env.listener.admission?.activeCount, 0);
  await tick();
  assert.deepEqual(socketHandles(), before, 'no socket or server handle left');
});
