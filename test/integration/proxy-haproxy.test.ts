/**
 * PROXY protocol listeners behind a real haproxy: v1 (`send-proxy`), v2
 * (`send-proxy-v2`), v2 with haproxy terminating TLS and passing the client
 * certificate's CN (`send-proxy-v2-ssl-cn`), v2 in front of an ircsock TLS
 * listener (TLS end to end through haproxy), and a proxy outside the trusted
 * sources. Every client connects to haproxy from 127.0.0.2, so the address in
 * the header (the client) differs from the socket's peer (haproxy, 127.0.0.1).
 *
 * Skips when haproxy is not installed (`apt-get install haproxy`) or
 * 127.0.0.2 cannot be bound.
 */
import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { Backend, type Connection, type Listener, type ListenerOptions } from '../../src/index.js';
import { clientCert, localhostCert } from '../helpers/tls-cert.js';
import { countEvents, DEFAULT_WAIT, LineClient, once } from '../helpers/net.js';
import { CLIENT_ADDR, haproxySkip, haproxyVersion, startHaproxy, type Haproxy, type Route } from '../helpers/haproxy.js';

const skip = (await haproxySkip()) ?? false;

const good = localhostCert();
const mine = clientCert();
/** The CN of the client certificate, as haproxy reads it. */
const CLIENT_CN = /(?:^|\n)CN=([^\n]+)/.exec(new X509Certificate(mine.cert).subject)?.[1] ?? '';

after(() => {
  good.cleanup();
  mine.cleanup();
});

/** Resolves on `event`, rejects on the socket's 'error' or after the default wait. */
function settled(socket: net.Socket, event: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${DEFAULT_WAIT} ms waiting for '${event}'`));
    }, DEFAULT_WAIT);
    const onEvent = (): void => {
      done();
      resolve();
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    const done = (): void => {
      clearTimeout(timer);
      socket.off(event, onEvent);
      socket.off('error', onError);
    };
    socket.once(event, onEvent);
    socket.once('error', onError);
  });
}

/** A plain TCP client to haproxy's frontend `port`, from 127.0.0.2; destroyed when the test ends. */
async function connectPlain(t: TestContext, port: number): Promise<LineClient> {
  const peer = LineClient.over(net.connect({ host: '127.0.0.1', port, localAddress: CLIENT_ADDR }));
  t.after(() => peer.destroy());
  await settled(peer.socket, 'connect');
  return peer;
}

/** A TLS client to haproxy's frontend `port`, from 127.0.0.2, verifying `localhost` with the test CA. */
async function connectTls(t: TestContext, port: number, extra: tls.ConnectionOptions = {}): Promise<LineClient & { socket: tls.TLSSocket }> {
  // tls.connect hands the options to net's connect, localAddress included (its types just do not list it).
  const opts: tls.ConnectionOptions & net.TcpSocketConnectOpts = { host: '127.0.0.1', port, localAddress: CLIENT_ADDR, servername: 'localhost', ca: good.cert, ...extra };
  const socket = tls.connect(opts);
  const peer = LineClient.over(socket) as LineClient & { socket: tls.TLSSocket };
  t.after(() => peer.destroy());
  await settled(socket, 'secureConnect');
  assert.equal(socket.authorized, true, `the client verified the server's certificate: ${String(socket.authorizationError)}`);
  return peer;
}

/** A backend (shut down when the test ends), one listener, and haproxy in front of it with `route`. */
async function behindHaproxy(
  t: TestContext,
  listenerOpts: ListenerOptions,
  route: Omit<Route, 'name' | 'server'>,
): Promise<{ backend: Backend; listener: Listener; hap: Haproxy; port: number }> {
  const backend = new Backend({ tls: { key: good.key, cert: good.cert } });
  t.after(() => backend.shutdown());
  const listener = await backend.createListener({ addr: '127.0.0.1', port: 0, ...listenerOpts });
  const hap = await startHaproxy(t, [{ name: 'irc', server: { addr: '127.0.0.1', port: listener.port }, ...route }]);
  return { backend, listener, hap, port: hap.port('irc') };
}

/** `NICK a` from the client to ircsock, `PING x` from ircsock to the client. */
async function bothWays(backend: Backend, conn: Connection, client: LineClient): Promise<void> {
  const input = once(backend, 'input', { filter: (c) => c === conn });
  client.write('NICK a');
  const [, msg] = await input;
  assert.equal(msg.command, 'NICK');
  assert.deepEqual(msg.params, ['a']);
  assert.equal(backend.send({ command: 'PING', params: ['x'] }, conn), 1);
  assert.equal(await client.line(0), 'PING x');
}

