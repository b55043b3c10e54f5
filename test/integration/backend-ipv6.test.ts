/**
 * The seed scenario over IPv6 loopback (`::1`), skipped with a message on a
 * machine that cannot bind `::1`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backend } from '../../src/backend.js';
import { countEvents, hasIPv6, once, times } from '../helpers/net.js';

const skip = (await hasIPv6()) ? false : 'this machine has no IPv6 (cannot bind ::1)';

test('listener on ::1, connector by address, sends both ways, closeListener by addr, shutdown', { skip }, async () => {
  const backend = new Backend();
  const { counts } = countEvents(backend, ['listenerCreated', 'listenerOpen', 'connectorOpen', 'input', 'listenerRemoved', 'disconnect', 'connectorFailure', 'listenerFailure']);
  const listener = await backend.createListener({ addr: '::1', args: 'v6' });
  assert.equal(listener.family, 6, 'an IPv6 address gives an IPv6 listener');
  assert.equal(listener.addr, '::1');
  assert.ok(listener.port > 0);

  const opened = once(backend, 'listenerOpen');
  const client = await backend.createConnector({ addr: '::1', port: listener.port, args: { tag: 'foo' } });
  const [server] = await opened;
  for (const c of [client, server]) {
    assert.equal(c.family, 6);
    assert.equal(c.peerAddr, '::1');
    assert.equal(c.sockAddr, '::1');
  }
  assert.deepEqual(client.args, { tag: 'foo' });
  assert.equal(server.args, 'v6');

  const inputs = times(backend, 'input', 2);
  backend.send({ command: 'CONNECTOR', params: ['testing'] }, client.id);
  backend.send({ source: 'listener', command: 'test', params: ['testing', 'stuff'] }, server);
  const got = await inputs;
  assert.deepEqual(new Set(got.map(([c, m]) => `${c.origin}:${m.command}`)), new Set(['listener:CONNECTOR', 'connector:TEST']));

  assert.equal(backend.closeListener({ addr: '::1' }), 1);
  await backend.shutdown();
  assert.equal(client.connected, false);
  assert.equal(server.connected, false);
  assert.equal(backend.connections.size, 0);
  assert.deepEqual(counts, {
    listenerCreated: 1,
    listenerOpen: 1,
    connectorOpen: 1,
    input: 2,
    listenerRemoved: 1,
    disconnect: 2,
    connectorFailure: 0,
    listenerFailure: 0,
  });
});

test("ipv6: true binds '::' by default; a connector with ipv6: true reaches it over ::1", { skip }, async () => {
  const backend = new Backend();
  const listener = await backend.createListener({ ipv6: true, port: 0 });
  assert.equal(listener.addr, '::');
  assert.equal(listener.family, 6);

  const opened = once(backend, 'listenerOpen');
  const client = await backend.createConnector({ addr: '::1', port: listener.port, ipv6: true, bindAddr: '::1' });
  const [server] = await opened;
  assert.equal(client.family, 6);
  assert.equal(server.family, 6);
  assert.equal(server.peerAddr, '::1');
  assert.equal(server.peerPort, client.sockPort);

  const input = once(backend, 'input');
  backend.send({ command: 'PING', params: ['v6'] }, client);
  const [at, msg] = await input;
  assert.equal(at, server);
  assert.deepEqual(msg.params, ['v6']);
  await backend.shutdown();
  assert.equal(backend.connections.size, 0);
  assert.equal(backend.activeListeners.size, 0);
});

test('a connector with ipv6: true resolves a host name to its IPv6 address', { skip }, async () => {
  const backend = new Backend();
  const listener = await backend.createListener({ addr: '::1' });
  const failures = countEvents(backend, ['connectorFailure']);
  try {
    const client = await backend.createConnector({ addr: 'localhost', port: listener.port, ipv6: true, timeout: 2_000 });
    assert.equal(client.family, 6);
    assert.equal(client.peerAddr, '::1');
  } catch (err) {
    // Some hosts files map localhost to 127.0.0.1 only: then the lookup fails with a code, never hangs.
    assert.equal(typeof (err as NodeJS.ErrnoException).code, 'string');
    assert.equal(failures.counts.connectorFailure, 1);
  }
  await backend.shutdown();
});
