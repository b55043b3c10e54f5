/**
 * Hand-off at the library level, between this process (the predecessor) and
 * a real forked successor (`test/helpers/handoff-successor.ts`): lines split
 * across the hand-off, output queued while it runs, the listener moving, a
 * successor that crashes mid-way, a version mismatch, and TLS and compressed
 * links staying behind.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { EventEmitter } from 'node:events';
import { Backend, handOff, IrcHandoffError, receiveHandoff, type Connection, type Listener } from '../../src/index.js';
import { wrap, type ToSuccessor } from '../../src/handoff/protocol.js';
import { once } from '../helpers/net.js';
import { IrcClient } from '../helpers/relay-process.js';
import { localhostCert } from '../helpers/tls-cert.js';

const T = { timeout: 20_000 };
const SUCCESSOR = fileURLToPath(new URL('../helpers/handoff-successor.js', import.meta.url));

function echoBackend(opts: ConstructorParameters<typeof Backend>[0] = {}): Backend {
  const backend = new Backend(opts);
  backend.on('input', (conn, msg) => {
    backend.send({ command: 'ECHO', params: [String(process.pid), msg.command, ...msg.params] }, conn);
  });
  return backend;
}

function successor(mode = 'echo'): ChildProcess {
  return fork(SUCCESSOR, [], { env: { ...process.env, IRCSOCK_HANDOFF: '1', HANDOFF_FIXTURE: mode }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit', { timeout: 10_000 });
  if (child.connected) child.send({ fixture: 'stop' });
  else child.kill('SIGTERM');
  await exited;
}

describe('hand-off to a successor process', () => {
  test('a line split across the hand-off is parsed whole on the new side; output queued meanwhile arrives once, in order', T, async () => {
    const backend = echoBackend();
    const listener: Listener = await backend.createListener({ addr: '127.0.0.1', admission: false });
    const client = await IrcClient.tcp(listener.port);
    client.send('HELLO :before\r\n');
    await client.waitFor((l) => l.includes(`ECHO ${process.pid} HELLO before`), 'the first echo');
    const [conn] = [...backend.connections.values()] as [Connection];
    // Half a line now, the rest once the successor holds the socket.
    client.send('SPLIT :first-half');
    await new Promise((r) => setTimeout(r, 50));
    const child = successor();
    let sent = 0;
    let sending = true;
    // Output queued while the hand-off runs: counted only where send() took it.
    const pump = (): void => {
      if (!sending) return;
      if (backend.send({ command: 'OUT', params: [String(sent)] }, conn) === 1) sent++;
      setImmediate(pump);
    };
    pump();
    const result = await handOff(backend, child, { serialize: () => ({ hello: 'world' }) });
    sending = false;
    assert.equal(result.moved, 1);
    assert.equal(result.staying.length, 0);
    assert.equal(result.listeners, 1);
    assert.equal(backend.connections.size, 0, 'the old side forgot the connection');
    client.send('-second-half\r\n');
    await client.waitFor((l) => l.some((x) => x.startsWith(`ECHO ${child.pid} SPLIT`)), 'the split line from the successor');
    assert.ok(client.lines.includes(`ECHO ${child.pid} SPLIT first-half-second-half`), JSON.stringify(client.lines.slice(-3)));
    assert.ok(client.lines.some((l) => l.startsWith(`ADOPTED ${child.pid} {"hello":"world"} 1`)), 'restore data and counters moved');
    const outs = client.lines.filter((l) => l.startsWith('OUT ')).map((l) => Number(l.slice(4)));
    assert.deepEqual(outs, [...Array(sent).keys()], 'every queued line once, in order');
    assert.ok(sent > 0);
    // New connections land on the successor, through the listening socket it took over.
    const late = await IrcClient.tcp(listener.port);
    late.send('NEW :conn\r\n');
    await late.waitFor((l) => l.includes(`ECHO ${child.pid} NEW conn`), 'a new connection served by the successor');
    assert.equal(client.closed, false);
    client.socket.destroy();
    late.socket.destroy();
    await stop(child);
    await backend.shutdown();
  });

  test('a Unix socket listener and its connections move; the socket file stays for the successor', T, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ircsock-hu-'));
    const file = path.join(dir, 'irc.sock');
    try {
      const backend = echoBackend();
      await backend.createListener({ path: file, admission: false });
      const connectUnix = async (): Promise<IrcClient> => {
        const s = net.connect(file);
        await once(s, 'connect');
        return new IrcClient(s);
      };
      const client = await connectUnix();
      client.send('U :1\r\n');
      await client.waitFor((l) => l.includes(`ECHO ${process.pid} U 1`), 'echo');
      const child = successor();
      const result = await handOff(backend, child);
      assert.equal(result.moved, 1);
      assert.deepEqual([...backend.connections.keys()], []);
      await backend.shutdown();
      assert.ok(existsSync(file), 'the old side did not unlink the file the successor serves');
      client.send('U :2\r\n');
      await client.waitFor((l) => l.includes(`ECHO ${child.pid} U 2`), 'served by the successor');
      const late = await connectUnix();
      late.send('U :3\r\n');
      await late.waitFor((l) => l.includes(`ECHO ${child.pid} U 3`), 'a new Unix connection on the successor');
      client.socket.destroy();
      late.socket.destroy();
      await stop(child);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('lines held back by fakelag move with the connection: each dispatched once, in order, by the successor', T, async () => {
    const backend = echoBackend();
    const listener = await backend.createListener({ addr: '127.0.0.1', admission: false, flood: { rate: 0.5, burst: 1 } });
    const client = await IrcClient.tcp(listener.port);
    client.send('F :1\r\nF :2\r\nF :3\r\n');
    await client.waitFor((l) => l.includes(`ECHO ${process.pid} F 1`), 'the first line, within the burst');
    // F 2 is held by fakelag (2 s), F 3 waits in the decoder.
    const child = successor();
    await handOff(backend, child);
    await client.waitFor((l) => l.includes(`ECHO ${child.pid} F 3`), 'the held lines from the successor');
    assert.deepEqual(
      client.lines.filter((l) => l.startsWith('ECHO ')),
      [`ECHO ${process.pid} F 1`, `ECHO ${child.pid} F 2`, `ECHO ${child.pid} F 3`],
    );
    client.socket.destroy();
    await stop(child);
    await backend.shutdown();
  });

  test('a successor that crashes mid-hand-off: the old process takes everything back and keeps serving', T, async () => {
    const backend = echoBackend();
    const listener = await backend.createListener({ addr: '127.0.0.1', admission: false });
    const clients = await Promise.all([1, 2, 3].map(() => IrcClient.tcp(listener.port)));
    for (const [i, c] of clients.entries()) c.send(`PING :${i}\r\n`);
    for (const [i, c] of clients.entries()) await c.waitFor((l) => l.includes(`ECHO ${process.pid} PING ${i}`), 'echo');
    clients[0]?.send('PART :ial');
    const child = successor('crash');
    await assert.rejects(handOff(backend, child), (err: unknown) => err instanceof IrcHandoffError && err.code === 'ERR_HANDOFF_SUCCESSOR_GONE');
    assert.equal(backend.connections.size, 3);
    clients[0]?.send('-line\r\n');
    for (const [i, c] of clients.entries()) c.send(`AFTER :${i}\r\n`);
    for (const [i, c] of clients.entries()) await c.waitFor((l) => l.includes(`ECHO ${process.pid} AFTER ${i}`), 'served by the old process');
    assert.ok(clients[0]?.lines.includes(`ECHO ${process.pid} PART ial-line`));
    // The listener is still ours too.
    const late = await IrcClient.tcp(listener.port);
    late.send('LATE :x\r\n');
    await late.waitFor((l) => l.includes(`ECHO ${process.pid} LATE x`), 'a new connection on the old process');
    for (const c of [...clients, late]) {
      assert.equal(c.closed, false);
      c.socket.destroy();
    }
    await backend.shutdown();
  });

  test('a successor speaking another protocol version is refused; nothing moves', T, async () => {
    const backend = echoBackend();
    const listener = await backend.createListener({ addr: '127.0.0.1', admission: false });
    const client = await IrcClient.tcp(listener.port);
    const child = successor('old-version');
    const exited = once(child, 'exit');
    await assert.rejects(handOff(backend, child), (err: unknown) => err instanceof IrcHandoffError && err.code === 'ERR_HANDOFF_VERSION');
    assert.deepEqual((await exited)[0], 3);
    client.send('STILL :here\r\n');
    await client.waitFor((l) => l.includes(`ECHO ${process.pid} STILL here`), 'served by the old process');
    client.socket.destroy();
    await backend.shutdown();
  });

  test('TLS and compressed links stay on the old process and are served there; plain ones move', T, async () => {
    const cert = localhostCert();
    const backend = echoBackend({ tls: { key: cert.key, cert: cert.cert } });
    const plainL = await backend.createListener({ addr: '127.0.0.1', admission: false });
    const tlsL = await backend.createListener({ addr: '127.0.0.1', tls: true, admission: false });
    const plain = await IrcClient.tcp(plainL.port);
    const zsock = net.connect(plainL.port, '127.0.0.1');
    await once(zsock, 'connect');
    const tsock = tls.connect({ port: tlsL.port, host: '127.0.0.1', ca: cert.cert, servername: 'localhost' });
    await once(tsock, 'secureConnect');
    const secure = new IrcClient(tsock);
    plain.send('A :1\r\n');
    secure.send('B :1\r\n');
    await plain.waitFor((l) => l.length > 0, 'plain echo');
    await secure.waitFor((l) => l.length > 0, 'tls echo');
    // The third connection goes compressed.
    zsock.write('Z :1\r\n');
    await new Promise<void>((resolve) => {
      backend.once('input', (conn) => {
        backend.setCompressedLinkNow(conn);
        resolve();
      });
    });
    // The echo of Z 1 was queued before the switch: it comes plain, and only then compressed output may.
    let plainIn = '';
    await new Promise<void>((resolve) => {
      const onData = (b: Buffer): void => {
        plainIn += b.toString('latin1');
        if (plainIn.includes('\r\n')) {
          zsock.off('data', onData);
          resolve();
        }
      };
      zsock.on('data', onData);
    });
    const inflate = zlib.createInflate();
    const deflate = zlib.createDeflate();
    // The link is cut at the end of the test, mid-stream: zlib's complaint about it is expected.
    inflate.on('error', () => undefined);
    deflate.on('error', () => undefined);
    deflate.pipe(zsock);
    zsock.pipe(inflate);
    const zlines: string[] = [];
    inflate.on('data', (b: Buffer) => zlines.push(...b.toString('latin1').split('\r\n').filter((x) => x !== '')));
    const child = successor();
    const result = await handOff(backend, child);
    assert.equal(result.moved, 1);
    assert.deepEqual(result.staying.map((c) => c.kind).sort(), ['tcp', 'tls']);
    assert.ok(result.staying.some((c) => c.compressed));
    secure.send('B :2\r\n');
    await secure.waitFor((l) => l.includes(`ECHO ${process.pid} B 2`), 'TLS served by the old process');
    deflate.write('Z :2\r\n');
    deflate.flush(zlib.constants.Z_SYNC_FLUSH);
    const deadline = Date.now() + 5_000;
    while (!zlines.includes(`ECHO ${process.pid} Z 2`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(zlines.includes(`ECHO ${process.pid} Z 2`), 'compressed link served by the old process');
    plain.send('A :2\r\n');
    await plain.waitFor((l) => l.includes(`ECHO ${child.pid} A 2`), 'plain served by the successor');
    // New TLS connections land on the successor (it took the TLS listening socket; its own listener is plain here).
    const late = await IrcClient.tcp(tlsL.port);
    late.send('C :1\r\n');
    await late.waitFor((l) => l.includes(`ECHO ${child.pid} C 1`), 'new connection served by the successor');
    // The links that stayed drain and end.
    const drained = backend.shutdown();
    await secure.waitFor(() => secure.closed, 'the TLS link to end');
    zsock.destroy();
    await drained;
    for (const c of [plain, late]) c.socket.destroy();
    await stop(child);
  });
});

test("an abort that crosses the successor's 'committed' on the wire is too late: the successor keeps serving its listeners", async () => {
  // The predecessor's side played by hand over an in-process channel: commit, then a late abort.
  const channel = Object.assign(new EventEmitter(), { send: (): boolean => true });
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const key = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  const receiving = receiveHandoff({}, channel as unknown as NodeJS.Process);
  channel.emit('message', wrap<ToSuccessor>({ t: 'welcome' }));
  channel.emit('message', wrap<ToSuccessor>({ t: 'listener', key, kind: 'tcp', proxy: false }), server);
  channel.emit('message', wrap<ToSuccessor>({ t: 'listeners-done' }));
  const receiver = await receiving;
  const backend = new Backend();
  try {
    await backend.createListener({ inherit: receiver.listeners.get(key) });
    const adopted = receiver.adopt(backend);
    channel.emit('message', wrap<ToSuccessor>({ t: 'commit', count: 0 }));
    assert.deepEqual(await adopted, { adopted: 0 });
    channel.emit('message', wrap<ToSuccessor>({ t: 'abort', reason: 'hand-off called off' }));
    assert.equal(backend.activeListeners.size, 1);
    assert.equal(server.listening, true);
    const opened = once(backend, 'listenerOpen');
    const client = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port });
    await opened;
    client.destroy();
  } finally {
    await backend.shutdown();
  }
});

