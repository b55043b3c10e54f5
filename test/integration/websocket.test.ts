/**
 * WebSocket listeners and connectors (IRCv3 WebSocket) on real loopback
 * sockets, with the `ws` package's client: subprotocol choice, text and
 * binary frames, bad input, limits, origin and path, forwarding headers,
 * keepalive, close codes, SendQ, PROXY in front, the relay with TCP and
 * WebSocket clients in one channel, and WebSocket connectors over TLS.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { ListenerOptions } from '../../src/backend.js';
import type { ForwardedHeader } from '../../src/transport/forwarded.js';
import type { Connection } from '../../src/connection/connection.js';
import type { IrcMessage } from '../../src/message/message.js';
import { startRelay } from '../../src/cli/relay/server.js';
import { trackedBackends } from '../helpers/backends.js';
import { LineClient, once } from '../helpers/net.js';
import { localhostCert, wrongNameCert } from '../helpers/tls-cert.js';
import { BINARY, rawHttp, TEXT, trackPeers, WsPeer } from '../helpers/ws.js';

const newBackend = trackedBackends();
trackPeers();

/** A backend with one WebSocket listener on 127.0.0.1; its URL, and the next accepted connection. */
async function wsServer(opts: ListenerOptions = {}, websocket: ListenerOptions['websocket'] = true) {
  const backend = newBackend();
  const listener = await backend.createListener({ addr: '127.0.0.1', port: 0, idle: 0, websocket, ...opts });
  const url = `ws://127.0.0.1:${listener.port}/`;
  const accepted = (): Promise<Connection> => once(backend, 'listenerOpen').then(([conn]) => conn);
  return { backend, listener, url, accepted };
}

/** Opens a client and waits for the server side of it. */
async function pair(server: Awaited<ReturnType<typeof wsServer>>, protocols: readonly string[] = [BINARY, TEXT], opts = {}) {
  const opened = server.accepted();
  const peer = await WsPeer.open(server.url, protocols, opts);
  const conn = await opened;
  return { peer, conn };
}

/** A `createConnection` for the ws client: plain TCP to the URL's host and port (ws's own options carry the HTTP path as `path`). */
function tcpTo(o: unknown): net.Socket {
  const { host, port } = o as { host: string; port: number };
  return net.connect({ host, port });
}

const nextInput = (s: { backend: Awaited<ReturnType<typeof wsServer>>['backend'] }): Promise<IrcMessage> =>
  once(s.backend, 'input').then(([, msg]) => msg);

// --- subprotocols ------------------------------------------------------------

for (const c of [
  { offer: [BINARY, TEXT], chosen: BINARY },
  { offer: [TEXT, BINARY], chosen: TEXT },
  { offer: ['x.example', TEXT, BINARY], chosen: TEXT },
  { offer: [BINARY], chosen: BINARY },
  { offer: [TEXT], chosen: TEXT },
  { offer: [], chosen: '' },
]) {
  test(`subprotocol: offered [${c.offer.join(', ')}] → ${c.chosen === '' ? 'none (legacy mode)' : c.chosen}`, async () => {
    const s = await wsServer();
    const { peer, conn } = await pair(s, c.offer);
    assert.equal(peer.protocol, c.chosen);
    assert.equal(conn.websocket?.protocol, c.chosen === '' ? undefined : c.chosen);
    assert.equal(conn.websocket?.path, '/');
    // Binary mode answers in binary frames; text and legacy mode in text frames.
    s.backend.send({ command: 'PING', params: ['x'] }, conn);
    const [m] = await peer.waitMessages(1);
    assert.equal(m?.data.toString(), 'PING x');
    assert.equal(m.isBinary, c.chosen === BINARY);
  });
}

test('a client offering only protocols the server does not speak gets no subprotocol, and ws (as browsers) fails it', async () => {
  const s = await wsServer();
  const r = await WsPeer.attempt(s.url, ['x.example']);
  assert.equal(r.kind, 'error');
});

