/**
 * Input limits and deadlines over real loopback sockets (issue 6, items 2–3):
 * flood control in `delay` (fakelag) and `disconnect` modes, the `maxDelay`
 * bound, ReadQ, the first-line (registration) timeout, the TLS handshake
 * timeout, and idle time counted in complete lines. Limits are small so that
 * every test ends well within a second; the tests wait on events, not sleeps.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Backend, type BackendOptions, type ListenerOptions } from '../../src/backend.js';
import type { Connection } from '../../src/connection/connection.js';
import type { IrcsockError } from '../../src/errors.js';
import { countEvents, LineClient, once, times } from '../helpers/net.js';
import { trackedBackends } from '../helpers/backends.js';
import { localhostCert } from '../helpers/tls-cert.js';

const cert = localhostCert();
after(() => {
  cert.cleanup();
});

const newBackend = trackedBackends();

/** A backend with one listener on 127.0.0.1 and one raw client admitted to it. */
async function setup(
  opts: ListenerOptions,
  backendOpts?: BackendOptions,
): Promise<{ backend: Backend; client: LineClient; conn: Connection; port: number }> {
  const backend = newBackend(backendOpts);
  const listener = await backend.createListener({ addr: '127.0.0.1', ...opts });
  const opened = once(backend, 'listenerOpen');
  const client = await LineClient.connect(listener.port);
  const [conn] = await opened;
  return { backend, client, conn, port: listener.port };
}

const lines = (n: number, tag = 'line'): string[] => Array.from({ length: n }, (_, i) => `PRIVMSG #flood :${tag} ${i}`);

function codeOf(err: Error | undefined): string | undefined {
  return (err as IrcsockError | undefined)?.code;
}

test("flood 'delay': lines past the burst are held while reading is paused, then all arrive in order", async () => {
  const burst = 3;
  const total = 12;
  const { backend, client, conn } = await setup({ flood: { rate: 100, burst, mode: 'delay' } });
  const { counts } = countEvents(backend, ['disconnect', 'inputError']);
  const got: string[] = [];
  let syncCount = -1;
  let pausedAfterBurst: boolean | undefined;
  const all = times(backend, 'input', total);
  backend.on('input', (c, msg) => {
    if (c !== conn) return;
    got.push(msg.params[1] ?? '');
    if (got.length === 1) {
      // Runs once the read that carried every line has been handled, before any timer.
      queueMicrotask(() => {
        syncCount = got.length;
        pausedAfterBurst = conn.socket.isPaused();
      });
    }
  });
  // One write, one read: all twelve lines are there at once.
  client.write(...lines(total));
  await all;
  assert.equal(syncCount, burst, 'only the burst is dispatched at once');
  assert.equal(pausedAfterBurst, true, 'reading is paused while a line is held');
  assert.deepEqual(got, lines(total).map((_, i) => `line ${i}`), 'every line, once, in order');
  assert.equal(conn.socket.isPaused(), false, 'reading resumes once the debt is paid');
  assert.equal(conn.linesIn, total);
  assert.equal(counts.disconnect, 0);
  assert.equal(counts.inputError, 0);

  // The link is still good both ways.
  backend.send({ command: 'PONG', params: ['ok'] }, conn);
  assert.deepEqual(await client.waitLines(1), ['PONG ok']);
});

test("flood 'delay': a peer that keeps sending while held loses nothing across many reads", async () => {
  const { backend, client, conn } = await setup({ flood: { rate: 400, burst: 5, mode: 'delay' } });
  const total = 60;
  const all = times(backend, 'input', total);
  const sent = lines(total, 'x');
  // Several writes, some while the first ones are held.
  for (let i = 0; i < total; i += 10) {
    client.write(...sent.slice(i, i + 10));
    await new Promise((resolve) => setImmediate(resolve));
  }
  const got = await all;
  assert.ok(got.every(([c]) => c === conn));
  assert.deepEqual(
    got.map(([, m]) => m.params[1]),
    sent.map((_, i) => `x ${i}`),
  );
});

test("flood 'disconnect': the first line past the burst ends the connection with Excess Flood (ERR_EXCESS_FLOOD)", async () => {
  const { backend, client, conn } = await setup({ flood: { rate: 1, burst: 2, mode: 'disconnect' } });
  const { counts } = countEvents(backend, ['input']);
  const gone = once(backend, 'disconnect');
  client.write(...lines(5));
  const [c, reason, err] = await gone;
  assert.equal(c, conn);
  assert.equal(reason, 'Excess Flood');
  assert.equal(codeOf(err), 'ERR_EXCESS_FLOOD');
  assert.equal(counts.input, 2, 'the burst was delivered');
  await client.waitClosed();
});

