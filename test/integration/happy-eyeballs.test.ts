/**
 * Happy Eyeballs: a host name whose lookup gives a dead IPv6 address first
 * (a `::1` port that never answers a SYN, see helpers/blackhole.ts) and a
 * live IPv4 one. The connector reaches the IPv4 server after the attempt
 * delay, long before its connect timeout; pinned to IPv6 it times out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { blackhole } from '../helpers/blackhole.js';
import { hasIPv6, once } from '../helpers/net.js';
import { trackedBackends } from '../helpers/backends.js';

const newBackend = trackedBackends();
const ipv6 = await hasIPv6();
const NO_IPV6 = ipv6 ? false : 'no IPv6 loopback on this machine';

/** A resolver for one made-up name: AAAA first, then A, as a dual-stack host answers. */
function dualStack(name: string, records: readonly LookupAddress[], asked: string[]): LookupFunction {
  return (hostname: string, options: LookupOneOptions | LookupAllOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    asked.push(hostname);
    const wanted = records.filter((r) => options.family === undefined || options.family === 0 || r.family === options.family);
    if (hostname !== name || wanted.length === 0) {
      const err: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
      err.code = 'ENOTFOUND';
      callback(err, []);
      return;
    }
    if (options.all === true) callback(null, wanted);
    else callback(null, (wanted[0] as LookupAddress).address, (wanted[0] as LookupAddress).family);
  };
}

test('a dead IPv6 address first and a live IPv4 one: connected over IPv4 after the attempt delay', { skip: NO_IPV6, timeout: 15_000 }, async (t) => {
  const port = await blackhole(t, '::1');
  const server = newBackend();
  await server.createListener({ addr: '127.0.0.1', port });
  const asked: string[] = [];
  const lookup = dualStack('dual.test', [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }], asked);
  const client = newBackend();
  const accepted = once(server, 'listenerOpen');
  // The connect timeout would fail the test: only the race gets us through in time.
  const p = client.createConnector({ addr: 'dual.test', port, lookup, attemptDelay: 50, timeout: 5_000 });
  assert.equal(p.connector.family, undefined);
  const conn = await p;
  assert.equal(conn.family, 4);
  assert.equal(conn.peerAddr, '127.0.0.1');
  assert.equal(conn.peerPort, port);
  assert.deepEqual(asked, ['dual.test']);
  const [peer] = await accepted;
  assert.equal(peer.peerPort, conn.sockPort);
});

test('pinned to IPv6 (family: 6), the same name waits for the dead address until the connect timeout', { skip: NO_IPV6, timeout: 15_000 }, async (t) => {
  const port = await blackhole(t, '::1');
  const server = newBackend();
  await server.createListener({ addr: '127.0.0.1', port });
  const lookup = dualStack('dual.test', [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }], []);
  const client = newBackend();
  const p = client.createConnector({ addr: 'dual.test', port, lookup, family: 6, timeout: 300 });
  assert.equal(p.connector.family, 6);
  await assert.rejects(p, { code: 'ERR_CONNECT_TIMEOUT' });
});

test('pinned to IPv4 (family: 4) it goes straight to the A record', { timeout: 15_000 }, async () => {
  const server = newBackend();
  const listener = await server.createListener({ addr: '127.0.0.1', port: 0 });
  const lookup = dualStack('dual.test', [{ address: '::1', family: 6 }, { address: '127.0.0.1', family: 4 }], []);
  const client = newBackend();
  const conn = await client.createConnector({ addr: 'dual.test', port: listener.port, lookup, family: 4 });
  assert.equal(conn.family, 4);
});

test('Happy Eyeballs options are checked at the call', () => {
  const client = newBackend();
  assert.throws(() => client.createConnector({ addr: 'x', port: 1, attemptDelay: 5 }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => client.createConnector({ addr: 'x', port: 1, family: 5 as 4 }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => client.createConnector({ addr: 'x', port: 1, ipv6: true, family: 4 }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => client.createConnector({ path: '/tmp/x.sock', attemptDelay: 100 }), { code: 'ERR_INVALID_OPTION' });
});
