/**
 * How connections end, and the limits that end them: disconnect with an empty
 * and a full queue, a peer that never reads, disconnectNow, exactly-once
 * `disconnect`, SendQ overflow, idle events, bad input, write coalescing, and
 * 1,000 connections that leave nothing behind.
 */
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { Backend, type BackendOptions } from '../../src/backend.js';
import type { Connection } from '../../src/connection/connection.js';
import type { Listener } from '../../src/listen/listener.js';
import { countEvents, LineClient, once, times, until } from '../helpers/net.js';

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function codeOf(err: unknown): unknown {
  return err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
}

/** A backend with a listener and one raw peer connected to it. */
async function setup(
  opts: BackendOptions = {},
  idle?: number,
): Promise<{ backend: Backend; listener: Listener; peer: LineClient; conn: Connection }> {
  const backend = new Backend(opts);
  const listener = await backend.createListener({ addr: '127.0.0.1', idle });
  const opened = once(backend, 'listenerOpen');
  const peer = await LineClient.connect(listener.port);
  const [conn] = await opened;
  return { backend, listener, peer, conn };
}

/** Queues `bytes` of numbered PRIVMSG lines; returns how many lines. */
function queueBulk(backend: Backend, conn: Connection, bytes: number): number {
  const pad = 'x'.repeat(400);
  let n = 0;
  for (let sent = 0; sent < bytes; n++) {
    const ok = backend.send({ command: 'PRIVMSG', params: ['#bulk', `${n} ${pad}`] }, conn);
    assert.equal(ok, 1, `line ${n} was queued`);
    sent += 420;
  }
  return n;
}

// A deadline far beyond the test's own event waits: closing "at once" must not wait for it.
const LONG = { disconnectTimeout: 60_000 };

test('disconnect with an empty queue closes at once (the seed never did)', async () => {
  const { backend, peer, conn } = await setup({ limits: LONG });
  const gone = once(backend, 'disconnect');
  assert.equal(backend.disconnect(conn, 'Bye now'), true);
  assert.equal(conn.disconnecting, 'Bye now');
  assert.equal(backend.send({ command: 'PING', params: ['late'] }, conn), 0, 'sends while disconnecting are dropped');
  const [c, reason, err] = await gone;
  assert.equal(c, conn);
  assert.equal(reason, 'Bye now');
  assert.equal(err, undefined);
  assert.equal(conn.connected, false);
  assert.equal(backend.connections.size, 0);
  await peer.waitClosed();
  assert.deepEqual(peer.lines, []);
  await backend.shutdown();
});

test('disconnect with a full queue: the peer receives everything queued before the close', async () => {
  const { backend, peer, conn } = await setup({ limits: { ...LONG, sendQ: 64 << 20, sendQHighWater: 64 << 20 } });
  // Stop reading, so the queue backs up in Node as well as in the kernel.
  peer.socket.pause();
  const n = queueBulk(backend, conn, 8 << 20);
  backend.send({ command: 'ERROR', params: ['Closing link (done)'] }, conn);
  const gone = once(backend, 'disconnect', { timeout: 15_000 });
  backend.disconnect(conn, 'Done');
  assert.equal(conn.connected, true, 'still draining');
  peer.socket.resume();
  const [, reason, err] = await gone;
  assert.equal(reason, 'Done');
  assert.equal(err, undefined);
  await peer.waitClosed(15_000);
  assert.equal(peer.lines.length, n + 1);
  assert.equal(peer.lines[0]?.startsWith('PRIVMSG #bulk :0 '), true);
  assert.equal(peer.lines[n - 1]?.startsWith(`PRIVMSG #bulk :${n - 1} `), true);
  assert.equal(peer.lines[n], 'ERROR :Closing link (done)');
  assert.equal(conn.bytesOut, peer.bytes);
  await backend.shutdown();
});

test('input arriving while disconnecting is still dispatched', async () => {
  const { backend, peer, conn } = await setup({ limits: { ...LONG, sendQ: 64 << 20, sendQHighWater: 64 << 20 } });
  peer.socket.pause();
  queueBulk(backend, conn, 32 << 20);
  backend.disconnect(conn, 'Draining');
  const input = once(backend, 'input');
  peer.write('QUIT :me too');
  const [at, msg] = await input;
  assert.equal(at, conn);
  assert.equal(msg.command, 'QUIT');
  assert.equal(conn.disconnecting, 'Draining');
  const gone = once(backend, 'disconnect');
  await peer.destroy();
  await gone;
  await backend.shutdown();
});

