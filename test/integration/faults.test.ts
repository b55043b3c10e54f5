/**
 * Fault isolation over real loopback sockets (issue 6, item 4): garbage
 * bytes, plain text to a TLS port, TLS to a plain port, abrupt resets,
 * half-closed sockets, a peer that vanishes mid-write, and an application
 * handler that throws. Each fault touches only its own connection: a healthy
 * connection on the same backend keeps exchanging lines throughout, and
 * `disconnect` fires exactly once for the faulty one.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import type { Backend } from '../../src/backend.js';
import type { Connection } from '../../src/connection/connection.js';
import type { Listener } from '../../src/listen/listener.js';
import { countEvents, LineClient, once } from '../helpers/net.js';
import { trackedBackends } from '../helpers/backends.js';
import { localhostCert } from '../helpers/tls-cert.js';

const cert = localhostCert();
after(() => {
  cert.cleanup();
});

const newBackend = trackedBackends();

/** Connects a raw client and resolves with it and the backend's side of it. */
async function connect(backend: Backend, listener: Listener): Promise<{ client: LineClient; conn: Connection }> {
  const opened = once(backend, 'listenerOpen', { filter: (_c, l) => l === listener });
  const client = await LineClient.connect(listener.port);
  const [conn] = await opened;
  return { client, conn };
}

/**
 * A well-behaved peer on the same backend: `check()` sends a line each way
 * and fails if either does not arrive. Works for plain raw clients and for a
 * pair of ircsock connections (TLS).
 */
interface Healthy {
  check(tag: string): Promise<void>;
  conn: Connection;
}

async function healthyRaw(backend: Backend, listener: Listener): Promise<Healthy & { client: LineClient }> {
  const { client, conn } = await connect(backend, listener);
  return {
    client,
    conn,
    async check(tag: string) {
      const input = once(backend, 'input', { filter: (c, m) => c === conn && m.params[0] === tag });
      client.write(`PING ${tag}`);
      await input;
      const before = client.lines.length;
      backend.send({ command: 'PONG', params: [tag] }, conn);
      const got = await client.waitLines(before + 1);
      assert.equal(got[before], `PONG ${tag}`);
      assert.equal(conn.connected, true);
    },
  };
}