// --- text and binary ---------------------------------------------------------

test('one message is one line, both frame kinds, in both modes; UTF-8 passes', async () => {
  const s = await wsServer();
  for (const proto of [BINARY, TEXT]) {
    const { peer, conn } = await pair(s, [proto]);
    let input = nextInput(s);
    peer.send('PRIVMSG #a :héllo 😀', false);
    assert.equal((await input).params[1], 'héllo 😀');
    input = nextInput(s);
    peer.send(Buffer.from('@t=1 PRIVMSG #a :bïnary'), true);
    const msg = await input;
    assert.equal(msg.params[1], 'bïnary');
    assert.equal(msg.getTag('t'), '1');
    s.backend.send({ command: 'PRIVMSG', params: ['#a', 'ünï 😀'] }, conn);
    const [m] = await peer.waitMessages(1);
    assert.equal(m?.data.toString('utf8'), 'PRIVMSG #a :ünï 😀');
    // Several lines in one flush are still one message each.
    s.backend.send({ command: 'A' }, conn);
    s.backend.send({ command: 'B' }, conn);
    assert.deepEqual((await peer.waitMessages(3)).slice(1).map((x) => x.data.toString()), ['A', 'B']);
  }
});

test('non-UTF-8 out: binary mode passes the bytes exactly, text mode sends U+FFFD, never an invalid text frame', async () => {
  const s = await wsServer();
  const bin = await pair(s, [BINARY]);
  const txt = await pair(s, [TEXT]);
  const legacy = await pair(s, []);
  const input = nextInput(s);
  // Latin-1 "café": 0xe9 is no UTF-8.
  bin.peer.send(Buffer.from('PRIVMSG #a :caf\xe9', 'latin1'), true);
  const msg = await input;
  s.backend.send(msg, bin.conn, txt.conn, legacy.conn);
  const [b] = await bin.peer.waitMessages(1);
  assert.deepEqual(b?.data, Buffer.from('PRIVMSG #a caf\xe9', 'latin1'));
  for (const p of [txt.peer, legacy.peer]) {
    const [t] = await p.waitMessages(1);
    assert.equal(t?.isBinary, false);
    assert.equal(t.data.toString('utf8'), 'PRIVMSG #a caf\ufffd');
  }
});

test('non-UTF-8 in: a text frame that is not UTF-8 closes with 1007; other connections stay', async () => {
  const s = await wsServer();
  const other = await pair(s, [TEXT]);
  const { peer, conn } = await pair(s, [TEXT]);
  const gone = once(s.backend, 'disconnect', { filter: (c) => c === conn });
  peer.send(Buffer.from('PRIVMSG #a :caf\xe9', 'latin1'), false);
  assert.equal(await peer.waitClosed(), 1007);
  await gone;
  const input = nextInput(s);
  other.peer.send('PING still', false);
  assert.equal((await input).params[0], 'still');
});

test('with an async check hook, the lines a client sends at once wait for it (none lost), as on TCP', async () => {
  // A DNS blocklist lookup, say: the hook answers after the client has sent its registration.
  let letIn: (v: boolean) => void = () => undefined;
  const s = await wsServer({ check: () => new Promise<boolean>((resolve) => (letIn = resolve)) });
  const opened = s.accepted();
  const peer = await WsPeer.open(s.url, [TEXT]);
  peer.send('NICK early', false);
  peer.send('USER early 0 * :early', false);
  // Both frames are on the wire before the hook answers.
  await new Promise((resolve) => setImmediate(resolve));
  const inputs: string[] = [];
  s.backend.on('input', (_c, m) => inputs.push(m.command));
  const two = once(s.backend, 'input', { filter: () => inputs.length === 2 });
  letIn(true);
  await opened;
  await two;
  assert.deepEqual(inputs, ['NICK', 'USER']);
});