test("flood 'delay' with a debt past maxDelay: Excess Flood (ERR_EXCESS_FLOOD)", async () => {
  // One line costs 500 ms at 2 lines/s: more than the 100 ms a peer may owe.
  const { backend, client, conn } = await setup({ flood: { rate: 2, burst: 2, mode: 'delay', maxDelay: 100 } });
  const { counts } = countEvents(backend, ['input']);
  const gone = once(backend, 'disconnect');
  client.write(...lines(3));
  const [c, reason, err] = await gone;
  assert.equal(c, conn);
  assert.equal(reason, 'Excess Flood');
  assert.equal(codeOf(err), 'ERR_EXCESS_FLOOD');
  assert.equal(counts.input, 2);
});

test('setFlood(false) lifts fakelag at once: the held line and every waiting one are dispatched, in order (a client that turns out to be a server link)', async () => {
  // At 1 line/s the last of 40 lines would wait 38 s: only lifting the control lets them arrive within the test's wait.
  const { backend, client, conn } = await setup({ flood: { rate: 1, burst: 2, mode: 'delay', maxDelay: 60_000 } });
  const total = 40;
  const all = times(backend, 'input', total);
  let lifted = false;
  backend.on('input', (c) => {
    if (c !== conn || lifted) return;
    lifted = true;
    // Once the burst is spent and a line is held: the next timer turn, not this dispatch.
    setImmediate(() => {
      assert.equal(conn.socket.isPaused(), true, 'a line is held');
      conn.setFlood(false);
    });
  });
  client.write(...lines(total));
  const got = await all;
  assert.deepEqual(
    got.map(([, m]) => m.params[1]),
    lines(total).map((_, i) => `line ${i}`),
  );
  assert.equal(conn.socket.isPaused(), false);
});

test("setFlood replaces the control: a connection moved to 'disconnect' mode is dropped with Excess Flood past its new burst", async () => {
  const { backend, client, conn } = await setup({ flood: { rate: 100, burst: 100, mode: 'delay' } });
  conn.setFlood({ rate: 1, burst: 3, mode: 'disconnect' });
  const { counts } = countEvents(backend, ['input']);
  const gone = once(backend, 'disconnect');
  client.write(...lines(10));
  const [, reason, err] = await gone;
  assert.equal(reason, 'Excess Flood');
  assert.equal(codeOf(err), 'ERR_EXCESS_FLOOD');
  assert.equal(counts.input, 3);
  assert.throws(() => { conn.setFlood({ rate: 0, burst: 1 }); }, { code: 'ERR_INVALID_OPTION' });
});

test('setFlood is refused (ERR_HANDOFF_BUSY) while a hand-off has the connection frozen: the held line stays for the snapshot', async () => {
  const { backend, client, conn } = await setup({ flood: { rate: 1, burst: 1, mode: 'delay', maxDelay: 60_000 } });
  const first = once(backend, 'input');
  client.write(...lines(2));
  await first;
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(await conn.freeze(1_000), true);
  assert.throws(() => { conn.setFlood(false); }, { code: 'ERR_HANDOFF_BUSY' });
  assert.equal(conn.snapshot().input.toString('latin1'), 'PRIVMSG #flood :line 1\r\n', 'the held line goes with the snapshot');
  conn.thaw();
  const next = once(backend, 'input');
  conn.setFlood(false);
  const [, msg] = await next;
  assert.equal(msg.params[1], 'line 1');
});

test('ReadQ: input held back by flood control beyond limits.readQ ends the connection (ERR_READQ_EXCEEDED)', async () => {
  const { backend, client, conn } = await setup({ flood: { rate: 1, burst: 1, mode: 'delay' }, limits: { readQ: 1024 } });
  const gone = once(backend, 'disconnect');
  // ~4 KiB in one write: one line is delivered, one held, the rest waits past the ReadQ.
  client.write(...lines(100));
  const [c, reason, err] = await gone;
  assert.equal(c, conn);
  assert.equal(reason, 'Excess Flood');
  assert.equal(codeOf(err), 'ERR_READQ_EXCEEDED');
  await client.waitClosed();
});

test('ReadQ: more than limits.readQ in one read is fine when every line can be dispatched at once', async () => {
  const { backend, client, conn } = await setup({ limits: { readQ: 1024 } });
  const { counts } = countEvents(backend, ['disconnect']);
  const all = times(backend, 'input', 100);
  client.write(...lines(100));
  await all;
  assert.ok(conn.bytesIn > 1024);
  assert.equal(counts.disconnect, 0);
});