test('a reply queued in the turn the peer half-closes still reaches it', async () => {
  const { backend, peer, conn } = await setup();
  backend.on('input', (c, m) => {
    if (m.command === 'QUIT') backend.send({ command: 'ERROR', params: ['Closing link (Quit)'] }, c);
  });
  // Hold our reads until the QUIT and the peer's FIN are both waiting: one read brings both.
  conn.socket.pause();
  const gone = once(backend, 'disconnect');
  peer.socket.end('QUIT :bye\r\n');
  await once(peer.socket, 'finish');
  // libuv reads the line and the EOF in separate loop turns: wait (in turns) for the line, then let the EOF in too.
  for (let turn = 0; conn.socket.readableLength === 0; turn++) {
    assert.ok(turn < 1000, 'the QUIT line reached our socket');
    await nextTurn();
  }
  for (let i = 0; i < 3; i++) await nextTurn();
  conn.socket.resume();
  const [, reason, err] = await gone;
  assert.equal(typeof reason, 'string');
  assert.equal(err, undefined);
  await peer.waitClosed();
  assert.deepEqual(peer.lines, ['ERROR :Closing link (Quit)']);
  await backend.shutdown();
});

test('a peer that never reads is closed by force after limits.disconnectTimeout (ERR_DISCONNECT_TIMEOUT)', async () => {
  const { backend, peer, conn } = await setup({ limits: { disconnectTimeout: 200, sendQ: 64 << 20, sendQHighWater: 64 << 20 } });
  peer.socket.pause();
  // More than the loopback socket buffers of both ends can hold.
  queueBulk(backend, conn, 32 << 20);
  const gone = once(backend, 'disconnect');
  backend.disconnect(conn, 'Stuck');
  const [c, reason, err] = await gone;
  assert.equal(c, conn);
  assert.equal(reason, 'Stuck');
  assert.equal(codeOf(err), 'ERR_DISCONNECT_TIMEOUT');
  assert.equal(conn.connected, false);
  assert.equal(backend.connections.size, 0);
  await peer.destroy();
  await backend.shutdown();
});

test('disconnectNow discards the queue and closes', async () => {
  const { backend, peer, conn } = await setup({ limits: LONG });
  for (let i = 0; i < 1000; i++) backend.send({ command: 'PRIVMSG', params: ['#c', `line ${i}`] }, conn);
  const gone = once(backend, 'disconnect');
  assert.equal(backend.disconnectNow(conn, 'Now'), true);
  const [, reason] = await gone;
  assert.equal(reason, 'Now');
  await peer.waitClosed();
  assert.deepEqual(peer.lines, [], 'nothing queued was written');
  assert.equal(conn.bytesOut, 0);
  await backend.shutdown();
});