test('a bad frame while the check hook is pending ends that peer only: no unheard error, the process and other peers go on', async () => {
  let letIn: (v: boolean) => void = () => undefined;
  let first = true;
  const s = await wsServer({
    check: () => {
      if (!first) return true;
      first = false;
      return new Promise<boolean>((resolve) => (letIn = resolve));
    },
  });
  const peer = await WsPeer.open(s.url, [TEXT]);
  // A masked frame with the reserved opcode 0x3, as a client's raw socket could send it.
  (peer.ws as unknown as { _socket: net.Socket })._socket.write(Buffer.from([0x83, 0x80, 0, 0, 0, 0]));
  await new Promise((resolve) => setImmediate(resolve));
  letIn(true);
  assert.notEqual(await peer.waitClosed(), 1000);
  const other = await pair(s, [TEXT]);
  const input = nextInput(s);
  other.peer.send('PING still', false);
  assert.equal((await input).params[0], 'still');
});

test('non-UTF-8 in a binary frame is read as on TCP (no close)', async () => {
  const s = await wsServer();
  const { peer } = await pair(s, [BINARY]);
  const input = nextInput(s);
  peer.send(Buffer.from('PRIVMSG #a :caf\xe9', 'latin1'), true);
  assert.equal((await input).command, 'PRIVMSG');
  assert.equal(peer.closed, false);
});

for (const [name, bad] of [
  ['CR', 'PRIVMSG #a :one\rQUIT'],
  ['LF', 'PRIVMSG #a :one\nQUIT'],
  ['CRLF', 'PRIVMSG #a :one\r\nQUIT'],
  ['NUL', 'PRIVMSG #a :one\0two'],
] as const) {
  test(`${name} inside a message is inputError ERR_IRC_PARSE, no line is input, the connection stays`, async () => {
    const s = await wsServer();
    const { peer, conn } = await pair(s, [TEXT]);
    const inputs: IrcMessage[] = [];
    s.backend.on('input', (_c, m) => inputs.push(m));
    const err = once(s.backend, 'inputError');
    peer.send(bad, false);
    const [c, e] = await err;
    assert.equal(c, conn);
    assert.equal(e.code, 'ERR_IRC_PARSE');
    const next = nextInput(s);
    peer.send('PING ok', false);
    assert.equal((await next).params[0], 'ok');
    assert.deepEqual(inputs.map((m) => m.command), ['PING']);
    assert.equal(conn.connected, true);
  });
}

test('over the line limits: a body over 510 bytes or a tag section over the tag limit is ERR_LINE_TOO_LONG; the connection stays', async () => {
  const s = await wsServer();
  const { peer } = await pair(s, [BINARY]);
  // 510 body bytes (512 with the CRLF a WebSocket message does not carry) are fine, 511 are not.
  const body = (n: number): string => 'PRIVMSG #a :' + 'x'.repeat(n - 'PRIVMSG #a :'.length);
  let input = nextInput(s);
  peer.send(Buffer.from(body(510)));
  assert.equal((await input).params[1]?.length, 510 - 'PRIVMSG #a :'.length);
  let err = once(s.backend, 'inputError');
  peer.send(Buffer.from(body(511)));
  assert.equal((await err)[1].code, 'ERR_LINE_TOO_LONG');
  err = once(s.backend, 'inputError');
  peer.send(Buffer.from(`@a=${'y'.repeat(8200)} PING x`));
  assert.equal((await err)[1].code, 'ERR_LINE_TOO_LONG');
  input = nextInput(s);
  peer.send(Buffer.from('PING fine'));
  assert.equal((await input).params[0], 'fine');
});

test('a frame far past the limits closes with 1009 (maxPayload), other connections stay', async () => {
  const s = await wsServer();
  const other = await pair(s, [TEXT]);
  const { peer } = await pair(s, [BINARY]);
  peer.send(Buffer.alloc(64 * 1024, 0x41));
  assert.equal(await peer.waitClosed(), 1009);
  const input = nextInput(s);
  other.peer.send('PING up', false);
  assert.equal((await input).params[0], 'up');
});

// --- HTTP before the upgrade: origin, path, plain requests, deadline -----------

