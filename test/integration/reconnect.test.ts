/**
 * Reconnecting connectors against real servers: the server stopped and
 * started again on the same port, a refused first attempt, and never a retry
 * after the application closed the connection or the connector. The waits
 * between attempts run on node:test's mock clock: the test ticks it by the
 * delay each `connectorRetry` announces, so no real backoff is waited.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Backend } from '../../src/backend.js';
import type { Connector } from '../../src/connect/connector.js';
import { closedPort, countEvents, once, silentServer } from '../helpers/net.js';
import { trackedBackends } from '../helpers/backends.js';

const newBackend = trackedBackends();

/** Mocks setTimeout only: sockets, setImmediate and the test's own deadline stay real. */
function mockClock(t: TestContext): (ms: number) => void {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  return (ms) => {
    t.mock.timers.tick(ms);
  };
}

const NO_JITTER = { initialDelay: 1_000, factor: 2, maxDelay: 8_000, jitter: 'none' } as const;

test('the server goes away and comes back on the same port: the connector reconnects with a new Connection', { timeout: 15_000 }, async (t) => {
  const tick = mockClock(t);
  let server = newBackend();
  const listener = await server.createListener({ addr: '127.0.0.1', port: 0 });
  const port = listener.port;
  const client = newBackend();
  const p = client.createConnector({ addr: '127.0.0.1', port, reconnect: NO_JITTER, args: 'bot' });
  const connector = p.connector;
  const first = await p;
  assert.equal(first.connector, connector);
  assert.equal(connector.state, 'open');
  assert.equal(connector.connection, first);
  assert.equal(connector.attempts, 1);

  // The server stops: the client's connection drops, then a retry is announced.
  const dropped = once(client, 'disconnect');
  const retry = once(client, 'connectorRetry');
  await server.shutdown();
  const [gone] = await dropped;
  assert.equal(gone, first);
  const [who, delay, cause] = await retry;
  assert.equal(who, connector);
  assert.equal(delay, 1_000);
  assert.equal((cause as { code?: string }).code, 'ERR_PEER_CLOSED');
  assert.equal(connector.state, 'waiting');
  assert.equal(client.pendingConnectors.get(connector.id), connector);

  // Started again on the same port; the wait ends on the mock clock.
  server = newBackend();
  await server.createListener({ addr: '127.0.0.1', port });
  const reopened = once(client, 'connectorOpen');
  tick(1_000);
  const [second, by] = await reopened;
  assert.equal(by, connector);
  assert.notEqual(second, first);
  assert.notEqual(second.id, first.id);
  assert.equal(second.connector, connector);
  assert.equal(second.args, 'bot');
  assert.equal(connector.connection, second);
  assert.equal(connector.attempts, 2);
  assert.equal(client.pendingConnectors.size, 0);
});