test('exactly one disconnect when both ends close at the same moment', async () => {
  const backend = new Backend({ limits: LONG });
  const listener = await backend.createListener({ addr: '127.0.0.1' });
  const per = new Map<Connection, number>();
  backend.on('disconnect', (c) => per.set(c, (per.get(c) ?? 0) + 1));

  // Both ends in one backend, each told to go in the same turn.
  for (const how of ['disconnect', 'disconnectNow', 'mixed'] as const) {
    const opened = once(backend, 'listenerOpen');
    const client = await backend.createConnector({ addr: '127.0.0.1', port: listener.port });
    const [server] = await opened;
    backend.send({ command: 'PING', params: ['x'] }, client, server);
    const both = times(backend, 'disconnect', 2);
    if (how === 'disconnect') {
      backend.disconnect(client, 'a');
      backend.disconnect(server, 'b');
    } else if (how === 'disconnectNow') {
      backend.disconnectNow(client, 'a');
      backend.disconnectNow(server, 'b');
    } else {
      backend.disconnect(client, 'a');
      backend.disconnectNow(server, 'b');
      backend.disconnect(server, 'c');
      backend.disconnectNow(client, 'd');
    }
    const got = await both;
    assert.deepEqual(new Set(got.map(([c]) => c)), new Set([client, server]));
    assert.equal(client.disconnecting, 'a');
    assert.equal(server.disconnecting, 'b');
  }

  // A raw peer that closes (FIN) or resets (RST) as we disconnect it.
  for (const peerDoes of ['end', 'reset'] as const) {
    const opened = once(backend, 'listenerOpen');
    const peer = await LineClient.connect(listener.port);
    const [conn] = await opened;
    const gone = once(backend, 'disconnect', { filter: (c) => c === conn });
    if (peerDoes === 'end') peer.socket.end();
    else peer.socket.resetAndDestroy();
    backend.disconnect(conn, 'Both');
    const [, reason] = await gone;
    assert.equal(typeof reason, 'string');
    assert.equal(conn.connected, false);
    await peer.waitClosed();
  }

  // The peer resets on its own: one disconnect, with the error as cause.
  {
    const opened = once(backend, 'listenerOpen');
    const peer = await LineClient.connect(listener.port);
    const [conn] = await opened;
    const gone = once(backend, 'disconnect', { filter: (c) => c === conn });
    peer.socket.resetAndDestroy();
    const [, reason, err] = await gone;
    assert.equal(codeOf(err), 'ECONNRESET');
    assert.equal(reason, 'Connection reset by peer');
    backend.disconnect(conn, 'after');
    backend.disconnectNow(conn, 'after');
  }

  await backend.shutdown();
  assert.equal(per.size, 9);
  for (const [c, n] of per) assert.equal(n, 1, `connection ${c.id}`);
  assert.equal(backend.connections.size, 0);
});