test('origin allow-list: an allowed origin opens, another is HTTP 403 with ERR_WS_ORIGIN; no Origin is allowed unless requireOrigin', async () => {
  const s = await wsServer({}, { origins: ['https://chat.example.net'] });
  const ok = await pair(s, [TEXT], { origin: 'https://chat.example.net' });
  assert.equal(ok.conn.websocket?.origin, 'https://chat.example.net');
  const refused = once(s.backend, 'connectionRefused');
  const r = await WsPeer.attempt(s.url, [TEXT], { origin: 'https://evil.example' });
  assert.deepEqual(r.kind === 'status' && r.status, 403);
  const [refusal] = await refused;
  assert.equal(refusal.code, 'ERR_WS_ORIGIN');
  assert.equal(refusal.error?.name, 'IrcWebSocketError');
  // Non-browser clients send no Origin: allowed here…
  await pair(s, [TEXT]);
  // …and refused with requireOrigin.
  const strict = await wsServer({}, { requireOrigin: true });
  const none = await WsPeer.attempt(strict.url, [TEXT]);
  assert.deepEqual(none.kind === 'status' && none.status, 403);
});

test('path: upgrades on websocket.path only, others get 404 with ERR_WS_PATH', async () => {
  const s = await wsServer({}, { path: '/webirc' });
  const refused = once(s.backend, 'connectionRefused');
  const r = await WsPeer.attempt(s.url, [TEXT]);
  assert.deepEqual(r.kind === 'status' && r.status, 404);
  assert.equal((await refused)[0].code, 'ERR_WS_PATH');
  const opened = s.accepted();
  await WsPeer.open(`${s.url}webirc?x=1`, [TEXT]);
  assert.equal((await opened).websocket?.path, '/webirc');
});

test('a plain HTTP request gets 426 and is closed; with onRequest, the handler answers', async () => {
  const s = await wsServer();
  const r = await rawHttp(s.listener.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await r.waitClosed();
  assert.equal(r.status, 426);
  const page = await wsServer({}, {
    onRequest: (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'close' });
      res.end('hello');
    },
  });
  const p = await rawHttp(page.listener.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  await p.waitClosed();
  assert.equal(p.status, 200);
  assert.match(p.text, /\r\n\r\n(5\r\n)?hello/);
  // The same listener still upgrades.
  await pair(page, [TEXT]);
});

test('garbage instead of HTTP is 400 and ERR_WS_HANDSHAKE; a half-sent request is dropped at upgradeTimeout', async () => {
  const s = await wsServer({}, { upgradeTimeout: 200 });
  let refused = once(s.backend, 'connectionRefused');
  const g = await rawHttp(s.listener.port, 'NICK x\r\nUSER x 0 * :x\r\n\r\n');
  await g.waitClosed();
  assert.equal(g.status, 400);
  assert.equal((await refused)[0].code, 'ERR_WS_HANDSHAKE');
  refused = once(s.backend, 'connectionRefused');
  const slow = await rawHttp(s.listener.port, 'GET / HTTP/1.1\r\nHost: x\r\nUpgr');
  assert.equal((await refused)[0].code, 'ERR_WS_UPGRADE_TIMEOUT');
  await slow.waitClosed();
  assert.equal(slow.text, '');
});

// --- forwarding headers --------------------------------------------------------