test('a refused first attempt is retried on the backoff schedule; the promise resolves with the first connection', { timeout: 15_000 }, async (t) => {
  const tick = mockClock(t);
  const port = await closedPort();
  const client = newBackend();
  const events = countEvents(client, ['connectorFailure', 'connectorRetry']);
  const p = client.createConnector({ addr: '127.0.0.1', port, reconnect: NO_JITTER });
  const delays: number[] = [];
  client.on('connectorRetry', (_c, delay, cause) => {
    assert.equal((cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    delays.push(delay);
  });
  // Two refusals: 1 s, then 2 s.
  await once(client, 'connectorRetry');
  tick(1_000);
  await once(client, 'connectorRetry');
  assert.deepEqual(delays, [1_000, 2_000]);
  assert.equal(p.connector.state, 'waiting');

  const server = newBackend();
  await server.createListener({ addr: '127.0.0.1', port });
  tick(2_000);
  const conn = await p;
  assert.equal(conn.connector, p.connector);
  assert.equal(p.connector.attempts, 3);
  assert.equal(events.counts.connectorFailure, 2);
  assert.equal(events.counts.connectorRetry, 2);
  events.stop();
});

test('maxAttempts: the connector gives up with the last cause, and the promise rejects with it', { timeout: 15_000 }, async (t) => {
  const tick = mockClock(t);
  const port = await closedPort();
  const client = newBackend();
  const p = client.createConnector({ addr: '127.0.0.1', port, reconnect: { ...NO_JITTER, maxAttempts: 2 } });
  const closed = once(client, 'connectorClosed');
  client.on('connectorRetry', (_c, delay) => {
    setImmediate(() => {
      tick(delay);
    });
  });
  await assert.rejects(p, { code: 'ECONNREFUSED' });
  const [connector, cause] = await closed;
  assert.equal(connector, p.connector);
  assert.equal((cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  assert.equal(connector.state, 'closed');
  assert.equal(connector.attempts, 3, 'the first attempt and two retries');
  assert.equal(client.pendingConnectors.size, 0);
});

async function openReconnecting(): Promise<{ client: Backend; server: Backend; connector: Connector }> {
  const server = newBackend();
  const listener = await server.createListener({ addr: '127.0.0.1', port: 0 });
  const client = newBackend();
  const p = client.createConnector({ addr: '127.0.0.1', port: listener.port, reconnect: NO_JITTER });
  await p;
  return { client, server, connector: p.connector };
}

test('never after connector.close(): the connection is closed as ours, the connector ends, no retry', { timeout: 15_000 }, async (t) => {
  mockClock(t);
  const { client, connector } = await openReconnecting();
  const events = countEvents(client, ['connectorRetry', 'connectorFailure']);
  const closed = once(client, 'connectorClosed');
  const dropped = once(client, 'disconnect');
  connector.close('bye');
  const [conn, reason] = await dropped;
  assert.equal(conn.connector, connector);
  assert.equal(reason, 'bye');
  const [who, cause] = await closed;
  assert.equal(who, connector);
  assert.equal(cause, undefined);
  assert.equal(connector.state, 'closed');
  connector.close();
  assert.equal(events.counts.connectorRetry, 0);
  assert.equal(events.counts.connectorFailure, 0);
  events.stop();
});

test('never after backend.disconnect() or disconnectNow() of its connection', { timeout: 15_000 }, async (t) => {
  mockClock(t);
  for (const how of ['disconnect', 'disconnectNow'] as const) {
    const { client, connector } = await openReconnecting();
    const events = countEvents(client, ['connectorRetry']);
    const closed = once(client, 'connectorClosed');
    client[how](connector.connection as NonNullable<typeof connector.connection>, 'done');
    const [, cause] = await closed;
    assert.equal(cause, undefined, how);
    assert.equal(events.counts.connectorRetry, 0, how);
    events.stop();
  }
});

test('close() while waiting cancels the wait; close() mid-attempt abandons it; the first promise rejects ERR_CONNECTOR_CLOSED', { timeout: 15_000 }, async (t) => {
  mockClock(t);
  const port = await closedPort();
  const client = newBackend();
  const p = client.createConnector({ addr: '127.0.0.1', port, reconnect: NO_JITTER });
  await once(client, 'connectorRetry');
  assert.equal(p.connector.state, 'waiting');
  p.connector.close();
  await assert.rejects(p, { code: 'ERR_CONNECTOR_CLOSED' });
  assert.equal(p.connector.state, 'closed');
  assert.equal(client.pendingConnectors.size, 0);

  // Mid-attempt: a server that never finishes a TLS handshake keeps the attempt in flight.
  const { silent, held, port: silentPort } = await silentServer();
  t.after(() => {
    for (const s of held) s.destroy();
    silent.close();
  });
  const q = client.createConnector({ addr: '127.0.0.1', port: silentPort, tls: { rejectUnauthorized: false }, reconnect: NO_JITTER });
  await once(silent, 'connection');
  assert.equal(q.connector.state, 'connecting');
  const failure = once(client, 'connectorFailure');
  q.connector.close();
  await assert.rejects(q, { code: 'ERR_CONNECTOR_CLOSED' });
  assert.equal(((await failure)[1] as { code?: string }).code, 'ERR_CONNECTOR_CLOSED');
  assert.equal(q.connector.state, 'closed');
  assert.equal(client.pendingConnectors.size, 0);
});

test('shutdown ends reconnecting connectors, open and waiting, and settles', { timeout: 15_000 }, async (t) => {
  mockClock(t);
  const { client, connector } = await openReconnecting();
  const port = await closedPort();
  const waiting = client.createConnector({ addr: '127.0.0.1', port, reconnect: NO_JITTER });
  await once(client, 'connectorRetry');
  const events = countEvents(client, ['connectorRetry']);
  await client.shutdown();
  await assert.rejects(waiting, { code: 'ERR_BACKEND_CLOSED' });
  assert.equal(connector.state, 'closed');
  assert.equal(waiting.connector.state, 'closed');
  assert.equal(events.counts.connectorRetry, 0);
  events.stop();
});

test('retry(): the connection goes after its queue (the QUIT is written), and the connector dials again on its schedule (a ping timeout)', { timeout: 15_000 }, async (t) => {
  const tick = mockClock(t);
  const server = newBackend();
  const listener = await server.createListener({ addr: '127.0.0.1', port: 0 });
  const heard: string[] = [];
  server.on('input', (_c, msg) => heard.push(msg.command));
  const client = newBackend();
  const p = client.createConnector({ addr: '127.0.0.1', port: listener.port, reconnect: NO_JITTER });
  const first = await p;
  const serverSide = once(server, 'disconnect');
  const dropped = once(client, 'disconnect');
  const retry = once(client, 'connectorRetry');
  client.send({ command: 'QUIT', params: ['Ping timeout'] }, first);
  p.connector.retry('Ping timeout');
  const [gone, reason] = await dropped;
  assert.equal(gone, first);
  assert.equal(reason, 'Ping timeout');
  const [, delay, cause] = await retry;
  assert.equal(delay, 1_000);
  assert.equal((cause as { code?: string }).code, 'ERR_CONNECTOR_RETRY');
  await serverSide;
  assert.deepEqual(heard, ['QUIT'], 'the queue went out before the close');
  const reopened = once(client, 'connectorOpen');
  tick(1_000);
  const [second] = await reopened;
  assert.notEqual(second, first);
  assert.equal(p.connector.state, 'open');
  assert.equal(p.connector.attempts, 2);
});

test('retry() while waiting dials at once', { timeout: 15_000 }, async (t) => {
  mockClock(t);
  const port = await closedPort();
  const client = newBackend();
  const p = client.createConnector({ addr: '127.0.0.1', port, reconnect: { ...NO_JITTER, initialDelay: 60_000, maxDelay: 60_000 } });
  await once(client, 'connectorRetry');
  assert.equal(p.connector.state, 'waiting');
  const server = newBackend();
  await server.createListener({ addr: '127.0.0.1', port });
  // No tick: retry() cuts the 60 s wait short.
  p.connector.retry();
  const conn = await p;
  assert.equal(conn.connector, p.connector);
  assert.equal(p.connector.attempts, 2);
});

test('retry() without reconnect dials once more, at once; a drop after that ends it', { timeout: 15_000 }, async () => {
  const server = newBackend();
  const { port } = await server.createListener({ addr: '127.0.0.1', port: 0 });
  const client = newBackend();
  const plain = client.createConnector({ addr: '127.0.0.1', port });
  const once1 = await plain;
  const reopened = once(client, 'connectorOpen');
  plain.connector.retry('again');
  const [again] = await reopened;
  assert.notEqual(again, once1);
  assert.equal(plain.connector.attempts, 2);
  // That was the one extra attempt: a drop now ends it, as without retry().
  // The server's end of it.
  const theirs = [...server.connections.values()].find((c) => c.peerPort === again.sockPort) ??
    (await once(server, 'listenerOpen', { filter: (c) => c.peerPort === again.sockPort }))[0];
  const closed = once(client, 'connectorClosed');
  server.disconnectNow(theirs);
  await closed;
  assert.equal(plain.connector.state, 'closed');
});

test('without reconnect (the default) a dropped connection ends the connector', { timeout: 15_000 }, async () => {
  const server = newBackend();
  const listener = await server.createListener({ addr: '127.0.0.1', port: 0 });
  const client = newBackend();
  const p = client.createConnector({ addr: '127.0.0.1', port: listener.port });
  await p;
  assert.equal(p.connector.reconnects, false);
  const closed = once(client, 'connectorClosed');
  await server.shutdown();
  const [, cause] = await closed;
  assert.equal((cause as { code?: string } | undefined)?.code, 'ERR_PEER_CLOSED');
  assert.equal(p.connector.state, 'closed');
});


test('close() from inside a connectorOpen handler ends the connector without a retry', { timeout: 15_000 }, async (t) => {
  mockClock(t);
  const server = newBackend();
  const listener = await server.createListener({ addr: '127.0.0.1', port: 0 });
  const client = newBackend();
  client.once('connectorOpen', (_conn, connector) => {
    connector.close('changed my mind');
  });
  const events = countEvents(client, ['connectorRetry']);
  const closed = once(client, 'connectorClosed');
  const p = client.createConnector({ addr: '127.0.0.1', port: listener.port, reconnect: NO_JITTER });
  const conn = await p;
  const [, cause] = await closed;
  assert.equal(cause, undefined);
  assert.equal(conn.disconnecting, 'changed my mind');
  assert.equal(events.counts.connectorRetry, 0);
  events.stop();
});

test('a Unix-socket connector reconnects the same way when the server comes back on the same path', { timeout: 15_000 }, async (t) => {
  const tick = mockClock(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'ircsock-reconnect-'));
  t.after(() => { rmSync(dir, { recursive: true, force: true }); });
  const sock = path.join(dir, 'irc.sock');
  let server = newBackend();
  await server.createListener({ path: sock });
  const client = newBackend();
  const p = client.createConnector({ path: sock, reconnect: NO_JITTER });
  const first = await p;
  assert.equal(first.kind, 'unix');
  const retry = once(client, 'connectorRetry');
  await server.shutdown();
  await retry;
  server = newBackend();
  await server.createListener({ path: sock });
  const reopened = once(client, 'connectorOpen');
  tick(1_000);
  const [second] = await reopened;
  assert.equal(second.kind, 'unix');
  assert.equal(second.connector, p.connector);
});

test('a WebSocket connector reconnects the same way', { timeout: 15_000 }, async (t) => {
  const tick = mockClock(t);
  let server = newBackend();
  const listener = await server.createListener({ addr: '127.0.0.1', port: 0, websocket: true });
  const port = listener.port;
  const client = newBackend();
  const p = client.createConnector({ url: `ws://127.0.0.1:${port}/`, reconnect: NO_JITTER });
  const first = await p;
  assert.equal(first.kind, 'ws');
  const retry = once(client, 'connectorRetry');
  await server.shutdown();
  await retry;
  server = newBackend();
  await server.createListener({ addr: '127.0.0.1', port, websocket: true });
  const reopened = once(client, 'connectorOpen');
  tick(1_000);
  const [second] = await reopened;
  assert.equal(second.kind, 'ws');
  assert.equal(second.connector, p.connector);
  assert.equal(p.connector.kind, 'ws');
});

test('full jitter by default: each announced delay lies in [0, cap] and the caps double', { timeout: 15_000 }, async (t) => {
  const tick = mockClock(t);
  const port = await closedPort();
  const client = newBackend();
  const delays: number[] = [];
  client.on('connectorRetry', (_c, delay) => {
    delays.push(delay);
    setImmediate(() => {
      tick(delay);
    });
  });
  const p = client.createConnector({ addr: '127.0.0.1', port, reconnect: { initialDelay: 100, maxDelay: 800, maxAttempts: 6 } });
  await assert.rejects(p, { code: 'ECONNREFUSED' });
  assert.equal(delays.length, 6);
  const caps = [100, 200, 400, 800, 800, 800];
  delays.forEach((d, i) => {
    assert.ok(d >= 0 && d <= (caps[i] as number), `retry ${i + 1}: ${d} outside [0, ${caps[i]}]`);
  });
});

test('an attempt that throws at once (a cipher list TLS refuses) fails like any attempt: the promise rejects, nothing is left pending, nothing is thrown later', { timeout: 15_000 }, async () => {
  const server = newBackend();
  const { port } = await server.createListener({ addr: '127.0.0.1', port: 0 });
  const client = newBackend();
  const closed = once(client, 'connectorClosed');
  const p = client.createConnector({ addr: '127.0.0.1', port, tls: { ciphers: 'no-such-cipher' } });
  await assert.rejects(p, (err: NodeJS.ErrnoException) => typeof err.code === 'string');
  await closed;
  assert.equal(p.connector.state, 'closed');
  assert.equal(client.pendingConnectors.size, 0);
  assert.throws(() => client.createConnector({ addr: '127.0.0.1', port, bindAddr: 'localhost' }), { code: 'ERR_INVALID_OPTION' });
  assert.equal(client.pendingConnectors.size, 0);
});

