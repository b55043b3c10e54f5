/**
 * SOCKS5 through a real proxy (Debian's microsocks on loopback) to ircsock
 * listeners: plain and TLS (verified against the destination's name, which
 * the proxy resolves), with and without a password, and the ways it fails,
 * each by its code.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LookupFunction } from 'node:net';
import { IrcSocksError } from '../../src/errors.js';
import { microsocksSkip, startMicrosocks } from '../helpers/microsocks.js';
import { closedPort, once, silentServer } from '../helpers/net.js';
import { localhostCert, wrongNameCert } from '../helpers/tls-cert.js';
import { trackedBackends } from '../helpers/backends.js';

const newBackend = trackedBackends();
const skip = microsocksSkip;

/** A lookup that fails the test: a SOCKS destination must never be resolved here. */
const noLocalDns: LookupFunction = (hostname: string) => {
  assert.fail(`resolved ${hostname} locally`);
};

test('plain TCP through SOCKS5: lines both ways; the server sees the proxy as the peer', { skip, timeout: 15_000 }, async (t) => {
  const proxy = await startMicrosocks(t);
  const server = newBackend();
  const listener = await server.createListener({ addr: '127.0.0.1', port: 0 });
  const client = newBackend();
  const accepted = once(server, 'listenerOpen');
  const p = client.createConnector({ addr: '127.0.0.1', port: listener.port, socks: { host: '127.0.0.1', port: proxy.port } });
  assert.deepEqual(p.connector.socks, { host: '127.0.0.1', port: proxy.port, version: 5 });
  const conn = await p;
  const [peer] = await accepted;
  assert.equal(conn.peerAddr, '127.0.0.1');
  assert.equal(conn.peerPort, proxy.port, 'our peer is the proxy');
  assert.notEqual(peer.peerPort, conn.sockPort, "the server's peer is the proxy's outgoing socket, not ours");

  const inbound = once(server, 'input');
  client.send({ command: 'NICK', params: ['tunnelled'] }, conn);
  assert.deepEqual((await inbound)[1].params, ['tunnelled']);
  const outbound = once(client, 'input');
  server.send({ command: 'PING', params: ['back'] }, peer);
  assert.equal((await outbound)[1].command, 'PING');
});

test('TLS over SOCKS5 to a host name: the proxy resolves it, the certificate is verified against it', { skip, timeout: 15_000 }, async (t) => {
  const proxy = await startMicrosocks(t);
  const cert = localhostCert();
  // Dual stack: whichever address the proxy picks for localhost, someone answers.
  const server = newBackend({ tls: { key: cert.key, cert: cert.cert } });
  const listener = await server.createListener({ addr: '::', port: 0, tls: true });
  const client = newBackend();
  const conn = await client.createConnector({
    addr: 'localhost',
    port: listener.port,
    tls: { ca: cert.cert },
    lookup: noLocalDns,
    socks: { host: '127.0.0.1', port: proxy.port },
  });
  assert.equal(conn.kind, 'tls');
  assert.ok(conn.tls !== undefined);
  assert.equal(conn.tls.authorized, true);
});