/** Deterministic bytes (xorshift32), so a failure can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const NASTY = [0x00, 0x0d, 0x0a, 0xff, 0xff, 0xff, 0x20, 0x3a, 0x40, 0x3b, 0xc3, 0x80, 0xed, 0xa0];

function garbage(rand: () => number, size: number): Buffer {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) {
    const r = rand();
    buf[i] = r % 3 === 0 ? (NASTY[(r >>> 8) % NASTY.length] ?? 0) : (r >>> 16) & 0xff;
  }
  return buf;
}

test('garbage bytes (NUL, lone CR, invalid UTF-8, 0xFF runs, random) touch only their own connection', async () => {
  const backend = newBackend();
  const listener = await backend.createListener({ addr: '127.0.0.1' });
  const healthy = await healthyRaw(backend, listener);
  const { client: bad, conn: badConn } = await connect(backend, listener);
  const { counts } = countEvents(backend, ['disconnect', 'listenerFailure']);
  const errorCodes = new Set<string>();
  backend.on('inputError', (c, err) => {
    assert.equal(c, badConn, 'only the garbage connection reports bad input');
    errorCodes.add(err.code);
  });
  const badInputs: string[][] = [];
  backend.on('input', (c, msg) => {
    if (c === badConn) badInputs.push([...msg.params]);
  });

  // Fixed nasties first, each ending its line, then a valid line to prove the decoder is in step.
  const fixed = Buffer.concat([
    Buffer.from('\0\0\0\n'), // NULs: a line that is no message
    Buffer.from('   \r\n'), // spaces only: no command
    Buffer.from('PRIVMSG #a :lone\rCR\n'), // a lone CR is not a line end, and no message may hold one
    Buffer.from('PRIVMSG #a :'),
    Buffer.from([0xc3, 0x28, 0x0a]), // invalid UTF-8: the stray byte is escaped (U+DCC3), so it can be relayed as it came
    Buffer.alloc(4000, 0xff), // a 0xFF run far over the line limit
    Buffer.from('\r\n'),
    Buffer.from('PRIVMSG #a :in step\r\n'),
  ]);
  const inStep = once(backend, 'input', { filter: (c, m) => c === badConn && m.params[1] === 'in step' });
  bad.socket.write(fixed);
  await inStep;
  assert.ok(errorCodes.has('ERR_LINE_TOO_LONG'));
  assert.ok(errorCodes.has('ERR_IRC_PARSE'));
  assert.deepEqual(
    badInputs.filter((p) => p[0] === '#a').map((p) => p[1]),
    ['\udcc3(', 'in step'],
    'the lone-CR line is an inputError (a CR inside could smuggle a command to a relay), the invalid UTF-8 one is input',
  );
  await healthy.check('after-fixed');

  // Then random junk, in many reads, the healthy peer talking in between.
  const rand = prng(0x1badb002);
  for (let round = 0; round < 40; round++) {
    bad.socket.write(garbage(rand, 1 + (rand() % 3000)));
    if (round % 10 === 9) await healthy.check(`round-${round}`);
  }
  // End whatever partial line the junk left, then a clean line must come through.
  const after = once(backend, 'input', { filter: (c, m) => c === badConn && m.command === 'PING' && m.params[0] === 'after-garbage' });
  bad.socket.write('\nPING after-garbage\r\n');
  await after;
  for (const code of errorCodes) assert.ok(code === 'ERR_IRC_PARSE' || code === 'ERR_LINE_TOO_LONG', code);
  assert.equal(counts.disconnect, 0, 'garbage alone closes nothing');
  assert.equal(counts.listenerFailure, 0);
  assert.equal(badConn.connected, true);
  await healthy.check('end');
});

test('plain text to a TLS port: tlsClientError for that peer; a TLS connection on the same listener keeps talking', async () => {
  const backend = newBackend({ tls: { key: cert.key, cert: cert.cert } });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  const opened = once(backend, 'listenerOpen');
  const client = await backend.createConnector({ addr: '127.0.0.1', port: listener.port, tls: { ca: cert.cert } });
  const [server] = await opened;
  const roundTrip = async (tag: string): Promise<void> => {
    const there = once(backend, 'input', { filter: (c, m) => c === server && m.params[0] === tag });
    backend.send({ command: 'PING', params: [tag] }, client);
    await there;
    const back = once(backend, 'input', { filter: (c, m) => c === client && m.params[0] === tag });
    backend.send({ command: 'PONG', params: [tag] }, server);
    await back;
  };
  const { counts } = countEvents(backend, ['disconnect', 'listenerOpen']);

  const failed = once(backend, 'tlsClientError');
  const plain = net.connect({ host: '127.0.0.1', port: listener.port });
  plain.on('error', () => {
    // The server drops it: a reset is expected.
  });
  plain.write('NICK plain\r\nUSER plain 0 * :Plain Text\r\n');
  const [l, err, peer] = await failed;
  assert.equal(l, listener);
  assert.equal(typeof (err as NodeJS.ErrnoException).code, 'string', 'an OpenSSL or Node error code');
  assert.equal(peer.addr, '127.0.0.1');
  await once(plain, 'close');
  await roundTrip('after-plain');
  assert.equal(counts.disconnect, 0);
  assert.equal(counts.listenerOpen, 0);
  assert.equal(listener.admission?.activeCount, 1);
});

/** The bytes of a real TLS ClientHello, as a plain server receives them. */
async function captureClientHello(): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => {
      s.once('data', (chunk: Buffer) => {
        resolve(chunk);
        s.destroy();
      });
    });
  });
  const hello = tls.connect({ host: '127.0.0.1', port, servername: 'irc.example' });
  hello.on('error', () => {
    // The capture server hangs up.
  });
  const bytes = await got;
  hello.destroy();
  await new Promise((resolve) => server.close(resolve));
  return bytes;
}