test('the one configured forwarding header names the client, only when the socket peer is a trusted proxy; the others are never read', async () => {
  const cases: [ForwardedHeader | undefined, Record<string, string>, string][] = [
    [undefined, { 'X-Forwarded-For': '203.0.113.9' }, '203.0.113.9'],
    // A client's own forged entry is left of what the proxy appended: the rightmost untrusted hop wins.
    [undefined, { 'X-Forwarded-For': '198.51.100.1, 203.0.113.9' }, '203.0.113.9'],
    [undefined, { 'X-Forwarded-For': '203.0.113.9, 127.0.0.1' }, '203.0.113.9'],
    // A proxy that sets X-Forwarded-For passes a client's own Forwarded or X-Real-IP through: never read.
    [undefined, { 'X-Forwarded-For': '203.0.113.9', Forwarded: 'for=198.51.100.66', 'X-Real-IP': '198.51.100.67' }, '203.0.113.9'],
    [undefined, { Forwarded: 'for=198.51.100.66' }, '127.0.0.1'],
    // An unreadable hop ends the chain: the proxy stays the peer, no other header is tried.
    [undefined, { 'X-Forwarded-For': 'unknown', 'X-Real-IP': '198.51.100.67' }, '127.0.0.1'],
    ['forwarded', { Forwarded: 'for="[2001:db8::7]:4711";proto=https', 'X-Forwarded-For': '198.51.100.1' }, '2001:db8::7'],
    ['x-real-ip', { 'X-Real-IP': '192.0.2.44', 'X-Forwarded-For': '198.51.100.1' }, '192.0.2.44'],
    [undefined, {}, '127.0.0.1'],
  ];
  for (const [forwardedHeader, headers, expected] of cases) {
    const trusted = await wsServer({}, { forwardedFrom: ['127.0.0.1'], ...(forwardedHeader === undefined ? {} : { forwardedHeader }) });
    const { conn } = await pair(trusted, [TEXT], { headers });
    assert.equal(conn.peerAddr, expected, JSON.stringify([forwardedHeader, headers]));
    assert.equal(conn.websocket?.forwarded, expected !== '127.0.0.1');
    assert.equal(conn.family, expected.includes(':') ? 6 : 4);
  }
  const untrusted = await wsServer({}, { forwardedFrom: ['10.0.0.0/8'] });
  const { conn } = await pair(untrusted, [TEXT], { headers: { 'X-Forwarded-For': '203.0.113.9', 'X-Real-IP': '203.0.113.9' } });
  assert.equal(conn.peerAddr, '127.0.0.1');
  assert.equal(conn.websocket?.forwarded, false);
  const none = await wsServer();
  assert.equal((await pair(none, [TEXT], { headers: { 'X-Forwarded-For': '203.0.113.9' } })).conn.peerAddr, '127.0.0.1');
  await assert.rejects(wsServer({}, { forwardedFrom: ['127.0.0.1'], forwardedHeader: 'via' as ForwardedHeader }), { code: 'ERR_INVALID_OPTION' });
});

test('admission judges the forwarded client: a denied client behind a trusted proxy is closed with 1008', async () => {
  const s = await wsServer({ admission: { deny: ['203.0.113.0/24'] } }, { forwardedFrom: ['127.0.0.1'] });
  const refused = once(s.backend, 'connectionRefused');
  const r = await WsPeer.open(s.url, [TEXT], { headers: { 'X-Forwarded-For': '203.0.113.9' } });
  assert.equal(await r.waitClosed(), 1008);
  const [refusal] = await refused;
  assert.equal(refusal.addr, '203.0.113.9');
  await pair(s, [TEXT], { headers: { 'X-Forwarded-For': '203.0.114.9' } });
});

// --- keepalive, close codes ------------------------------------------------------

test('keepalive: a peer that answers pings stays; one that does not is closed with ERR_WS_PING_TIMEOUT', async () => {
  const s = await wsServer({}, { pingInterval: 40 });
  const good = await pair(s, [TEXT]);
  const bad = await pair(s, [TEXT], { autoPong: false });
  const [conn, , err] = await once(s.backend, 'disconnect');
  assert.equal(conn, bad.conn);
  assert.equal((err as { code?: string } | undefined)?.code, 'ERR_WS_PING_TIMEOUT');
  await good.peer.waitPings(3);
  assert.equal(good.conn.connected, true);
  assert.equal(good.peer.closed, false);
});

test('idle and connectionIdle work as on TCP', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  const s = await wsServer({ idle: 1000 });
  const { conn } = await pair(s, [TEXT]);
  const idle = once(s.backend, 'connectionIdle');
  t.mock.timers.tick(1001);
  assert.equal((await idle)[0], conn);
});

