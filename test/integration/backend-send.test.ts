import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { Backend, type Connection } from '../../src/index.js';
import { once, times } from '../helpers/net.js';

/** A server backend with `n` raw clients; returns the server-side connections in client order. */
async function setup(n: number): Promise<{ backend: Backend; conns: Connection[]; clients: net.Socket[]; received: string[][] }> {
  const backend = new Backend();
  const listener = await backend.createListener({ addr: '127.0.0.1' });
  const conns: Connection[] = [];
  const clients: net.Socket[] = [];
  const received: string[][] = [];
  for (let i = 0; i < n; i++) {
    const opened = once(backend, 'listenerOpen');
    const client = net.connect(listener.port, '127.0.0.1');
    const lines: string[] = [];
    let buf = '';
    client.setEncoding('utf8');
    client.on('data', (d: string) => {
      buf += d;
      let lf;
      while ((lf = buf.indexOf('\n')) >= 0) {
        lines.push(buf.slice(0, lf).replace(/\r$/, ''));
        buf = buf.slice(lf + 1);
      }
    });
    const [conn] = await opened;
    conns.push(conn);
    clients.push(client);
    received.push(lines);
  }
  return { backend, conns, clients, received };
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

test('send takes targets spread, as arrays, or mixed; broadcast skips one', async () => {
  const { backend, conns, clients, received } = await setup(3);
  const [a, b, c] = conns as [Connection, Connection, Connection];
  assert.equal(backend.send({ command: 'ONE' }, [a, b.id]), 2);
  assert.equal(backend.send({ command: 'TWO' }, c, [a]), 2);
  assert.equal(backend.send({ command: 'THREE' }, []), 0);
  assert.equal(backend.broadcast({ command: 'ALL' }, b), 2);
  assert.equal(backend.broadcast({ command: 'EVERYONE' }), 3);
  await until(() => received.every((r) => r.includes('EVERYONE')));
  assert.deepEqual(received[0], ['ONE', 'TWO', 'ALL', 'EVERYONE']);
  assert.deepEqual(received[1], ['ONE', 'EVERYONE']);
  assert.deepEqual(received[2], ['TWO', 'ALL', 'EVERYONE']);
  for (const client of clients) client.destroy();
  await backend.shutdown();
});

test('a connection of another backend is never written to', async () => {
  const { backend, conns, clients, received } = await setup(1);
  const other = new Backend();
  assert.equal(other.send({ command: 'NOPE' }, conns[0]!), 0);
  assert.equal(backend.send({ command: 'YES' }, conns[0]!), 1);
  await until(() => received[0]!.length > 0);
  assert.deepEqual(received[0], ['YES']);
  clients[0]!.destroy();
  await backend.shutdown();
  await other.shutdown();
});

test('shutdown with a timeout cuts off a peer that does not read', async () => {
  const { backend, conns, clients } = await setup(1);
  const client = clients[0]!;
  client.pause();
  const line = { command: 'PRIVMSG', params: ['#x', 'y'.repeat(400)] };
  // Far more than the socket buffers hold, well under the SendQ.
  for (let i = 0; i < 2_000; i++) backend.send(line, conns[0]!);
  const gone = times(backend, 'disconnect', 1);
  await backend.shutdown('bye', { timeout: 50 });
  const [first] = await gone;
  assert.equal(first?.[0], conns[0]);
  assert.equal(first?.[1], 'bye');
  client.destroy();
});

test('lines to one connection and lines shared with others keep their order and exact bytes in one turn', async () => {
  const { backend, conns, clients } = await setup(2);
  const [a, b] = conns as [Connection, Connection];
  try {
    const bytes: Buffer[] = [];
    const client = clients[0] as net.Socket;
    client.removeAllListeners('data');
    client.on('data', (d: Buffer | string) => bytes.push(typeof d === 'string' ? Buffer.from(d, 'latin1') : d));
    client.setEncoding('latin1');
    // Escaped bytes (what the decoder makes of 8-bit text) go out as the bytes they stand for,
    // whether a line is queued as text (one target) or as the Buffer a fan-out shares.
    const latin1 = 'caf\udce9 \udcff';
    backend.send({ command: 'PRIVMSG', params: ['a', `one ${latin1}`] }, a);
    backend.send({ command: 'PRIVMSG', params: ['#c', `shared ${latin1}`] }, a, b);
    backend.send({ command: 'PRIVMSG', params: ['a', 'two 日本'] }, [a]);
    backend.broadcast({ command: 'PING', params: ['end'] });
    const want = Buffer.concat([
      Buffer.from('PRIVMSG a :one caf'), Buffer.from([0xe9, 0x20, 0xff]), Buffer.from('\r\n'),
      Buffer.from('PRIVMSG #c :shared caf'), Buffer.from([0xe9, 0x20, 0xff]), Buffer.from('\r\n'),
      Buffer.from('PRIVMSG a :two 日本\r\n'),
      Buffer.from('PING end\r\n'),
    ]);
    await until(() => Buffer.concat(bytes).length >= want.length);
    assert.deepEqual(Buffer.concat(bytes), want);
  } finally {
    for (const c of clients) c.destroy();
    await backend.shutdown();
  }
});
