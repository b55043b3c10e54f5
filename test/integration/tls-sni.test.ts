/**
 * TLS contexts as objects: SNI chooses the certificate (exact, wildcard,
 * default), the facts a connection carries (CertFP checked against openssl,
 * subject, issuer, server name, ALPN), client-certificate modes and the
 * minimum version.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import type { Backend } from '../../src/backend.js';
import { trackedBackends } from '../helpers/backends.js';
import { once } from '../helpers/net.js';
import { clientCert, localhostCert, makeCertIn, opensslFingerprint, tempDir } from '../helpers/tls-cert.js';

const newBackend = trackedBackends();
const dir = tempDir('sni');
const def = localhostCert();
const exact = makeCertIn(dir, 'exact', 'irc.example.net');
const wild = makeCertIn(dir, 'wild', '*.example.net');
const other = makeCertIn(dir, 'other', 'irc.example.org');
const mine = clientCert();

after(() => {
  def.cleanup();
  mine.cleanup();
});

/** The fingerprint (CertFP form) of the certificate a raw client is served for `servername`. */
async function served(port: number, servername: string | undefined, extra: tls.ConnectionOptions = {}): Promise<{ fp: string; socket: tls.TLSSocket }> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }), ...extra });
  await once(socket, 'secureConnect');
  const raw = socket.getPeerX509Certificate()?.raw;
  assert.ok(raw !== undefined);
  return { fp: (await import('node:crypto')).createHash('sha256').update(raw).digest('hex'), socket };
}

function sniBackend(): Backend {
  return newBackend({
    tls: {
      key: def.keyPath,
      cert: def.certPath,
      sni: {
        'irc.example.net': { key: exact.keyPath, cert: exact.certPath },
        '*.example.net': { key: wild.key, cert: wild.cert },
        'irc.example.org': { key: Buffer.from(other.key), cert: Buffer.from(other.cert) },
      },
    },
  });
}

test('SNI picks the certificate for each name: exact, wildcard, default for unknown names and for none', async () => {
  const backend = sniBackend();
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  const want = {
    exact: opensslFingerprint(exact.certPath, 'sha256'),
    wild: opensslFingerprint(wild.certPath, 'sha256'),
    other: opensslFingerprint(other.certPath, 'sha256'),
    def: opensslFingerprint(def.certPath, 'sha256'),
  };
  const cases: [string | undefined, string][] = [
    ['irc.example.net', want.exact],
    ['IRC.Example.Net', want.exact],
    ['chat.example.net', want.wild],
    ['irc.example.org', want.other],
    ['a.chat.example.net', want.def],
    ['example.net', want.def],
    ['localhost', want.def],
    [undefined, want.def],
  ];
  for (const [name, fp] of cases) {
    const opened = name === undefined ? undefined : once(backend, 'listenerOpen');
    const { fp: got, socket } = await served(listener.port, name);
    assert.equal(got, fp, `served for ${String(name)}`);
    if (opened !== undefined) {
      const [conn] = await opened;
      assert.equal(conn.tls?.servername, name, 'the server side knows the name asked for');
    }
    socket.destroy();
  }
  assert.deepEqual(
    listener.tlsCertificates.map((c) => [c.name, c.sha256]),
    [['', want.def], ['irc.example.net', want.exact], ['*.example.net', want.wild], ['irc.example.org', want.other]],
  );
});

test('CertFP: SHA-256 and SHA-512 as openssl x509 -fingerprint prints them (lower case, no colons), subject, issuer, ALPN', async () => {
  const backend = newBackend({ tls: { key: def.key, cert: def.cert, ALPNProtocols: ['irc'] } });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  const opened = once(backend, 'listenerOpen');
  const client = await backend.createConnector({
    addr: 'localhost',
    port: listener.port,
    tls: { ca: def.cert, cert: mine.cert, key: mine.key, ALPNProtocols: ['irc'] },
  });
  const [server] = await opened;
  assert.equal(server.tls?.fingerprint, opensslFingerprint(mine.certPath, 'sha256'));
  assert.equal(server.tls.fingerprint512, opensslFingerprint(mine.certPath, 'sha512'));
  assert.equal(server.tls.subject, 'CN=client.test');
  assert.equal(server.tls.issuer, 'CN=client.test');
  assert.equal(server.tls.authorized, false, 'self-signed, and no ca configured for clients');
  assert.equal(server.tls.alpn, 'irc');
  assert.equal(server.tls.servername, 'localhost');
  assert.equal(client.tls?.fingerprint, opensslFingerprint(def.certPath, 'sha256'));
  assert.equal(client.tls.subject, 'CN=localhost');
  assert.equal(client.tls.authorized, true);
});

