/**
 * Pinned peers: a connector with `tls: { fingerprint }` accepts a self-signed
 * certificate when, and only when, it matches; anything else fails with
 * ERR_TLS_FINGERPRINT naming both fingerprints.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { IrcTlsError } from '../../src/errors.js';
import { trackedBackends } from '../helpers/backends.js';
import { once } from '../helpers/net.js';
import { makeCertIn, opensslFingerprint, tempDir, wrongNameCert } from '../helpers/tls-cert.js';

const newBackend = trackedBackends();
const dir = tempDir('pin');
// A self-signed certificate for a name that is not the one dialled: no CA and no host name would accept it.
const peer = wrongNameCert();
const stranger = makeCertIn(dir, 'stranger', 'stranger.example');
const sha256 = opensslFingerprint(peer.certPath, 'sha256');
const sha512 = opensslFingerprint(peer.certPath, 'sha512');

after(() => {
  peer.cleanup();
});

function colons(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? []).join(':');
}

async function serverWith(cert: { key: string; cert: string }): Promise<{ port: number; backend: ReturnType<typeof newBackend> }> {
  const backend = newBackend({ tls: { key: cert.key, cert: cert.cert } });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  return { port: listener.port, backend };
}

test('a self-signed peer matching the pin is accepted (sha256 with colons and upper case, sha512, one of a list)', async () => {
  const { port, backend } = await serverWith(peer);
  for (const fingerprint of [`sha256:${colons(sha256)}`, `SHA512:${sha512}`, [`sha256:${'00'.repeat(32)}`, sha256]]) {
    const opened = once(backend, 'listenerOpen');
    const conn = await backend.createConnector({ addr: '127.0.0.1', port, tls: { fingerprint } });
    await opened;
    assert.equal(conn.tls?.fingerprint, sha256);
    const input = once(backend, 'input');
    backend.send({ command: 'PING', params: ['pinned'] }, conn);
    assert.deepEqual((await input)[1].params, ['pinned']);
    backend.disconnectNow(conn);
  }
});

test('another certificate is refused with ERR_TLS_FINGERPRINT naming the expected and the actual fingerprint', async () => {
  const { port, backend } = await serverWith(stranger);
  const actual = opensslFingerprint(stranger.certPath, 'sha256');
  const failure = once(backend, 'connectorFailure');
  const err: unknown = await backend.createConnector({ addr: '127.0.0.1', port, tls: { fingerprint: `sha256:${sha256}` } }).then(
    () => assert.fail('connected to the wrong peer'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof IrcTlsError);
  assert.equal(err.code, 'ERR_TLS_FINGERPRINT');
  assert.deepEqual(err.expected, [`sha256:${sha256}`]);
  assert.equal(err.actual, `sha256:${actual}`);
  assert.ok(err.message.includes(sha256) && err.message.includes(actual), err.message);
  assert.equal((await failure)[1], err);
  assert.equal(backend.connections.size, 0, 'nothing was opened on the client side');
});

test('without a pin the same self-signed peer is refused by Node as before; a malformed pin throws at once', async () => {
  const { port, backend } = await serverWith(peer);
  await assert.rejects(backend.createConnector({ addr: '127.0.0.1', port, tls: true }), (e: NodeJS.ErrnoException) => e.code !== 'ERR_TLS_FINGERPRINT');
  assert.throws(() => backend.createConnector({ addr: '127.0.0.1', port, tls: { fingerprint: 'sha256:abc' } }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => backend.createConnector({ addr: '127.0.0.1', port, tls: { fingerprint: [] } }), { code: 'ERR_TLS_CONFIG' });
});
