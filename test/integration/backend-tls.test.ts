/**
 * TLS listeners and connectors with throwaway certificates: verification on by
 * default, its opt-out, client certificates (CertFP), configuration errors,
 * and a plain-text peer on a TLS port.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Backend } from '../../src/backend.js';
import type { Connection } from '../../src/connection/connection.js';
import { clientCert, localhostCert, wrongNameCert } from '../helpers/tls-cert.js';
import { countEvents, LineClient, once } from '../helpers/net.js';

const good = localhostCert();
const wrong = wrongNameCert();
const mine = clientCert();

after(() => {
  good.cleanup();
  wrong.cleanup();
  mine.cleanup();
});

/** Opens a TLS listener and connects to it; resolves with both ends. */
async function pair(
  backend: Backend,
  connectTls: Parameters<Backend['createConnector']>[0]['tls'],
  addr = '127.0.0.1',
): Promise<{ client: Connection; server: Connection }> {
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  assert.equal(listener.tls, true);
  const opened = once(backend, 'listenerOpen');
  const client = await backend.createConnector({ addr, port: listener.port, tls: connectTls, timeout: 3_000 });
  const [server] = await opened;
  return { client, server };
}

async function roundTrip(backend: Backend, from: Connection, to: Connection): Promise<void> {
  const input = once(backend, 'input');
  assert.equal(backend.send({ command: 'PRIVMSG', params: ['#tls', 'secret words'] }, from), 1);
  const [at, msg] = await input;
  assert.equal(at, to);
  assert.deepEqual(msg.params, ['#tls', 'secret words']);
}

for (const form of ['PEM text', 'file paths'] as const) {
  test(`backend key/cert as ${form}: a connector with tls { ca } verifies and connects`, async () => {
    const backend = new Backend({
      tls: form === 'PEM text' ? { key: good.key, cert: good.cert } : { key: good.keyPath, cert: good.certPath },
    });
    const { client, server } = await pair(backend, { ca: form === 'PEM text' ? good.cert : good.certPath });
    for (const c of [client, server]) {
      assert.ok(c.tls !== undefined, 'TLS facts on a secure connection');
      assert.match(c.tls.protocol ?? '', /^TLSv1\.[23]$/);
      assert.equal(typeof c.tls.cipher, 'string');
      assert.notEqual(c.tls.cipher, '');
    }
    assert.equal(client.tls?.authorized, true);
    assert.equal(server.tls?.fingerprint, undefined, 'no client certificate, no fingerprint');
    assert.match(client.tls.fingerprint ?? '', /^[0-9a-f]{64}$/, "the server certificate's SHA-256");
    await roundTrip(backend, client, server);
    await roundTrip(backend, server, client);
    await backend.shutdown();
    assert.equal(backend.connections.size, 0);
  });
}

test('host names: localhost is verified by name (SNI), ::1 and 127.0.0.1 by IP SAN', async () => {
  const backend = new Backend({ tls: { key: good.key, cert: good.cert } });
  const { client, server } = await pair(backend, { ca: good.cert }, 'localhost');
  assert.equal(client.tls?.authorized, true);
  await roundTrip(backend, client, server);
  await backend.shutdown();
});

test('a client certificate gives the server side its SHA-256 fingerprint (CertFP)', async () => {
  const backend = new Backend({ tls: { key: good.key, cert: good.cert } });
  const { client, server } = await pair(backend, { ca: good.cert, key: mine.key, cert: mine.certPath });
  assert.match(server.tls?.fingerprint ?? '', /^[0-9a-f]{64}$/);
  // Self-signed and not in any CA list: presented, fingerprinted, not authorized.
  assert.equal(server.tls?.authorized, false);
  assert.notEqual(server.tls.fingerprint, client.tls?.fingerprint);
  await roundTrip(backend, client, server);
  await backend.shutdown();
});

test("a listener's own tls options override the backend's context", async () => {
  const backend = new Backend({ tls: { key: wrong.key, cert: wrong.cert } });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: { key: good.keyPath, cert: good.certPath } });
  const client = await backend.createConnector({ addr: 'localhost', port: listener.port, tls: { ca: good.cert } });
  assert.equal(client.tls?.authorized, true);
  await backend.shutdown();
});

