/**
 * The seed's own t/backend.t, re-told for ircsock: a listener on 127.0.0.1
 * port 0, a connector to it with args, sends both ways by id and by object,
 * the listener closed by address, shutdown, and every event counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backend, type BackendEvents, type ListenerTarget } from '../../src/backend.js';
import { Connection } from '../../src/connection/connection.js';
import { Listener } from '../../src/listen/listener.js';
import { IrcMessage } from '../../src/message/message.js';
import { parseLine } from '../../src/message/parse.js';
import { countEvents, LineClient, once, times } from '../helpers/net.js';

const EVENTS: readonly (keyof BackendEvents)[] = [
  'listenerCreated',
  'listenerOpen',
  'listenerFailure',
  'listenerRemoved',
  'connectorOpen',
  'connectorFailure',
  'input',
  'inputError',
  'disconnect',
  'connectionIdle',
  'sendQueueHigh',
  'compressed',
  'tlsClientError',
];

test("the seed's backend.t: listener, connector, sends both ways, closeListener by addr, shutdown", async () => {
  const backend = new Backend();
  const { counts } = countEvents(backend, EVENTS);
  const listenerArgs = { role: 'server', n: 1 };

  const created = once(backend, 'listenerCreated');
  const listener = await backend.createListener({ addr: '127.0.0.1', port: 0, args: listenerArgs });
  const [createdListener] = await created;
  assert.equal(createdListener, listener);
  assert.ok(listener instanceof Listener);
  assert.equal(listener.addr, '127.0.0.1');
  assert.ok(listener.port > 0, 'port 0 gives the real bound port');
  assert.equal(listener.family, 4);
  assert.equal(listener.tls, false);
  assert.equal(listener.idle, 180_000);
  assert.equal(backend.activeListeners.get(listener.id), listener);

  const opened = once(backend, 'listenerOpen');
  const connectorOpened = once(backend, 'connectorOpen');
  const client = await backend.createConnector({ addr: listener.addr, port: listener.port, args: { tag: 'foo' } });
  const [server, viaListener] = await opened;
  const [openedClient] = await connectorOpened;
  assert.equal(openedClient, client);
  assert.equal(viaListener, listener);
  assert.equal(backend.pendingConnectors.size, 0);

  // args handed on, unchanged, from each side's maker.
  assert.ok(client instanceof Connection);
  assert.ok(server instanceof Connection);
  assert.deepEqual(client.args, { tag: 'foo' });
  assert.equal(server.args, listenerArgs);
  assert.equal(client.origin, 'connector');
  assert.equal(server.origin, 'listener');
  assert.equal(server.originId, listener.id);
  assert.notEqual(client.id, server.id);
  assert.equal(backend.connections.get(client.id), client);
  assert.equal(backend.connections.get(server.id), server);
  assert.equal(backend.connections.size, 2);
  // The two ends see each other's addresses.
  for (const c of [client, server]) {
    assert.equal(c.family, 4);
    assert.equal(c.peerAddr, '127.0.0.1');
    assert.equal(c.sockAddr, '127.0.0.1');
    assert.equal(c.connected, true);
    assert.equal(c.disconnecting, false);
    assert.equal(c.tls, undefined);
    assert.equal(c.idle, c === server ? 180_000 : 0);
  }
  assert.equal(client.peerPort, listener.port);
  assert.equal(server.sockPort, listener.port);
  assert.equal(server.peerPort, client.sockPort);

  // Sends both ways, by id and by object; the seed sends three lines with 'testing' first.
  const inputs = times(backend, 'input', 4);
  assert.equal(backend.send({ command: 'CONNECTOR', params: ['testing'] }, client.id), 1);
  assert.equal(backend.send(parseLine(':test CONNECTOR :testing'), client), 1);
  assert.equal(backend.send(new IrcMessage({ source: 'listener', command: 'test', params: ['testing', 'stuff'] }), server.id), 1);
  assert.equal(backend.send({ tags: { a: 'b c' }, command: 'privmsg', params: ['testing', 'two words'] }, server), 1);
  const got = await inputs;

  const atServer = got.filter(([c]) => c === server).map(([, m]) => m);
  const atClient = got.filter(([c]) => c === client).map(([, m]) => m);
  assert.equal(atServer.length, 2);
  assert.equal(atClient.length, 2);
  for (const m of [...atServer, ...atClient]) {
    assert.ok(m instanceof IrcMessage);
    assert.equal(m.params[0], 'testing');
  }
  assert.deepEqual(
    atServer.map((m) => [m.source, m.command, [...m.params]]),
    [
      [undefined, 'CONNECTOR', ['testing']],
      ['test', 'CONNECTOR', ['testing']],
    ],
  );
  // Commands from the wire are upper-cased; tags survive the round trip.
  assert.deepEqual(
    atClient.map((m) => [m.source, m.command, [...m.params]]),
    [
      ['listener', 'TEST', ['testing', 'stuff']],
      [undefined, 'PRIVMSG', ['testing', 'two words']],
    ],
  );
  assert.equal(atClient[1]?.getTag('a'), 'b c');
  assert.equal(server.linesIn, 2);
  assert.equal(client.linesIn, 2);
  assert.equal(client.linesOut, 2);
  assert.ok(server.bytesIn > 0 && server.bytesIn === client.bytesOut);
  assert.ok(server.seen > 0);

  // The seed's remove_listener(addr => '127.0.0.1'): closes it, emits listenerRemoved.
  const removed = once(backend, 'listenerRemoved');
  assert.equal(backend.closeListener({ addr: '127.0.0.1' }), 1);
  assert.equal((await removed)[0], listener);
  assert.equal(backend.activeListeners.size, 0);
  assert.equal(backend.closeListener({ addr: '127.0.0.1' }), 0, 'already closed');
  assert.equal(listener.close(), false, 'already closed');

  // Connections the listener accepted stay up.
  assert.equal(server.connected, true);
  const after = once(backend, 'input');
  assert.equal(backend.send({ command: 'PING', params: ['after-remove'] }, client), 1);
  const [atAfter, pingAfter] = await after;
  assert.equal(atAfter, server);
  assert.deepEqual(pingAfter.params, ['after-remove']);

  // Shutdown: both ends go, each with exactly one disconnect.
  const disconnects = times(backend, 'disconnect', 2);
  await backend.shutdown();
  const gone = await disconnects;
  assert.deepEqual(new Set(gone.map(([c]) => c)), new Set([client, server]));
  for (const [c, reason] of gone) {
    assert.equal(typeof reason, 'string');
    assert.equal(c.connected, false);
    assert.notEqual(c.disconnecting, false);
  }
  assert.equal(backend.connections.size, 0);
  assert.equal(backend.activeListeners.size, 0);
  assert.equal(backend.pendingConnectors.size, 0);
  assert.equal(backend.send({ command: 'PING', params: ['x'] }, client, server.id), 0, 'sends to closed connections are dropped');
  assert.equal(backend.disconnect(client), false);

  assert.deepEqual(counts, {
    listenerCreated: 1,
    listenerOpen: 1,
    listenerFailure: 0,
    listenerRemoved: 1,
    connectorOpen: 1,
    connectorFailure: 0,
    input: 5,
    inputError: 0,
    disconnect: 2,
    connectionIdle: 0,
    sendQueueHigh: 0,
    compressed: 0,
    tlsClientError: 0,
  });

  // A shut-down backend refuses new work, and shutdown() is idempotent.
  await assert.rejects(async () => backend.createListener({ addr: '127.0.0.1' }), { code: 'ERR_BACKEND_CLOSED' });
  assert.throws(() => backend.createConnector({ addr: '127.0.0.1', port: 1 }), { code: 'ERR_BACKEND_CLOSED' });
  await backend.shutdown();
});

test('closeListener by id, by object, by { port } and { addr, port }; listener.close()', async () => {
  const backend = new Backend();
  const { counts } = countEvents(backend, ['listenerCreated', 'listenerRemoved']);
  const make = (): Promise<Listener> => backend.createListener({ addr: '127.0.0.1' });
  const [a, b, c, d, e] = await Promise.all([make(), make(), make(), make(), make()]);
  assert.equal(backend.activeListeners.size, 5);
  assert.equal(new Set([a, b, c, d, e].map((l) => l.id)).size, 5, 'ids are unique');

  assert.equal(backend.closeListener(a.id), 1);
  assert.equal(backend.closeListener(b), 1);
  assert.equal(backend.closeListener({ port: c.port }), 1);
  assert.equal(backend.closeListener({ addr: '127.0.0.1', port: d.port }), 1);
  assert.equal(backend.closeListener({ addr: '10.9.8.7' }), 0);
  assert.equal(e.close(), true);
  assert.equal(e.close(), false);
  assert.equal(backend.closeListener(a.id), 0);
  assert.throws(() => backend.closeListener({} as ListenerTarget), { code: 'ERR_INVALID_ARG' });
  assert.equal(backend.activeListeners.size, 0);
  await backend.shutdown();
  assert.deepEqual(counts, { listenerCreated: 5, listenerRemoved: 5 });
});

test('colonify: the backend default and a per-message override, as written on the wire', async () => {
  for (const colonify of [false, true]) {
    const backend = new Backend({ colonify });
    const listener = await backend.createListener({ addr: '127.0.0.1' });
    const opened = once(backend, 'listenerOpen');
    const peer = await LineClient.connect(listener.port);
    const [conn] = await opened;
    backend.send({ command: 'PRIVMSG', params: ['#c', 'word'] }, conn);
    backend.send({ command: 'PRIVMSG', params: ['#c', 'two words'] }, conn);
    backend.send({ command: 'PRIVMSG', params: ['#c', 'word'], colonify: !colonify }, conn);
    const lines = await peer.waitLines(3);
    assert.deepEqual(
      lines,
      colonify
        ? ['PRIVMSG #c :word', 'PRIVMSG #c :two words', 'PRIVMSG #c word']
        : ['PRIVMSG #c word', 'PRIVMSG #c :two words', 'PRIVMSG #c :word'],
    );
    await backend.shutdown();
    await peer.waitClosed();
  }
});

test('sendLine writes a raw line; input from a raw peer arrives in order', async () => {
  const backend = new Backend();
  const listener = await backend.createListener({ addr: '127.0.0.1' });
  const opened = once(backend, 'listenerOpen');
  const peer = await LineClient.connect(listener.port);
  const [conn] = await opened;

  assert.equal(backend.sendLine(':srv 001 nick :Welcome', conn), 1);
  assert.deepEqual(await peer.waitLines(1), [':srv 001 nick :Welcome']);
  assert.throws(() => backend.sendLine('PING a\r\nQUIT', conn), { code: 'ERR_IRC_FORMAT' });

  const inputs = times(backend, 'input', 3);
  // LF and CRLF both end a line, empty lines are skipped, a line split over writes is joined.
  peer.socket.write('NICK a\nUSER a 0 * :A\r\n\r\nPR');
  peer.socket.write('IVMSG #c :hi\r\n');
  const got = await inputs;
  assert.deepEqual(
    got.map(([, m]) => m.command),
    ['NICK', 'USER', 'PRIVMSG'],
  );
  assert.equal(got[2]?.[1].raw, 'PRIVMSG #c :hi');
  assert.equal(conn.linesIn, 3);

  await backend.shutdown();
  await peer.waitClosed();
});