test('close codes: disconnect sends every queued line, then close 1000; disconnectNow drops the socket (1006)', async () => {
  const s = await wsServer();
  const a = await pair(s, [BINARY]);
  for (let i = 0; i < 50; i++) s.backend.send({ command: 'NOTICE', params: ['*', `line ${i}`] }, a.conn);
  s.backend.disconnect(a.conn, 'bye');
  assert.equal(await a.peer.waitClosed(), 1000);
  assert.equal(a.peer.messages.length, 50);
  assert.equal(a.peer.messages.at(-1)?.data.toString(), 'NOTICE * :line 49');
  const b = await pair(s, [BINARY]);
  const gone = once(s.backend, 'disconnect');
  s.backend.disconnectNow(b.conn, 'now');
  assert.equal(await b.peer.waitClosed(), 1006);
  assert.equal((await gone)[1], 'now');
  // The peer closing (1001, going away) is the connection's disconnect.
  const c = await pair(s, [TEXT]);
  const left = once(s.backend, 'disconnect');
  await c.peer.close(1001);
  assert.equal((await left)[0], c.conn);
});

test('a compressed link is refused on a WebSocket connection with ERR_WS_NO_COMPRESSED_LINK', async () => {
  const s = await wsServer();
  const { conn } = await pair(s, [BINARY]);
  assert.throws(() => s.backend.setCompressedLink(conn), { code: 'ERR_WS_NO_COMPRESSED_LINK' });
  assert.throws(() => s.backend.setCompressedLinkNow(conn), { code: 'ERR_WS_NO_COMPRESSED_LINK' });
  assert.equal(conn.compressed, false);
  assert.equal(conn.connected, true);
});

test('permessage-deflate: off by default, negotiated with perMessageDeflate: true', async () => {
  const off = await wsServer();
  const a = await pair(off, [TEXT], { perMessageDeflate: true });
  assert.equal(a.peer.ws.extensions, '');
  const on = await wsServer({}, { perMessageDeflate: true });
  const b = await pair(on, [TEXT], { perMessageDeflate: true });
  assert.match(b.peer.ws.extensions, /permessage-deflate/);
  const input = nextInput(on);
  b.peer.send('PRIVMSG #a :' + 'z'.repeat(400), false);
  assert.equal((await input).params[1]?.length, 400);
  on.backend.send({ command: 'PRIVMSG', params: ['#a', 'q'.repeat(400)] }, b.conn);
  assert.equal((await b.peer.waitMessages(1))[0]?.data.length, 'PRIVMSG #a '.length + 400);
});

// --- SendQ ------------------------------------------------------------------------

test("SendQ counts what ws buffers: a peer that stops reading gets sendQueueHigh, sendQueueLow when it reads again, and 'SendQ exceeded' at the cap", async () => {
  const s = await wsServer({ limits: { sendQ: 256 * 1024, sendQHighWater: 64 * 1024 } });
  let raw: net.Socket | undefined;
  const { peer, conn } = await pair(s, [BINARY], {
    createConnection: (o: unknown) => (raw = tcpTo(o)),
  });
  const socket = raw as net.Socket;
  socket.pause();
  const line = { command: 'PRIVMSG', params: ['#a', 'x'.repeat(400)] };
  // Send in turns of the event loop until the queue passes the high-water mark (the kernel buffers fill first).
  const flood = (until: Promise<unknown>): Promise<void> => {
    let done = false;
    void until.finally(() => (done = true));
    return new Promise((resolve) => {
      const step = (): void => {
        if (done || !conn.connected) {
          resolve();
          return;
        }
        for (let i = 0; i < 50; i++) s.backend.send(line, conn);
        setImmediate(step);
      };
      step();
    });
  };
  const high = once(s.backend, 'sendQueueHigh', { timeout: 10_000 });
  await flood(high);
  const [, queued] = await high;
  assert.ok(queued >= 64 * 1024);
  assert.ok(conn.queuedBytes >= 64 * 1024 - 4096);
  const low = once(s.backend, 'sendQueueLow', { timeout: 10_000 });
  socket.resume();
  const [, after] = await low;
  assert.ok(after < 32 * 1024);
  // Stop reading for good: the hard cap ends it.
  socket.pause();
  const gone = once(s.backend, 'disconnect', { timeout: 10_000 });
  await flood(gone);
  const [c, reason, err] = await gone;
  assert.equal(c, conn);
  assert.equal(reason, 'SendQ exceeded');
  assert.equal((err as { code?: string } | undefined)?.code, 'ERR_SENDQ_EXCEEDED');
  socket.resume();
  await peer.waitClosed();
});

