/**
 * Defects found by checking the backend from outside, each with the test that
 * would have caught it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backend } from '../../src/backend.js';
import type { Connection } from '../../src/connection/connection.js';
import type { Listener } from '../../src/listen/listener.js';
import { LineClient, once } from '../helpers/net.js';

async function opened(backend: Backend, listener: Listener): Promise<{ client: LineClient; conn: Connection }> {
  const open = once(backend, 'listenerOpen');
  const client = await LineClient.connect(listener.port);
  const [conn] = await open;
  return { client, conn };
}

test('targets of the wrong type from a JavaScript caller are dropped like unknown ids, by every target-taking method', async () => {
  const backend = new Backend();
  try {
    const listener = await backend.createListener({ addr: '127.0.0.1', port: 0 });
    const { client, conn } = await opened(backend, listener);
    const bad = ['no-such-id', null, undefined, {}, { id: conn.id }, [conn.id + 1000], String(conn.id)] as unknown as number[];
    for (const t of bad) {
      assert.equal(backend.send({ command: 'PING', params: ['x'] }, t), 0, `send to ${JSON.stringify(t)}`);
      assert.equal(backend.sendLine('PING y', t), 0);
      assert.equal(backend.disconnect(t), false);
      assert.equal(backend.disconnectNow(t), false);
      assert.equal(backend.setCompressedLink(t), false);
      assert.equal(backend.setCompressedLinkNow(t), false);
      assert.equal(backend.unsetCompressedLink(t), false);
    }
    assert.equal(backend.broadcast({ command: 'PING', params: ['all'] }, 'nobody' as unknown as number), 1);
    // A list holding bad targets still reaches the good ones.
    assert.equal(backend.send({ command: 'PING', params: ['mixed'] }, ['x', conn, null] as unknown as number[]), 1);
    const lines = await client.waitLines(2);
    assert.deepEqual(lines, ['PING all', 'PING mixed']);
    assert.equal(conn.connected, true);
    await client.destroy();
  } finally {
    await backend.shutdown();
  }
});

test("a check hook's reason holding CR/LF cannot inject a line: the refusal is one formatted ERROR line", async () => {
  const backend = new Backend();
  try {
    const listener = await backend.createListener({
      addr: '127.0.0.1',
      port: 0,
      check: () => 'banned\r\nPRIVMSG #ops :owned\nQUIT\0x',
    });
    const refused = once(backend, 'connectionRefused');
    const client = await LineClient.connect(listener.port);
    const [refusal] = await refused;
    assert.equal(refusal.code, 'ERR_CHECK_REFUSED');
    await client.waitClosed();
    assert.equal(client.lines.length, 1, `one line only, got ${JSON.stringify(client.lines)}`);
    assert.match(client.lines[0] ?? '', /^ERROR :Closing link: 127\.0\.0\.1 \(banned PRIVMSG #ops :owned QUIT x\)$/);
  } finally {
    await backend.shutdown();
  }
});

test('an endless line is not read forever: past limits.readQ of one over-long line the peer is closed with ERR_READQ_EXCEEDED', async () => {
  const backend = new Backend();
  try {
    const listener = await backend.createListener({ addr: '127.0.0.1', port: 0, limits: { readQ: 256 * 1024 } });
    const errors: string[] = [];
    backend.on('inputError', (_c, e) => errors.push(e.code));
    const healthy = await opened(backend, listener);
    const flood = await opened(backend, listener);
    // An occasional long line is an inputError, and the connection goes on.
    const input = once(backend, 'input', { filter: (c) => c === flood.conn });
    flood.client.socket.write(`PRIVMSG #a :${'y'.repeat(16 * 1024)}\r\nPING after\r\n`);
    const [, msg] = await input;
    assert.equal(msg.command, 'PING');
    assert.deepEqual(errors, ['ERR_LINE_TOO_LONG']);
    // 10 MB with no LF at all is not.
    const gone = once(backend, 'disconnect', { filter: (c) => c === flood.conn, timeout: 10_000 });
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const pump = async (): Promise<void> => {
      for (let sent = 0; sent < 10 * 1024 * 1024 && !flood.client.closed; sent += chunk.length) {
        if (!flood.client.socket.write(chunk)) {
          await Promise.race([once(flood.client.socket, 'drain'), flood.client.waitClosed()]).catch(() => undefined);
        }
      }
    };
    const pumping = pump();
    const [conn, reason, err] = await gone;
    await pumping;
    assert.equal((err as { code?: string } | undefined)?.code, 'ERR_READQ_EXCEEDED');
    assert.equal(reason, 'Excess Flood');
    assert.ok(conn.bytesIn < 2 * 1024 * 1024, `closed after ${conn.bytesIn} bytes, well before 10 MB`);
    assert.deepEqual(errors, ['ERR_LINE_TOO_LONG', 'ERR_LINE_TOO_LONG'], 'the over-long line is reported once before the cut');
    // The other connection and the listener go on.
    const still = once(backend, 'input', { filter: (c) => c === healthy.conn });
    healthy.client.write('PING still');
    await still;
    const again = await opened(backend, listener);
    await again.client.destroy();
    await healthy.client.destroy();
  } finally {
    await backend.shutdown();
  }
});

test('shutdown resolves only once libuv has closed the listening handles (TCP and Unix)', async () => {
  const { mkdtempSync, rmSync, existsSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = mkdtempSync(path.join(tmpdir(), 'ircsock-shutdown-'));
  try {
    const servers = (): number =>
      process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap' || r === 'PipeWrap').length;
    const before = servers();
    const backend = new Backend();
    await backend.createListener({ addr: '127.0.0.1', port: 0 });
    await backend.createListener({ path: path.join(dir, 'irc.sock') });
    assert.equal(servers(), before + 2);
    await backend.shutdown();
    assert.equal(servers(), before, 'no listening handle left when shutdown resolves');
    assert.equal(existsSync(path.join(dir, 'irc.sock')), false, 'the socket file is gone');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