/** The connection is the client at 127.0.0.2, reached through haproxy at 127.0.0.1. */
function assertProxied(conn: Connection, client: LineClient, listener: Listener, hap: Haproxy, version: 1 | 2): void {
  const clientPort = client.socket.localPort;
  assert.equal(client.socket.localAddress, CLIENT_ADDR);
  assert.equal(conn.peerAddr, CLIENT_ADDR, 'peerAddr is the address from the PROXY header');
  assert.equal(conn.peerPort, clientPort);
  assert.equal(conn.family, 4);
  assert.deepEqual(conn.peer, { address: CLIENT_ADDR, port: clientPort, family: 4 });
  const proxy = conn.proxy;
  assert.ok(proxy !== undefined, 'conn.proxy is set behind a proxy');
  assert.equal(proxy.header.version, version);
  assert.equal(proxy.header.command, 'proxy');
  assert.equal(proxy.header.family, 'inet');
  const { source, destination } = proxy.header;
  assert.ok(source !== undefined && 'address' in source, "the header's source is an address");
  assert.deepEqual([source.address, source.port], [CLIENT_ADDR, clientPort], "the header's source: the client");
  assert.ok(destination !== undefined && 'address' in destination, "the header's destination is an address");
  assert.deepEqual([destination.address, destination.port], ['127.0.0.1', hap.port('irc')], "the header's destination: haproxy's frontend");
  const via = proxy.peer;
  assert.ok('address' in via, "the proxy's endpoint is an address");
  assert.equal(via.address, '127.0.0.1', "proxy.peer is haproxy's own address");
  assert.equal(typeof via.port, 'number');
  assert.ok(via.port > 0);
  assert.notEqual(via.port, clientPort, "proxy.peer is haproxy's outgoing port, not the client's");
  const local = proxy.local;
  assert.ok('address' in local, 'the local endpoint is an address');
  assert.equal(local.address, '127.0.0.1');
  assert.equal(local.port, listener.port, "proxy.local is the listener's end of the socket");
}

// ---------------------------------------------------------------------------
// haproxy itself: what it puts on the wire, with no ircsock involved. This
// checks the harness (configuration, addresses, client certificate) apart
// from the PROXY parser under test.

const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');

/** The value of each TLV of a v2 header's TLV block, by type (the last one of a type wins). */
function tlvs(block: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let at = 0; at + 3 <= block.length; ) {
    const type = block[at]!;
    const len = block.readUInt16BE(at + 1);
    out.set(type, block.subarray(at + 3, at + 3 + len));
    at += 3 + len;
  }
  return out;
}