test('a TLS client on a plain port: its ClientHello is junk input for that connection alone; our plain reply ends its handshake', async () => {
  const backend = newBackend();
  const listener = await backend.createListener({ addr: '127.0.0.1' });
  const healthy = await healthyRaw(backend, listener);
  const { counts } = countEvents(backend, ['disconnect']);

  // A real TLS client: the server reads its hello, answers in plain text, the client gives up.
  let tlsConn: Connection | undefined;
  const helloRead = new Promise<void>((resolve) => {
    backend.once('listenerOpen', (c) => {
      tlsConn = c;
      c.socket.once('data', () => {
        resolve();
      });
    });
  });
  const tlsClient = tls.connect({ host: '127.0.0.1', port: listener.port, servername: 'irc.example' });
  let tlsError: NodeJS.ErrnoException | undefined;
  tlsClient.on('error', (err: NodeJS.ErrnoException) => {
    tlsError = err;
  });
  const tlsClosed = once(tlsClient, 'close');
  await helloRead;
  assert.ok(tlsConn !== undefined && tlsConn.bytesIn > 0);
  await healthy.check('hello-read');
  const gone = once(backend, 'disconnect', { filter: (c) => c === tlsConn });
  backend.send({ command: 'NOTICE', params: ['*', 'This is a plain IRC port'] }, tlsConn);
  await gone;
  await tlsClosed;
  assert.equal(typeof tlsError?.code, 'string', 'the TLS client failed its handshake on plain text');
  await healthy.check('after-tls-client');

  // The same hello replayed raw, as lines: dropped or parsed, never fatal; the line after it is clean.
  const hello = await captureClientHello();
  const { client: replay, conn: replayConn } = await connect(backend, listener);
  const errors: string[] = [];
  backend.on('inputError', (c, err) => {
    if (c === replayConn) errors.push(err.code);
  });
  const clean = once(backend, 'input', { filter: (c, m) => c === replayConn && m.command === 'PING' && m.params[0] === 'clean' });
  replay.socket.write(Buffer.concat([hello, Buffer.from('\n'), hello, hello, Buffer.from('\r\nPING clean\r\n')]));
  await clean;
  assert.ok(errors.length > 0, 'the hello bytes gave at least one inputError');
  for (const code of errors) assert.ok(code === 'ERR_IRC_PARSE' || code === 'ERR_LINE_TOO_LONG', code);
  await healthy.check('after-replay');
  assert.equal(counts.disconnect, 1, 'only the TLS client went');
});

test('abrupt reset (RST), also in the middle of a line: one disconnect for that peer; the healthy one goes on', async () => {
  const backend = newBackend();
  const listener = await backend.createListener({ addr: '127.0.0.1' });
  const healthy = await healthyRaw(backend, listener);
  for (const partial of ['', 'PRIVMSG #a :half a li']) {
    const { client, conn } = await connect(backend, listener);
    const { counts } = countEvents(backend, ['disconnect']);
    const input = once(backend, 'input', { filter: (c) => c === conn });
    client.socket.write(`PING before-reset\r\n${partial}`);
    await input;
    const gone = once(backend, 'disconnect', { filter: (c) => c === conn });
    client.socket.resetAndDestroy();
    const [, reason, err] = await gone;
    assert.equal(typeof reason, 'string');
    if (err !== undefined) assert.equal((err as NodeJS.ErrnoException).code, 'ECONNRESET');
    assert.equal(conn.connected, false);
    assert.equal(backend.connections.has(conn.id), false);
    await healthy.check(`after-reset-${partial.length}`);
    assert.equal(counts.disconnect, 1);
  }
});

for (const flood of [undefined, { rate: 200, burst: 2, mode: 'delay' as const }]) {
  const what = flood === undefined ? 'every line sent before end() is dispatched' : 'the lines delivered before the FIN are in order';
  test(`half-closed socket${flood ? ' under flood delay' : ''}: ${what}, then one disconnect`, async () => {
    const backend = newBackend();
    const listener = await backend.createListener({ addr: '127.0.0.1', flood: flood ?? false });
    const healthy = await healthyRaw(backend, listener);
    const { client, conn } = await connect(backend, listener);
    const got: string[] = [];
    backend.on('input', (c, msg) => {
      if (c === conn) got.push(msg.params.at(-1) ?? '');
    });
    const { counts } = countEvents(backend, ['disconnect']);
    const gone = once(backend, 'disconnect', { filter: (c) => c === conn });
    const sent = Array.from({ length: 10 }, (_, i) => `PRIVMSG #a :line ${i}`);
    client.socket.end(sent.map((l) => l + '\r\n').join('') + 'QUIT :bye\r\n');
    const [, , err] = await gone;
    assert.equal(err, undefined, 'a clean close');
    const all = [...sent.map((_, i) => `line ${i}`), 'bye'];
    if (flood === undefined) {
      assert.deepEqual(got, all);
    } else {
      // Lines flood control still holds at the peer's FIN are dropped, as an
      // ircd drops its RecvQ: dispatching them at once would let any client
      // skip the fakelag by closing. What was delivered is in order.
      assert.ok(got.length >= flood.burst, `the burst was delivered (${got.length})`);
      assert.deepEqual(got, all.slice(0, got.length));
    }
    await healthy.check('after-half-close');
    await client.waitClosed();
    assert.equal(counts.disconnect, 1);
  });
}