// --- PROXY in front, TLS -----------------------------------------------------------

test('PROXY v1 in front of a WebSocket listener: the client is the one the header names', async () => {
  const s = await wsServer({ proxy: true });
  const opened = s.accepted();
  const peer = await WsPeer.open(s.url, [TEXT], {
    createConnection: (o: unknown) => {
      const sock = tcpTo(o);
      sock.write('PROXY TCP4 198.51.100.23 192.0.2.1 40000 443\r\n');
      return sock;
    },
  });
  const conn = await opened;
  assert.equal(conn.peerAddr, '198.51.100.23');
  assert.equal(conn.peerPort, 40000);
  assert.equal(conn.proxy?.header.version, 1);
  const input = nextInput(s);
  peer.send('PING behind-proxy', false);
  assert.equal((await input).params[0], 'behind-proxy');
});

test('wss:// listener with the backend TLS context, and WebSocket connectors: subprotocol negotiation, TLS verification', async () => {
  const cert = localhostCert();
  const server = newBackend({ tls: { key: cert.key, cert: cert.cert } });
  const listener = await server.createListener({ addr: '127.0.0.1', port: 0, tls: true, websocket: { path: '/irc' }, idle: 0 });
  const client = newBackend();
  const url = `wss://localhost:${listener.port}/irc`;

  // Verified against the test CA, default offer: binary first.
  const opened = once(server, 'listenerOpen');
  const conn = await client.createConnector({ url, tls: { ca: cert.cert } });
  const [sconn] = await opened;
  assert.equal(conn.websocket?.protocol, BINARY);
  assert.equal(sconn.websocket?.protocol, BINARY);
  assert.equal(sconn.tls?.protocol !== undefined, true);
  assert.equal(conn.tls !== undefined, true);
  const input = once(server, 'input');
  client.send({ command: 'PRIVMSG', params: ['#a', 'über 😀'] }, conn);
  assert.equal((await input)[1].params[1], 'über 😀');
  const back = once(client, 'input');
  server.send({ command: 'NOTICE', params: ['*', 'zurück'] }, sconn);
  assert.equal((await back)[1].params[1], 'zurück');

  // Text only, when that is what the connector offers.
  const t = await client.createConnector({ url, tls: { ca: cert.cert }, protocols: [TEXT] });
  assert.equal(t.websocket?.protocol, TEXT);

  // No CA: the self-signed certificate is refused, as for TCP connectors.
  await assert.rejects(client.createConnector({ url }), (err: NodeJS.ErrnoException) => /SELF_SIGNED|UNABLE_TO_VERIFY/.test(err.code ?? ''));
  // A certificate for another name is refused too.
  const wrong = wrongNameCert();
  const other = newBackend({ tls: { key: wrong.key, cert: wrong.cert } });
  const ol = await other.createListener({ addr: '127.0.0.1', port: 0, tls: true, websocket: true, idle: 0 });
  await assert.rejects(client.createConnector({ url: `wss://localhost:${ol.port}/`, tls: { ca: wrong.cert } }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  // Turned off explicitly, it connects.
  const insecure = await client.createConnector({ url: `wss://localhost:${ol.port}/`, tls: { rejectUnauthorized: false } });
  assert.equal(insecure.connected, true);
});

test('a ws:// connector to a plain WebSocket listener: the same Connection and events; refusals reject', async () => {
  const s = await wsServer({}, { origins: ['https://ok.example'] });
  const client = newBackend();
  const conn = await client.createConnector({ url: s.url, origin: 'https://ok.example' });
  assert.equal(conn.websocket?.protocol, BINARY);
  assert.equal(conn.peerAddr, '127.0.0.1');
  await assert.rejects(client.createConnector({ url: s.url, origin: 'https://evil.example' }));
  const gone = once(client, 'disconnect');
  const sconn = [...s.backend.connections.values()][0] as Connection;
  s.backend.disconnect(sconn, 'bye');
  assert.equal((await gone)[0], conn);
});

// --- the relay: TCP and WebSocket clients in one channel -------------------------------

test('relay: a TCP client and a WebSocket client in one channel exchange UTF-8 lines', async (t) => {
  const relay = await startRelay({ listen: [{ host: '127.0.0.1', port: 0 }], wsListen: [{ host: '127.0.0.1', port: 0 }], idle: 0 });
  t.after(() => relay.close());
  const [tcpPort, wsPort] = relay.ports as [number, number];
  const tcp = await LineClient.connect(tcpPort);
  t.after(() => tcp.destroy());
  tcp.write('NICK tcpuser', 'USER t 0 * :T', 'JOIN #mix');
  await until(tcp, (l) => / 366 tcpuser #mix /.test(l));
  const ws = await WsPeer.open(`ws://127.0.0.1:${wsPort}/`, [TEXT]);
  ws.send('CAP LS 302', false);
  ws.send('NICK webuser', false);
  ws.send('USER w 0 * :W', false);
  ws.send('CAP REQ :server-time', false);
  ws.send('CAP END', false);
  ws.send('JOIN #mix', false);
  await untilWs(ws, (l) => / 366 webuser #mix /.test(l));
  assert.ok(ws.texts.some((l) => / 353 webuser = #mix :.*tcpuser/.test(l)));
  await until(tcp, (l) => l.startsWith(':webuser!') && l.includes('JOIN'));
  ws.send('PRIVMSG #mix :grüße 🎉', false);
  const got = await until(tcp, (l) => l.includes('PRIVMSG #mix'));
  assert.equal(Buffer.from(got, 'latin1').toString('utf8'), ':webuser!~w@127.0.0.1 PRIVMSG #mix :grüße 🎉');
  tcp.socket.write(Buffer.from('PRIVMSG #mix :ñandú 🦤\r\n', 'utf8'));
  const line = await untilWs(ws, (l) => l.includes('PRIVMSG #mix'));
  assert.match(line, /^@time=\d{4}-\d\d-\d\dT[\d:.]+Z :tcpuser!~t@127\.0\.0\.1 PRIVMSG #mix :ñandú 🦤$/);
  assert.equal(relay.listeners[1]?.kind, 'ws');
});

/** The first line (as received, latin1) matching `pred`, waiting for more as needed. */
async function until(c: LineClient, pred: (l: string) => boolean): Promise<string> {
  for (;;) {
    const found = c.lines.find(pred);
    if (found !== undefined) return found;
    await c.waitLines(c.lines.length + 1);
  }
}

async function untilWs(p: WsPeer, pred: (l: string) => boolean): Promise<string> {
  for (;;) {
    const found = p.texts.find(pred);
    if (found !== undefined) return found;
    await p.waitMessages(p.messages.length + 1);
  }
}

test('shutdown closes WebSocket peers with close 1000 after their queued lines', async () => {
  const s = await wsServer();
  const { peer, conn } = await pair(s, [TEXT]);
  s.backend.send({ command: 'NOTICE', params: ['*', 'last'] }, conn);
  await s.backend.shutdown();
  assert.equal(await peer.waitClosed(), 1000);
  assert.deepEqual(peer.texts, ['NOTICE * last']);
});