test('haproxy sends a v1 line, a v2 header, and the client CN in a v2 SSL TLV from 127.0.0.2', { skip }, async (t) => {
  t.diagnostic((await haproxyVersion()) ?? 'haproxy version unknown');
  const received: Buffer[] = [];
  const server = net.createServer((socket) => {
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.toString('latin1').endsWith('NICK a\r\n')) {
        received.push(data);
        socket.end('PING x\r\n');
      }
    });
    socket.on('error', () => {
      // haproxy may reset at teardown.
    });
  });
  server.listen({ host: '127.0.0.1', port: 0 });
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const serverPort = (server.address() as net.AddressInfo).port;
  const to = { addr: '127.0.0.1', port: serverPort };
  const hap = await startHaproxy(t, [
    { name: 'v1', server: to, send: 'send-proxy' },
    { name: 'v2', server: to, send: 'send-proxy-v2' },
    { name: 'cn', server: to, send: 'send-proxy-v2-ssl-cn', tls: { pem: good.cert + good.key, ca: mine.cert, verify: 'optional' } },
  ]);
  await hap.explain(async () => {
    const connections = (): Promise<unknown> => once(server, 'connection');

    // v1: one text line naming the client, then the client's bytes.
    let accepted = connections();
    const c1 = await connectPlain(t, hap.port('v1'));
    await accepted;
    c1.write('NICK a');
    assert.equal(await c1.line(0), 'PING x');
    const v1 = received.shift()!.toString('latin1');
    assert.equal(v1, `PROXY TCP4 ${CLIENT_ADDR} 127.0.0.1 ${c1.socket.localPort} ${hap.port('v1')}\r\nNICK a\r\n`);

    // v2: the signature, PROXY over TCP/IPv4, the addresses and ports in binary.
    accepted = connections();
    const c2 = await connectPlain(t, hap.port('v2'));
    await accepted;
    c2.write('NICK a');
    assert.equal(await c2.line(0), 'PING x');
    const v2 = received.shift()!;
    assert.deepEqual(v2.subarray(0, 12), V2_SIGNATURE);
    assert.equal(v2[12], 0x21, 'version 2, command PROXY');
    assert.equal(v2[13], 0x11, 'TCP over IPv4');
    const len = v2.readUInt16BE(14);
    assert.ok(len >= 12);
    assert.deepEqual([...v2.subarray(16, 20)], [127, 0, 0, 2]);
    assert.deepEqual([...v2.subarray(20, 24)], [127, 0, 0, 1]);
    assert.equal(v2.readUInt16BE(24), c2.socket.localPort);
    assert.equal(v2.readUInt16BE(26), hap.port('v2'));
    assert.equal(v2.subarray(16 + len).toString('latin1'), 'NICK a\r\n');

    // v2 with SSL: haproxy terminated TLS, verified the client certificate and passes its CN.
    accepted = connections();
    const c3 = await connectTls(t, hap.port('cn'), { key: mine.key, cert: mine.cert });
    await accepted;
    c3.write('NICK a');
    assert.equal(await c3.line(0), 'PING x');
    const v3 = received.shift()!;
    assert.deepEqual(v3.subarray(0, 12), V2_SIGNATURE);
    const len3 = v3.readUInt16BE(14);
    assert.deepEqual([...v3.subarray(16, 20)], [127, 0, 0, 2]);
    const ssl = tlvs(v3.subarray(16 + 12, 16 + len3)).get(0x20);
    assert.ok(ssl !== undefined, 'a PP2_TYPE_SSL TLV');
    assert.equal(ssl[0]! & 0x01, 0x01, 'PP2_CLIENT_SSL');
    assert.equal(ssl[0]! & 0x02, 0x02, 'PP2_CLIENT_CERT_CONN');
    assert.equal(ssl.readUInt32BE(1), 0, 'haproxy verified the client certificate');
    const sub = tlvs(ssl.subarray(5));
    assert.equal(sub.get(0x22)?.toString('utf8'), CLIENT_CN, 'PP2_SUBTYPE_SSL_CN');
    assert.equal(sub.get(0x21)?.toString('latin1'), c3.socket.getProtocol(), 'PP2_SUBTYPE_SSL_VERSION');
    assert.equal(v3.subarray(16 + len3).toString('latin1'), 'NICK a\r\n');
  });
});

// ---------------------------------------------------------------------------
// ircsock behind haproxy.

const plainCases: { send: 'send-proxy' | 'send-proxy-v2'; version: 1 | 2; proxy: true | { from: string[] } }[] = [
  { send: 'send-proxy', version: 1, proxy: { from: ['127.0.0.0/8'] } },
  { send: 'send-proxy-v2', version: 2, proxy: true },
];
for (const { send, version, proxy } of plainCases) {
  test(`${send} (v${version}) in front of a plain listener: the client's address, haproxy as proxy.peer, lines both ways`, { skip }, async (t) => {
    const { backend, listener, hap, port } = await behindHaproxy(t, { proxy }, { send });
    await hap.explain(async () => {
      const opened = once(backend, 'listenerOpen');
      const client = await connectPlain(t, port);
      const [conn, at] = await opened;
      assert.equal(at, listener);
      assert.equal(conn.kind, 'tcp');
      assert.equal(conn.tls, undefined);
      assertProxied(conn, client, listener, hap, version);
      assert.equal(conn.proxy?.header.tlvs.ssl, undefined, 'no SSL TLV without TLS');
      await bothWays(backend, conn, client);
    });
  });
}