test('a certificate for the wrong name is rejected by default and accepted with rejectUnauthorized: false', async () => {
  const backend = new Backend({ tls: { key: wrong.key, cert: wrong.cert } });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  const failure = once(backend, 'connectorFailure');
  await assert.rejects(backend.createConnector({ addr: 'localhost', port: listener.port, tls: { ca: wrong.cert } }), {
    code: 'ERR_TLS_CERT_ALTNAME_INVALID',
  });
  const [connector, err] = await failure;
  assert.equal((err as NodeJS.ErrnoException).code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  assert.equal(connector.addr, 'localhost');
  assert.equal(connector.tls, true);
  assert.equal(backend.pendingConnectors.size, 0);
  assert.equal([...backend.connections.values()].filter((c) => c.origin === 'connector').length, 0);

  const client = await backend.createConnector({ addr: 'localhost', port: listener.port, tls: { rejectUnauthorized: false } });
  assert.equal(client.tls?.authorized, false);
  await backend.shutdown();
});

test('a self-signed certificate without ca is rejected', async () => {
  const backend = new Backend({ tls: { key: good.key, cert: good.cert } });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  const failures = countEvents(backend, ['connectorFailure']);
  await assert.rejects(backend.createConnector({ addr: 'localhost', port: listener.port, tls: true }), {
    code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
  });
  assert.equal(failures.counts.connectorFailure, 1);
  await backend.shutdown();
});

test('a TLS listener with no key/cert throws ERR_TLS_CONFIG up front; a missing file too', async () => {
  const backend = new Backend();
  assert.throws(() => backend.createListener({ addr: '127.0.0.1', tls: true }), { code: 'ERR_TLS_CONFIG' });
  assert.throws(() => new Backend({ tls: { key: '/nonexistent/key.pem', cert: good.certPath } }), { code: 'ERR_TLS_CONFIG' });
  assert.throws(() => backend.createConnector({ addr: '127.0.0.1', port: 1, tls: { ca: '/nonexistent/ca.pem' } }), {
    code: 'ERR_TLS_CONFIG',
  });
  assert.equal(backend.activeListeners.size, 0);
  assert.equal(backend.pendingConnectors.size, 0);
  await backend.shutdown();
});

test('plain text to a TLS port: tlsClientError, no connection, the listener keeps serving', async () => {
  const backend = new Backend({ tls: { key: good.key, cert: good.cert } });
  const { counts } = countEvents(backend, ['listenerOpen', 'disconnect', 'tlsClientError']);
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  const tlsError = once(backend, 'tlsClientError');
  const plain = await LineClient.connect(listener.port);
  plain.write('NICK plain', 'USER plain 0 * :Plain');
  const [l, err, peer] = await tlsError;
  assert.equal(l, listener);
  assert.equal(typeof (err as NodeJS.ErrnoException).code, 'string');
  assert.equal(peer.addr, '127.0.0.1');
  assert.equal(peer.port, plain.socket.localPort);
  await plain.waitClosed();
  assert.equal(backend.connections.size, 0);

  const opened = once(backend, 'listenerOpen');
  const client = await backend.createConnector({ addr: 'localhost', port: listener.port, tls: { ca: good.cert } });
  await opened;
  assert.equal(client.connected, true);
  await backend.shutdown();
  assert.deepEqual(counts, { listenerOpen: 1, disconnect: 2, tlsClientError: 1 });
});

test('shutdown does not wait for a peer that never starts its TLS handshake', async () => {
  const backend = new Backend({ tls: { key: good.key, cert: good.cert } });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  const { counts } = countEvents(backend, ['tlsClientError', 'disconnect']);
  const silent = await LineClient.connect(listener.port);
  // A full connection after it, so the server has surely taken the silent socket in.
  const opened = once(backend, 'listenerOpen');
  const client = await backend.createConnector({ addr: 'localhost', port: listener.port, tls: { ca: good.cert } });
  await opened;
  assert.equal(client.connected, true);
  const started = Date.now();
  await backend.shutdown();
  // The handshake timeout is seconds; shutdown must not wait for it.
  assert.ok(Date.now() - started < 2_000, 'shutdown resolved without waiting for the handshake timeout');
  await silent.waitClosed();
  assert.deepEqual(counts, { tlsClientError: 0, disconnect: 2 });
});

test('a client that hangs up mid-handshake is reported with its address', async () => {
  const backend = new Backend({ tls: { key: good.key, cert: good.cert } });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  const failed = once(backend, 'tlsClientError');
  // No CA given: the client rejects the self-signed certificate and hangs up.
  const client = (await import('node:tls')).connect({ host: '127.0.0.1', port: listener.port, servername: 'localhost' });
  client.on('error', () => {
    // Expected: the certificate is not trusted.
  });
  const [, , peer] = await failed;
  assert.equal(peer.addr, '127.0.0.1');
  assert.equal(typeof peer.port, 'number');
  assert.notEqual(peer.port, 0);
  client.destroy();
  await backend.shutdown();
});
