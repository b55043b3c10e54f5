/**
 * What goes wrong: refused, unknown host, timed out, address in use, wrong
 * options, sends to nobody, unsafe messages. Each failure is checked by its
 * `code`, on the event and on the promise, and the backend keeps serving.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backend } from '../../src/backend.js';
import type { IrcsockError } from '../../src/errors.js';
import { closedPort, countEvents, LineClient, once, silentServer } from '../helpers/net.js';

/** The fields a failed connect or bind carries. */
function errno(err: unknown): NodeJS.ErrnoException {
  assert.ok(err instanceof Error);
  return err;
}

function codeOf(err: unknown): unknown {
  return err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
}

test('ECONNREFUSED: connectorFailure and a rejected promise with code, syscall and errno', async () => {
  const backend = new Backend();
  const port = await closedPort();
  const failure = once(backend, 'connectorFailure');
  const p = backend.createConnector({ addr: '127.0.0.1', port, args: 'x' });
  assert.equal(backend.pendingConnectors.size, 1);
  const [connector] = [...backend.pendingConnectors.values()];
  assert.equal(connector?.addr, '127.0.0.1');
  assert.equal(connector.port, port);
  assert.equal(connector.args, 'x');
  await assert.rejects(p, { code: 'ECONNREFUSED', syscall: 'connect' });
  const [failed, err] = await failure;
  assert.equal(failed, connector);
  const e = errno(err);
  assert.equal(e.code, 'ECONNREFUSED');
  assert.equal(e.syscall, 'connect');
  assert.equal(typeof e.errno, 'number');
  assert.equal(backend.pendingConnectors.size, 0);
  assert.equal(backend.connections.size, 0);
  await backend.shutdown();
});

test('ENOTFOUND: a host name that does not resolve', async () => {
  const backend = new Backend();
  const failure = once(backend, 'connectorFailure');
  const err = await backend.createConnector({ addr: 'nonexistent.invalid', port: 6667, timeout: 4_000 }).then(
    () => assert.fail('connected to nonexistent.invalid'),
    (e: unknown) => errno(e),
  );
  // No DNS in some sandboxes: a temporary failure is the same outcome.
  assert.ok(['ENOTFOUND', 'EAI_AGAIN'].includes(err.code ?? ''), `code ${String(err.code)}`);
  assert.equal((await failure)[1], err);
  assert.equal(backend.pendingConnectors.size, 0);
  await backend.shutdown();
});

test('connect timeout: a TLS connector to a plain server that never answers the handshake', async () => {
  // The TCP connection is made at once; the TLS handshake never completes.
  const { silent, held, port } = await silentServer();

  const backend = new Backend();
  const failure = once(backend, 'connectorFailure');
  await assert.rejects(backend.createConnector({ addr: '127.0.0.1', port, tls: true, timeout: 150 }), (err: IrcsockError) => {
    assert.equal(err.code, 'ERR_CONNECT_TIMEOUT');
    assert.equal((err as IrcsockError & { timeout: number }).timeout, 150);
    return true;
  });
  const [, err] = await failure;
  assert.equal(codeOf(err), 'ERR_CONNECT_TIMEOUT');
  assert.equal(backend.pendingConnectors.size, 0);
  assert.equal(backend.connections.size, 0);
  await backend.shutdown();

  // Our side closed the socket: the silent server sees it go.
  const first = held[0];
  assert.ok(first !== undefined);
  if (!first.closed) await once(first, 'close');
  silent.close();
  await once(silent, 'close');
});

test('shutdown abandons a pending connector: it fails with ERR_BACKEND_CLOSED', async () => {
  const { silent, held, port } = await silentServer();

  const backend = new Backend();
  const p = backend.createConnector({ addr: '127.0.0.1', port, tls: true, timeout: 10_000 });
  const accepted = once(silent, 'connection');
  await accepted;
  const failure = once(backend, 'connectorFailure');
  await backend.shutdown();
  await assert.rejects(p, { code: 'ERR_BACKEND_CLOSED' });
  assert.equal(codeOf((await failure)[1]), 'ERR_BACKEND_CLOSED');
  assert.equal(backend.pendingConnectors.size, 0);
  for (const s of held) s.destroy();
  silent.close();
  await once(silent, 'close');
});

test('EADDRINUSE: listenerFailure with code/syscall/errno, a rejected promise, the first listener keeps serving', async () => {
  const backend = new Backend();
  const { counts } = countEvents(backend, ['listenerCreated', 'listenerFailure', 'listenerOpen']);
  const first = await backend.createListener({ addr: '127.0.0.1' });
  const failure = once(backend, 'listenerFailure');
  const second = backend.createListener({ addr: '127.0.0.1', port: first.port });
  await assert.rejects(second, { code: 'EADDRINUSE', syscall: 'listen' });
  const [failed, err] = await failure;
  assert.notEqual(failed, first);
  assert.equal(failed.port, first.port);
  assert.equal(err.code, 'EADDRINUSE');
  assert.equal(err.syscall, 'listen');
  assert.equal(typeof err.errno, 'number');
  assert.deepEqual([...backend.activeListeners.values()], [first]);

  const opened = once(backend, 'listenerOpen');
  const peer = await LineClient.connect(first.port);
  const [conn, via] = await opened;
  assert.equal(via, first);
  const input = once(backend, 'input');
  peer.write('PING still-here');
  assert.equal((await input)[0], conn);

  await backend.shutdown();
  await peer.waitClosed();
  assert.deepEqual(counts, { listenerCreated: 1, listenerFailure: 1, listenerOpen: 1 });
});