test('firstLineTimeout: a silent connection and a slow dribbler (bytes, no LF) are dropped; one that sent a line is not', async () => {
  const { backend, client: talker, conn: talked } = await setup({ limits: { firstLineTimeout: 150 } });
  const port = talked.sockPort;
  const first = once(backend, 'input');
  talker.write('NICK early');
  await first;

  const drops = times(backend, 'disconnect', 2);
  const silent = await LineClient.connect(port);
  const dribbler = await LineClient.connect(port);
  const bytes = 'NICK slowloris';
  let i = 0;
  const drip = setInterval(() => {
    if (i < bytes.length && !dribbler.closed) dribbler.socket.write(bytes[i++] ?? '');
  }, 15);
  try {
    const dropped = await drops;
    for (const [c, reason, err] of dropped) {
      assert.notEqual(c, talked);
      assert.equal(reason, 'Registration timeout');
      assert.equal(codeOf(err), 'ERR_REGISTRATION_TIMEOUT');
    }
    const dribbled = dropped.find(([c]) => c.bytesIn > 0);
    assert.ok(dribbled !== undefined, 'the dribbler sent bytes and was still dropped');
    assert.equal(dribbled[0].linesIn, 0);
  } finally {
    clearInterval(drip);
  }
  await silent.waitClosed();
  await dribbler.waitClosed();
  // Accepted first, its deadline passed first: it is still here.
  assert.equal(talked.connected, true);
  assert.equal(backend.connections.get(talked.id), talked);
  const input = once(backend, 'input');
  talker.write('USER a 0 * :still here');
  assert.equal((await input)[0], talked);
});

test('firstLineTimeout does not apply to connectors (the remote server speaks when it likes)', async () => {
  const backend = newBackend({ limits: { firstLineTimeout: 100 } });
  const listener = await backend.createListener({ addr: '127.0.0.1', limits: { firstLineTimeout: 60_000 } });
  const opened = once(backend, 'listenerOpen');
  const out = await backend.createConnector({ addr: '127.0.0.1', port: listener.port });
  const [inbound] = await opened;
  // A second, accepted-side connection with the short deadline: its drop marks that the deadline has passed.
  const short = await backend.createListener({ addr: '127.0.0.1', limits: { firstLineTimeout: 100 } });
  const dropped = once(backend, 'disconnect');
  const probe = await LineClient.connect(short.port);
  const [c, , err] = await dropped;
  assert.equal(codeOf(err), 'ERR_REGISTRATION_TIMEOUT');
  assert.notEqual(c, out);
  assert.equal(out.connected, true);
  assert.equal(inbound.connected, true);
  await probe.waitClosed();
});

test('tlsHandshakeTimeout: a raw TCP peer that never says hello gets tlsClientError ERR_TLS_HANDSHAKE_TIMEOUT; the listener keeps serving', async () => {
  const backend = newBackend({ tls: { key: cert.key, cert: cert.cert } });
  const { counts } = countEvents(backend, ['listenerOpen', 'disconnect']);
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true, limits: { tlsHandshakeTimeout: 150 } });
  const failed = once(backend, 'tlsClientError');
  const mute = net.connect({ host: '127.0.0.1', port: listener.port });
  mute.on('error', () => {
    // The server gives up on it: a reset is fine.
  });
  await once(mute, 'connect');
  const [l, err, peer] = await failed;
  assert.equal(l, listener);
  assert.equal((err as NodeJS.ErrnoException).code, 'ERR_TLS_HANDSHAKE_TIMEOUT');
  assert.equal(peer.addr, '127.0.0.1');
  assert.equal(peer.port, mute.localPort);
  await once(mute, 'close');
  assert.equal(counts.listenerOpen, 0);
  assert.equal(counts.disconnect, 0, 'no connection was ever made');

  const opened = once(backend, 'listenerOpen');
  const good = await backend.createConnector({ addr: '127.0.0.1', port: listener.port, tls: { ca: cert.cert } });
  const [server] = await opened;
  const input = once(backend, 'input');
  backend.send({ command: 'PING', params: ['x'] }, good);
  assert.equal((await input)[0], server);
  assert.equal(listener.admission?.activeCount, 1, 'the timed-out peer released its admission count');
});

test('connectionIdle counts complete lines: a peer dribbling bytes without LF goes idle on time', async () => {
  const idle = 200;
  const { backend, client, conn } = await setup({ idle });
  const first = once(backend, 'input');
  client.write('NICK dribbler');
  await first;
  const lastLine = conn.seen;
  const bytesAfterLine = conn.bytesIn;

  const idled = once(backend, 'connectionIdle');
  const drip = setInterval(() => {
    client.socket.write('x');
  }, 10);
  let at: number;
  try {
    const [c] = await idled;
    at = Date.now();
    assert.equal(c, conn);
  } finally {
    clearInterval(drip);
  }
  assert.ok(conn.bytesIn > bytesAfterLine, 'bytes kept arriving');
  assert.equal(conn.seen, lastLine, 'partial lines do not count as input');
  assert.ok(at - lastLine >= idle, `not before ${idle} ms after the last complete line (${at - lastLine} ms)`);
  assert.equal(conn.connected, true, 'idle is a notice, not a disconnect');

  // Completing the line is input again.
  const input = once(backend, 'input');
  client.write('');
  const [, msg] = await input;
  assert.equal(msg.command, 'X'.repeat(msg.command.length));
  assert.ok(conn.seen > lastLine);
});