test('SendQ overflow: sendQueueHigh first, then disconnect "SendQ exceeded" with ERR_SENDQ_EXCEEDED', async () => {
  const { backend, peer, conn } = await setup({ limits: { sendQ: 256 * 1024, sendQHighWater: 64 * 1024, disconnectTimeout: 200 } });
  const order: string[] = [];
  let high = 0;
  backend.on('sendQueueHigh', (c, queued) => {
    assert.equal(c, conn);
    assert.ok(queued >= 64 * 1024);
    high++;
    order.push('high');
  });
  const gone = once(backend, 'disconnect');
  backend.on('disconnect', () => order.push('disconnect'));
  peer.socket.pause();
  // Keep sending, a turn at a time, as a server would to a client that stopped reading.
  let dropped = false;
  const line = { command: 'PRIVMSG', params: ['#c', 'y'.repeat(400)] };
  for (let turn = 0; turn < 10_000 && !dropped; turn++) {
    for (let i = 0; i < 40; i++) {
      if (backend.send(line, conn) === 0) {
        dropped = true;
        break;
      }
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  assert.ok(dropped, 'the SendQ limit was hit');
  const [, reason, err] = await gone;
  assert.equal(reason, 'SendQ exceeded');
  assert.equal(codeOf(err), 'ERR_SENDQ_EXCEEDED');
  assert.equal(high, 1);
  assert.deepEqual(order, ['high', 'disconnect']);
  assert.equal(backend.send(line, conn), 0);
  // What did reach the peer ends with the ERROR line (when the close let it through).
  peer.socket.resume();
  await peer.waitClosed();
  const last = peer.lines.at(-1);
  if (last !== undefined && !last.startsWith('PRIVMSG')) assert.equal(last, 'ERROR :SendQ exceeded');
  await backend.shutdown();
});

test('SendQ overflow within one turn writes the ERROR line and nothing of the dropped queue', async () => {
  const { backend, peer, conn } = await setup({ limits: { sendQ: 64 * 1024, sendQHighWater: 16 * 1024 } });
  const counts = countEvents(backend, ['sendQueueHigh', 'disconnect']);
  const gone = once(backend, 'disconnect');
  let sent = 0;
  while (backend.send({ command: 'PRIVMSG', params: ['#c', 'z'.repeat(400)] }, conn) === 1) sent++;
  assert.ok(sent > 0);
  const [, reason, err] = await gone;
  assert.equal(reason, 'SendQ exceeded');
  assert.equal(codeOf(err), 'ERR_SENDQ_EXCEEDED');
  await peer.waitClosed();
  assert.deepEqual(peer.lines, ['ERROR :SendQ exceeded']);
  assert.deepEqual(counts.counts, { sendQueueHigh: 1, disconnect: 1 });
  await backend.shutdown();
});

test('connectionIdle repeats every idle period without input, and input resets it', async () => {
  const idle = 100;
  const { backend, peer, conn } = await setup({}, idle);
  assert.equal(conn.idle, idle);
  const quietAtIdle: number[] = [];
  backend.on('connectionIdle', (c) => {
    assert.equal(c, conn);
    quietAtIdle.push(Date.now() - c.seen);
  });
  await times(backend, 'connectionIdle', 3);
  // Every event came after a full idle period without input (2 ms for clock granularity).
  for (const q of quietAtIdle) assert.ok(q >= idle - 2, `quiet for ${q} ms`);

  const input = once(backend, 'input');
  peer.write('PING :still here');
  await input;
  const seenAtInput = conn.seen;
  await once(backend, 'connectionIdle');
  assert.ok(Date.now() - seenAtInput >= idle - 2, 'the next idle waits a full period after the input');
  await backend.shutdown();
  await peer.waitClosed();
});

test('connectors have an idle timer too when asked (default none)', async () => {
  const backend = new Backend();
  const listener = await backend.createListener({ addr: '127.0.0.1', idle: 0 });
  const plain = await backend.createConnector({ addr: '127.0.0.1', port: listener.port });
  const timed = await backend.createConnector({ addr: '127.0.0.1', port: listener.port, idle: 50 });
  assert.equal(plain.idle, 0);
  assert.equal(timed.idle, 50);
  const idles = times(backend, 'connectionIdle', 2);
  const got = await idles;
  assert.deepEqual(
    got.map(([c]) => c),
    [timed, timed],
    'only the connector with idle set, repeating; not the listener side (idle: 0)',
  );
  await backend.shutdown();
});

test('connectionIdle under mock timers: exact repeats, and input pushes the next one back', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  // Well under the listener's first-line deadline, which runs on the same mocked clock.
  const idle = 1_000;
  const { backend, peer } = await setup({ limits: { disconnectTimeout: 1 } }, idle);
  let fired = 0;
  backend.on('connectionIdle', () => fired++);
  t.mock.timers.tick(idle - 1);
  assert.equal(fired, 0);
  t.mock.timers.tick(1);
  assert.equal(fired, 1);
  t.mock.timers.tick(idle);
  assert.equal(fired, 2);
  t.mock.timers.tick(idle / 2);
  const input = once(backend, 'input');
  peer.write('PING :reset');
  await input;
  // Half a period after the input the old deadline passes: no event, the timer sleeps on.
  t.mock.timers.tick(idle / 2);
  assert.equal(fired, 2);
  t.mock.timers.tick(idle / 2 - 1);
  assert.equal(fired, 2);
  t.mock.timers.tick(1);
  assert.equal(fired, 3);
  peer.socket.destroy();
  const done = backend.shutdown();
  t.mock.timers.tick(10);
  await done;
  mock.timers.reset();
});

test('an over-long line and a malformed line give inputError; the connection stays up', async () => {
  const { backend, peer, conn } = await setup();
  const errors = times(backend, 'inputError', 3);
  const input = once(backend, 'input');
  peer.write(`PRIVMSG #c :${'a'.repeat(600)}`, `@${'t'.repeat(9000)} PING x`, ':only.a.source', 'PING :after');
  const got = await errors;
  assert.deepEqual(
    got.map(([c, e]) => [c, e.code]),
    [
      [conn, 'ERR_LINE_TOO_LONG'],
      [conn, 'ERR_LINE_TOO_LONG'],
      [conn, 'ERR_IRC_PARSE'],
    ],
  );
  const [at, msg] = await input;
  assert.equal(at, conn);
  assert.deepEqual([msg.command, ...msg.params], ['PING', 'after']);
  assert.equal(conn.connected, true);
  backend.send({ command: 'PONG', params: ['ok'] }, conn);
  assert.deepEqual(await peer.waitLines(1), ['PONG ok']);
  await backend.shutdown();
  await peer.waitClosed();
});

test('many sends in one turn reach the peer complete and in order, as one socket write', async () => {
  const { backend, peer, conn } = await setup();
  const opened = once(backend, 'listenerOpen');
  const listener = [...backend.activeListeners.values()][0]!;
  const peer2 = await LineClient.connect(listener.port);
  const [conn2] = await opened;
  const w1 = mock.method(conn.socket, 'write');
  const w2 = mock.method(conn2.socket, 'write');

  const N = 2000;
  for (let i = 0; i < N; i++) backend.send({ command: 'PRIVMSG', params: ['#c', `message ${i}`] }, conn);
  const lines = await peer.waitLines(N);
  assert.equal(lines.length, N);
  lines.forEach((l, i) => {
    assert.equal(l, `PRIVMSG #c :message ${i}`);
  });
  assert.equal(w1.mock.callCount(), 1, 'one write for the whole turn');
  assert.ok(peer.chunks <= N / 10, `${peer.chunks} reads for ${N} lines`);

  // Fan-out: one formatted buffer, the very same bytes handed to every target.
  assert.equal(backend.send({ command: 'NOTICE', params: ['*', 'to all'] }, conn, conn2), 2);
  await peer.waitLines(N + 1);
  await peer2.waitLines(1);
  assert.equal(peer.lines[N], 'NOTICE * :to all');
  assert.deepEqual(peer2.lines, ['NOTICE * :to all']);
  const b1 = w1.mock.calls[1]?.arguments[0];
  const b2 = w2.mock.calls[0]?.arguments[0];
  assert.ok(Buffer.isBuffer(b1));
  assert.equal(b1, b2, 'the same Buffer object');
  w1.mock.restore();
  w2.mock.restore();
  await backend.shutdown();
  await Promise.all([peer.waitClosed(), peer2.waitClosed()]);
});

test('1,000 connections opened and closed leave the tables empty and no handle behind', async () => {
  const resources = (): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const r of process.getActiveResourcesInfo()) out[r] = (out[r] ?? 0) + 1;
    return out;
  };
  const baseline = resources();
  const backend = new Backend();
  const listener = await backend.createListener({ addr: '127.0.0.1', idle: 60_000 });
  const opened = countEvents(backend, ['listenerOpen', 'connectorOpen', 'disconnect']);
  const N = 1000;
  const clients: Connection[] = [];
  for (let i = 0; i < N; i += 100) {
    const batch = Array.from({ length: 100 }, () =>
      backend.createConnector({ addr: '127.0.0.1', port: listener.port, idle: 60_000, args: i }),
    );
    clients.push(...(await Promise.all(batch)));
  }
  await until(backend, 'listenerOpen', () => opened.counts.listenerOpen === N);
  assert.equal(backend.connections.size, 2 * N);
  assert.equal(new Set(backend.connections.keys()).size, 2 * N);

  // Close them every way: from the connector side, the listener side, both, gracefully and at once.
  const serverFor = new Map<number, Connection>();
  for (const c of backend.connections.values()) if (c.origin === 'listener') serverFor.set(c.peerPort, c);
  const allGone = times(backend, 'disconnect', 2 * N, 10_000);
  clients.forEach((client, i) => {
    const server = serverFor.get(client.sockPort);
    assert.ok(server !== undefined);
    switch (i % 6) {
      case 0:
        backend.disconnect(client);
        break;
      case 1:
        backend.disconnectNow(client.id);
        break;
      case 2:
        backend.disconnect(server.id);
        break;
      case 3:
        backend.disconnectNow(server);
        break;
      case 4:
        backend.disconnect(client);
        backend.disconnect(server);
        break;
      default:
        backend.disconnectNow(server);
        backend.disconnect(client);
    }
  });
  await allGone;
  assert.equal(backend.connections.size, 0);
  assert.equal(backend.pendingConnectors.size, 0);
  assert.equal(listener.close(), true);
  assert.equal(backend.activeListeners.size, 0);
  await backend.shutdown();
  assert.deepEqual(opened.counts, { listenerOpen: N, connectorOpen: N, disconnect: 2 * N });
  opened.stop();

  // A handle leaves the list in libuv's close phase, which follows the check
  // phase of the turn its 'close' event came in: two turns, not a sleep.
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setImmediate(resolve));
  const now = resources();
  for (const kind of new Set([...Object.keys(baseline), ...Object.keys(now)])) {
    if (/^(TCP|Timeout|Immediate|GetAddrInfo)/.test(kind)) assert.equal(now[kind] ?? 0, baseline[kind] ?? 0, kind);
  }
});