const sslCases: { title: string; options: Route['proxyV2Options'] }[] = [
  { title: 'send-proxy-v2-ssl-cn', options: undefined },
  { title: 'send-proxy-v2-ssl-cn with proxy-v2-options ssl-cipher,authority,crc32c', options: ['ssl-cipher', 'authority', 'crc32c'] },
];
for (const { title, options } of sslCases) {
  test(`${title}: haproxy terminates TLS with a client certificate; the plain listener sees its CN`, { skip }, async (t) => {
    assert.notEqual(CLIENT_CN, '');
    const { backend, listener, hap, port } = await behindHaproxy(
      t,
      { proxy: { from: ['127.0.0.1/32'] } },
      {
        send: 'send-proxy-v2-ssl-cn',
        tls: { pem: good.cert + good.key, ca: mine.cert, verify: 'optional' },
        ...(options === undefined ? {} : { proxyV2Options: options }),
      },
    );
    await hap.explain(async () => {
      const opened = once(backend, 'listenerOpen');
      const client = await connectTls(t, port, { key: mine.key, cert: mine.cert });
      const [conn, at] = await opened;
      assert.equal(at, listener);
      assert.equal(conn.kind, 'tcp', 'ircsock itself did no TLS');
      assert.equal(conn.tls, undefined);
      assertProxied(conn, client, listener, hap, 2);
      const { tlvs } = conn.proxy!.header;
      const ssl = tlvs.ssl;
      assert.ok(ssl !== undefined, 'the SSL TLV');
      assert.equal(ssl.ssl, true, 'the client used TLS');
      assert.equal(ssl.certConn, true, 'the client sent a certificate on this connection');
      assert.equal(ssl.verified, true, 'haproxy verified it (ca-file, verify optional)');
      assert.equal(ssl.cn, CLIENT_CN);
      assert.equal(ssl.version, client.socket.getProtocol());
      if (options === undefined) {
        // haproxy sends the cipher, the SNI and a checksum only when asked (proxy-v2-options).
        assert.equal(ssl.cipher, undefined);
        assert.equal(tlvs.authority, undefined);
        assert.equal(tlvs.crc32c, undefined);
      } else {
        assert.equal(ssl.cipher, client.socket.getCipher().name);
        assert.equal(tlvs.authority, 'localhost', 'the SNI the client sent');
        assert.equal(typeof tlvs.crc32c, 'number', 'a CRC32C TLV, verified by the parser');
      }
      await bothWays(backend, conn, client);
    });
  });
}

test('send-proxy-v2 in TCP mode in front of a TLS listener: TLS end to end through haproxy', { skip }, async (t) => {
  const { backend, listener, hap, port } = await behindHaproxy(t, { proxy: true, tls: true }, { send: 'send-proxy-v2' });
  await hap.explain(async () => {
    const opened = once(backend, 'listenerOpen');
    // The client verifies ircsock's certificate: haproxy only passes the bytes on.
    const client = await connectTls(t, port);
    assert.equal(client.socket.getPeerCertificate().fingerprint256, new X509Certificate(good.cert).fingerprint256);
    const [conn, at] = await opened;
    assert.equal(at, listener);
    assert.equal(conn.kind, 'tls');
    assert.ok(conn.tls !== undefined, 'conn.tls: ircsock did the handshake');
    assert.equal(conn.tls.protocol, client.socket.getProtocol());
    assert.equal(conn.tls.cipher, client.socket.getCipher().name);
    assertProxied(conn, client, listener, hap, 2);
    assert.equal(conn.proxy?.header.tlvs.ssl, undefined, 'haproxy did not terminate TLS, so no SSL TLV');
    await bothWays(backend, conn, client);
  });
});

for (const send of ['send-proxy', 'send-proxy-v2'] as const) {
  test(`${send} from an untrusted source: connectionRefused ERR_PROXY_UNTRUSTED, the client's connection closes`, { skip }, async (t) => {
    const { backend, listener, hap, port } = await behindHaproxy(t, { proxy: { from: ['192.0.2.0/24'] } }, { send });
    const events = countEvents(backend, ['listenerOpen', 'input']);
    t.after(() => {
      events.stop();
    });
    await hap.explain(async () => {
      const refused = once(backend, 'connectionRefused');
      const client = await connectPlain(t, port);
      client.write('NICK a');
      const [refusal] = await refused;
      assert.equal(refusal.code, 'ERR_PROXY_UNTRUSTED');
      assert.equal(refusal.listener, listener);
      assert.equal(refusal.addr, '127.0.0.1', 'the refusal names the untrusted peer (haproxy), not the address its header claims');
      await client.waitClosed();
      assert.deepEqual(client.lines, []);
      assert.deepEqual(events.counts, { listenerOpen: 0, input: 0 });
      assert.equal(backend.connections.size, 0);
    });
  });
}
