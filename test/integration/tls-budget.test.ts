/**
 * The handshake budget: a flood of bad TLS handshakes from one address is
 * refused before the next handshake (ERR_TLS_BUDGET), while another address
 * still connects; loopback is exempt by default.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { trackedBackends } from '../helpers/backends.js';
import { canBind } from '../helpers/haproxy.js';
import { once } from '../helpers/net.js';
import { localhostCert } from '../helpers/tls-cert.js';
import type { ConnectionRefusal } from '../../src/backend.js';

const newBackend = trackedBackends();
const cert = localhostCert();
const FLOODER = '127.0.0.2';

after(() => {
  cert.cleanup();
});

/** A client that sends garbage instead of a ClientHello from `localAddress`; resolves when the server has closed it. */
async function badHandshake(port: number, localAddress: string): Promise<void> {
  const socket = net.connect({ host: '127.0.0.1', port, localAddress });
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  socket.write('NICK notls\r\nUSER a 0 * :b\r\n');
  socket.resume();
  await once(socket, 'close');
}

test('a flood of failed handshakes from one address is refused with ERR_TLS_BUDGET; another address still connects', { skip: !(await canBind(FLOODER)) && `${FLOODER} is not bindable here` }, async () => {
  const backend = newBackend({ tls: { key: cert.key, cert: cert.cert } });
  const listener = await backend.createListener({
    addr: '127.0.0.1',
    tls: true,
    handshakeBudget: { failures: 3, exempt: [] },
    admission: { exempt: ['127.0.0.0/8'] },
  });
  const refusals: ConnectionRefusal[] = [];
  backend.on('connectionRefused', (r) => refusals.push(r));
  let tlsErrors = 0;
  backend.on('tlsClientError', () => tlsErrors++);
  for (let i = 0; i < 3; i++) await badHandshake(listener.port, FLOODER);
  assert.equal(tlsErrors, 3);
  assert.equal(refusals.length, 0);

  // Out of budget: even a good client from that address is closed before any handshake.
  const refused = once(backend, 'connectionRefused');
  const raw = net.connect({ host: '127.0.0.1', port: listener.port, localAddress: FLOODER });
  raw.on('error', () => undefined);
  const good = tls.connect({ socket: raw, ca: cert.cert, servername: 'localhost' });
  good.on('error', () => undefined);
  const [refusal] = await refused;
  assert.equal(refusal.code, 'ERR_TLS_BUDGET');
  assert.equal(refusal.addr, FLOODER);
  await once(good, 'close');
  assert.equal(tlsErrors, 3, 'no handshake was attempted for it');

  const opened = once(backend, 'listenerOpen');
  const other = await backend.createConnector({ addr: 'localhost', port: listener.port, bindAddr: '127.0.0.1', tls: { ca: cert.cert } });
  const [conn] = await opened;
  assert.equal(conn.peerAddr, '127.0.0.1');
  assert.ok(other.connected);
});

test('loopback is exempt by default: failed handshakes from 127.0.0.1 never exhaust it', async () => {
  const backend = newBackend({ tls: { key: cert.key, cert: cert.cert } });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true, handshakeBudget: { failures: 1 } });
  for (let i = 0; i < 3; i++) await badHandshake(listener.port, '127.0.0.1');
  const opened = once(backend, 'listenerOpen');
  await backend.createConnector({ addr: 'localhost', port: listener.port, tls: { ca: cert.cert } });
  await opened;
  assert.throws(() => backend.createListener({ addr: '127.0.0.1', handshakeBudget: {} }), { code: 'ERR_INVALID_OPTION' });
});