test('a peer that vanishes mid-write: one disconnect, no uncaught error, the healthy peer goes on', async () => {
  const backend = newBackend();
  const listener = await backend.createListener({ addr: '127.0.0.1', limits: { sendQ: 16 * 1024 * 1024, sendQHighWater: 16 * 1024 * 1024 } });
  const healthy = await healthyRaw(backend, listener);
  const { client, conn } = await connect(backend, listener);
  const { counts } = countEvents(backend, ['disconnect', 'listenerFailure']);
  const gone = once(backend, 'disconnect', { filter: (c) => c === conn });
  const text = 'x'.repeat(400);
  // ~4 MB queued in one turn: far more than the socket buffers hold.
  for (let i = 0; i < 10_000; i++) backend.send({ command: 'PRIVMSG', params: ['#big', `${i} ${text}`] }, conn);
  assert.ok(conn.queuedBytes > 1024 * 1024);
  await once(client.socket, 'data');
  client.socket.destroy();
  const [, reason, err] = await gone;
  assert.equal(typeof reason, 'string');
  if (err !== undefined) assert.ok(['EPIPE', 'ECONNRESET'].includes((err as NodeJS.ErrnoException).code ?? ''), String(err));
  await healthy.check('after-vanish');
  assert.equal(counts.disconnect, 1);
  assert.equal(counts.listenerFailure, 0);
  assert.equal(conn.queuedBytes, 0, 'the queue was dropped');
});

/**
 * Runs `body` in a child Node process against the built backend and returns
 * what it printed as JSON. An uncaught exception there cannot upset this
 * test runner, which fails any test during which one happens.
 */
function inChild(body: string): Promise<Record<string, unknown>> {
  const backendUrl = new URL('../../src/backend.js', import.meta.url).href;
  const netUrl = new URL('../helpers/net.js', import.meta.url).href;
  const code = `import { Backend } from ${JSON.stringify(backendUrl)};\nimport { LineClient, once, times } from ${JSON.stringify(netUrl)};\n${body}`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', code], { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`child failed: ${err.message}\n${stderr}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as Record<string, unknown>);
      } catch {
        reject(new Error(`child printed no JSON: ${stdout}\n${stderr}`));
      }
    });
  });
}

const THROWING_HANDLER = `
const flood = FLOOD;
const uncaught = [];
process.on('uncaughtException', (err) => uncaught.push(err.message));
const backend = new Backend();
const listener = await backend.createListener({ addr: '127.0.0.1', flood });
const got = [];
let disconnects = 0;
backend.on('input', (c, msg) => {
  got.push(msg.command);
  if (msg.command === 'BOOM') throw new Error('handler bug');
});
backend.on('disconnect', () => { disconnects++; });
const opened = once(backend, 'listenerOpen');
const client = await LineClient.connect(listener.port);
const [conn] = await opened;
const boom = new Promise((resolve) => process.once('uncaughtException', resolve));
client.write('A', 'BOOM', 'B', 'C');
await boom;
await new Promise((resolve) => setImmediate(resolve));
const afterThrow = { got: [...got], inTable: backend.connections.get(conn.id) === conn, connected: conn.connected };
const rest = times(backend, 'input', 3);
client.write('D');
await rest;
const afterNextRead = [...got];
const gone = once(backend, 'disconnect');
client.socket.end();
await gone;
await backend.shutdown();
await new Promise((resolve) => setImmediate(resolve));
console.log(JSON.stringify({ uncaught, afterThrow, afterNextRead, disconnects, tableSize: backend.connections.size }));
`;

for (const flood of [undefined, { rate: 100, burst: 1, mode: 'delay' }]) {
  test(`an input handler that throws${flood ? ' (on a line flood control held)' : ''}: Node's convention — uncaught; the tables stay consistent`, async () => {
    const out = await inChild(THROWING_HANDLER.replace('FLOOD', JSON.stringify(flood ?? false)));
    assert.deepEqual(out.uncaught, ['handler bug'], 'the exception reaches the process, once');
    const afterThrow = out.afterThrow as { got: string[]; inTable: boolean; connected: boolean };
    assert.equal(afterThrow.inTable, true, 'the connection is still in backend.connections');
    assert.equal(afterThrow.connected, true);
    assert.deepEqual(afterThrow.got.slice(0, 2), ['A', 'BOOM']);
    assert.deepEqual(out.afterNextRead, ['A', 'BOOM', 'B', 'C', 'D'], 'the next read dispatches the lines left behind, in order');
    assert.equal(out.disconnects, 1, 'disconnect still fires exactly once');
    assert.equal(out.tableSize, 0);
  });
}