test('unknown option names throw ERR_UNKNOWN_OPTION at once, naming the fix', async () => {
  const backend = new Backend();
  // The seed's own names, and a misspelling. (The right name is an identifier in
  // the message: checked as such, not the wording around it.)
  const cases: [() => unknown, RegExp][] = [
    [() => new Backend({ ssl_opts: ['k', 'c'] } as never), /\btls\b/],
    [() => new Backend({ filter_irc: {} } as never), /\bcolonify\b/],
    [() => backend.createListener({ bindaddr: '127.0.0.1' } as never), /\baddr\b/],
    [() => backend.createListener({ addr: '127.0.0.1', ssl: true } as never), /\btls\b/],
    [() => backend.createListener({ addr: '127.0.0.1', tag: 'x' } as never), /\bargs\b/],
    [() => backend.createConnector({ remoteaddr: '127.0.0.1', port: 1 } as never), /\baddr\b/],
    [() => backend.createConnector({ addr: '127.0.0.1', remoteport: 1 } as never), /\bport\b/],
    [() => backend.createConnector({ addr: '127.0.0.1', port: 1, bindaddr: '127.0.0.1' } as never), /\bbindAddr\b/],
    [() => backend.createConnector({ addr: '127.0.0.1', port: 1, localAddress: '127.0.0.1' } as never), /\bbindAddr\b/],
    [() => backend.createListener({ addr: '127.0.0.1', limits: { sendq: 1 } } as never), /\bsendQ\b/],
  ];
  for (const [fn, fix] of cases) {
    assert.throws(fn, (err: IrcsockError) => {
      assert.equal(err.code, 'ERR_UNKNOWN_OPTION');
      assert.match(err.message, fix);
      return true;
    });
  }
  // Wrong values are refused up front too.
  assert.throws(() => backend.createListener({ port: 70_000 }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => backend.createListener({ idle: -1 }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => backend.createConnector({ addr: '', port: 1 }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => backend.createConnector({ addr: '127.0.0.1', port: 0 }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => backend.createConnector({ addr: '127.0.0.1', port: 1, timeout: 0 }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => new Backend({ limits: { sendQ: -5 } }), { code: 'ERR_INVALID_OPTION' });
  assert.equal(backend.activeListeners.size, 0);
  assert.equal(backend.pendingConnectors.size, 0);
  await backend.shutdown();
});

test('send to unknown ids and to closed connections is dropped silently and returns 0', async () => {
  const backend = new Backend();
  const listener = await backend.createListener({ addr: '127.0.0.1' });
  const opened = once(backend, 'listenerOpen');
  const peer = await LineClient.connect(listener.port);
  const [conn] = await opened;

  const ping = { command: 'PING', params: ['x'] };
  assert.equal(backend.send(ping), 0, 'no targets');
  assert.equal(backend.send(ping, 9999), 0);
  assert.equal(backend.send(ping, 9999, conn.id, 12345), 1, 'only the live one counts');
  assert.deepEqual(await peer.waitLines(1), ['PING x']);
  assert.equal(backend.disconnect(9999), false);
  assert.equal(backend.disconnectNow(9999), false);

  const gone = once(backend, 'disconnect');
  backend.disconnectNow(conn, 'bye');
  const [c, reason] = await gone;
  assert.equal(c, conn);
  assert.equal(reason, 'bye');
  assert.equal(conn.connected, false);
  assert.equal(backend.send(ping, conn), 0, 'closed connection object');
  assert.equal(backend.send(ping, conn.id), 0, 'closed connection id');
  assert.equal(backend.sendLine('PING y', conn), 0);
  assert.equal(backend.disconnect(conn), false);
  await peer.waitClosed();
  await backend.shutdown();
});

test('send of an unsafe message throws ERR_IRC_FORMAT and writes nothing', async () => {
  const backend = new Backend();
  const listener = await backend.createListener({ addr: '127.0.0.1' });
  const opened = once(backend, 'listenerOpen');
  const peer = await LineClient.connect(listener.port);
  const [conn] = await opened;

  const unsafe = [
    { command: 'PRIVMSG', params: ['#c', 'hi\r\nQUIT :injected'] },
    { command: 'PRIVMSG', params: ['#c', 'nul\0'] },
    { command: 'PRIVMSG', params: ['#a b', 'x'] },
    { command: 'PRIVMSG', params: ['', 'x'] },
    { command: 'PRIVMSG', params: [':x', 'x'] },
    { command: '' },
    { command: 'PRIV MSG' },
    { source: 'a b', command: 'PING' },
    { tags: { 'a b': '1' }, command: 'PING' },
  ];
  for (const msg of unsafe) {
    assert.throws(() => backend.send(msg, conn), { code: 'ERR_IRC_FORMAT' }, JSON.stringify(msg));
  }
  backend.send({ command: 'PING', params: ['after'] }, conn);
  assert.deepEqual(await peer.waitLines(1), ['PING after']);
  assert.equal(conn.linesOut, 1);
  assert.equal(conn.connected, true);
  await backend.shutdown();
  await peer.waitClosed();
  assert.deepEqual(peer.lines, ['PING after']);
});