test('TLS over SOCKS5 with the wrong certificate is rejected as on a direct connection', { skip, timeout: 15_000 }, async (t) => {
  const proxy = await startMicrosocks(t);
  const cert = wrongNameCert();
  const server = newBackend({ tls: { key: cert.key, cert: cert.cert } });
  const listener = await server.createListener({ addr: '127.0.0.1', port: 0, tls: true });
  const client = newBackend();
  await assert.rejects(
    client.createConnector({ addr: 'localhost', port: listener.port, tls: { ca: cert.cert }, socks: { host: '127.0.0.1', port: proxy.port } }),
    { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
  );
});

test('SOCKS5 with a user name and password: right ones connect, wrong or missing ones are ERR_SOCKS_AUTH', { skip, timeout: 15_000 }, async (t) => {
  const proxy = await startMicrosocks(t, { user: 'bot', password: 's3cret' });
  const server = newBackend();
  const listener = await server.createListener({ addr: '127.0.0.1', port: 0 });
  const client = newBackend();
  const socks = { host: '127.0.0.1', port: proxy.port };
  const conn = await client.createConnector({ addr: '127.0.0.1', port: listener.port, socks: { ...socks, userId: 'bot', password: 's3cret' } });
  assert.equal(conn.connected, true);
  const wrong = client.createConnector({ addr: '127.0.0.1', port: listener.port, socks: { ...socks, userId: 'bot', password: 'nope' } });
  await assert.rejects(wrong, (err: unknown) => {
    assert.ok(err instanceof IrcSocksError);
    assert.equal(err.code, 'ERR_SOCKS_AUTH');
    assert.doesNotMatch(err.message, /nope/, 'the password is not in the message');
    return true;
  });
  await assert.rejects(client.createConnector({ addr: '127.0.0.1', port: listener.port, socks }), { code: 'ERR_SOCKS_AUTH' });
});

test('a destination that refuses: ERR_SOCKS_REFUSED with the reply name; a reconnecting connector retries it', { skip, timeout: 15_000 }, async (t) => {
  const proxy = await startMicrosocks(t);
  const port = await closedPort();
  const client = newBackend();
  const failure = once(client, 'connectorFailure');
  await assert.rejects(client.createConnector({ addr: '127.0.0.1', port, socks: { host: '127.0.0.1', port: proxy.port } }), (err: unknown) => {
    assert.ok(err instanceof IrcSocksError);
    assert.equal(err.code, 'ERR_SOCKS_REFUSED');
    assert.equal(err.reply, 'ConnectionRefused');
    return true;
  });
  assert.equal(((await failure)[1] as { code?: string }).code, 'ERR_SOCKS_REFUSED');

  const r = client.createConnector({ addr: '127.0.0.1', port, socks: { host: '127.0.0.1', port: proxy.port }, reconnect: { initialDelay: 10_000, jitter: 'none' } });
  const [, , cause] = await once(client, 'connectorRetry');
  assert.equal((cause as { code?: string }).code, 'ERR_SOCKS_REFUSED');
  r.connector.close();
  await assert.rejects(r, { code: 'ERR_CONNECTOR_CLOSED' });
});

test('a destination name the proxy cannot resolve: ERR_SOCKS_UNREACHABLE or ERR_SOCKS_REFUSED, never a local lookup', { skip, timeout: 15_000 }, async (t) => {
  const proxy = await startMicrosocks(t);
  const client = newBackend();
  await assert.rejects(
    client.createConnector({ addr: 'no-such-host.invalid', port: 6667, lookup: noLocalDns, socks: { host: '127.0.0.1', port: proxy.port } }),
    (err: unknown) => {
      assert.ok(err instanceof IrcSocksError);
      assert.ok(['ERR_SOCKS_UNREACHABLE', 'ERR_SOCKS_REFUSED'].includes(err.code), err.code);
      return true;
    },
  );
});

test('the proxy itself not listening keeps Node\'s ECONNREFUSED', { timeout: 15_000 }, async () => {
  const port = await closedPort();
  const client = newBackend();
  await assert.rejects(client.createConnector({ addr: 'irc.example.net', port: 6697, socks: { host: '127.0.0.1', port } }), { code: 'ECONNREFUSED' });
});

test('socks options are checked at the call', () => {
  const client = newBackend();
  const bad: unknown[] = [
    { host: '', port: 1080 },
    { host: 'p', port: 0 },
    { host: 'p', port: 1080, version: 6 },
    { host: 'p', port: 1080, version: 4, userId: 'u', password: 'x' },
    { host: 'p', port: 1080, password: 'x' },
    'p:1080',
  ];
  for (const socks of bad) {
    assert.throws(() => client.createConnector({ addr: 'x', port: 1, socks: socks as { host: string; port: number } }), { code: 'ERR_INVALID_OPTION' }, JSON.stringify(socks));
  }
  assert.throws(() => client.createConnector({ addr: 'x', port: 1, socks: { host: 'p', port: 1, user: 'u' } as never }), { code: 'ERR_UNKNOWN_OPTION' });
  assert.throws(() => client.createConnector({ url: 'ws://x/', socks: { host: 'p', port: 1 } }), { code: 'ERR_INVALID_OPTION' });
});

test('a proxy that accepts and never answers: ERR_SOCKS_TIMEOUT after socks.timeout', { timeout: 15_000 }, async (t) => {
  const { silent, held, port } = await silentServer();
  t.after(() => {
    for (const s of held) s.destroy();
    silent.close();
  });
  const client = newBackend();
  await assert.rejects(client.createConnector({ addr: 'irc.example.net', port: 6667, socks: { host: '127.0.0.1', port, timeout: 100 } }), {
    code: 'ERR_SOCKS_TIMEOUT',
  });
});

test('a "proxy" that is not one (an IRC server): ERR_SOCKS_PROTOCOL', { timeout: 15_000 }, async () => {
  const server = newBackend();
  server.on('listenerOpen', (conn) => {
    server.sendLine(':irc.test NOTICE * :*** Looking up your hostname...', conn);
  });
  const listener = await server.createListener({ addr: '127.0.0.1', port: 0 });
  const client = newBackend();
  await assert.rejects(client.createConnector({ addr: 'irc.example.net', port: 6667, socks: { host: '127.0.0.1', port: listener.port } }), {
    code: 'ERR_SOCKS_PROTOCOL',
  });
});