test("client certificates: verified against the listener's ca without being required", async () => {
  const backend = newBackend({ tls: { key: def.key, cert: def.cert } });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: { ca: mine.cert } });
  let opened = once(backend, 'listenerOpen');
  await backend.createConnector({ addr: 'localhost', port: listener.port, tls: { ca: def.cert, cert: mine.cert, key: mine.key } });
  assert.equal((await opened)[0].tls?.authorized, true, 'chains to the configured ca');
  opened = once(backend, 'listenerOpen');
  await backend.createConnector({ addr: 'localhost', port: listener.port, tls: { ca: def.cert, cert: exact.cert, key: exact.key } });
  assert.equal((await opened)[0].tls?.authorized, false, 'another certificate: admitted, not verified');
  opened = once(backend, 'listenerOpen');
  await backend.createConnector({ addr: 'localhost', port: listener.port, tls: { ca: def.cert } });
  assert.equal((await opened)[0].tls?.fingerprint, undefined, 'none at all: admitted');
});

test("clientCert 'require' refuses a peer without a certificate; 'verify' fails the handshake of an unverified one", async () => {
  const backend = newBackend({ tls: { key: def.key, cert: def.cert } });
  const requiring = await backend.createListener({ addr: '127.0.0.1', tls: { clientCert: 'require' } });
  const refused = once(backend, 'connectionRefused');
  const bare = tls.connect({ host: '127.0.0.1', port: requiring.port, rejectUnauthorized: false });
  bare.on('error', () => undefined);
  const [refusal] = await refused;
  assert.equal(refusal.code, 'ERR_TLS_CLIENT_CERT');
  bare.destroy();
  let opened = once(backend, 'listenerOpen');
  await backend.createConnector({ addr: 'localhost', port: requiring.port, tls: { ca: def.cert, cert: exact.cert, key: exact.key } });
  assert.equal((await opened)[0].tls?.fingerprint, opensslFingerprint(exact.certPath, 'sha256'), 'any certificate will do');

  const verifying = await backend.createListener({ addr: '127.0.0.1', tls: { clientCert: 'verify', ca: mine.cert } });
  const failed = once(backend, 'tlsClientError');
  // In TLS 1.3 the client has finished before the server judges its certificate: the raw client sees a close.
  const unverified = tls.connect({ host: '127.0.0.1', port: verifying.port, servername: 'localhost', ca: def.cert, cert: exact.cert, key: exact.key });
  unverified.on('error', () => undefined);
  const closed = once(unverified, 'close');
  await failed;
  await closed;
  assert.equal(backend.connections.size, 2, 'no connection for it');
  opened = once(backend, 'listenerOpen');
  await backend.createConnector({ addr: 'localhost', port: verifying.port, tls: { ca: def.cert, cert: mine.cert, key: mine.key } });
  assert.equal((await opened)[0].tls?.authorized, true);
});

test('the minimum version: TLS 1.2 clients are served by default, refused by a minVersion TLSv1.3 listener', async () => {
  const backend = newBackend({ tls: { key: def.key, cert: def.cert } });
  const plain = await backend.createListener({ addr: '127.0.0.1', tls: true });
  const strict = await backend.createListener({ addr: '127.0.0.1', tls: { minVersion: 'TLSv1.3' } });
  const ok = await served(plain.port, undefined, { maxVersion: 'TLSv1.2' });
  assert.equal(ok.socket.getProtocol(), 'TLSv1.2');
  ok.socket.destroy();
  const failed = once(backend, 'tlsClientError');
  const socket = tls.connect({ host: '127.0.0.1', port: strict.port, rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
  const [err] = await once(socket, 'error');
  assert.ok(err instanceof Error);
  await failed;
});
