/**
 * Restarting the relay without dropping anyone, with real processes:
 * `kill -USR2` hands 50 chatting clients to a successor; TLS clients stay on
 * the old process and drain while new ones land on the successor; and the
 * relay started by Debian's `systemd-socket-activate` serves the inherited
 * socket (with `--fdname`, i.e. LISTEN_FDNAMES), through a hand-off too.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { IrcClient, RELAY_MAIN, RelayProcess } from '../helpers/relay-process.js';
import { localhostCert } from '../helpers/tls-cert.js';

const T = { timeout: 30_000 };
const ACTIVATE = '/usr/bin/systemd-socket-activate';
const running: RelayProcess[] = [];
const dirs: string[] = [];

after(() => {
  for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function relay(args: readonly string[]): RelayProcess {
  const r = RelayProcess.relay(args);
  running.push(r);
  return r;
}

/** Sends SIGUSR2 and returns the successor's pid from the one hand-off line. */
async function handOver(r: RelayProcess, expect: RegExp): Promise<number> {
  r.child.kill('SIGUSR2');
  const m = await r.waitLog(/hand-off to pid (\d+): (.*)\n/);
  assert.match(m[2] as string, expect);
  return Number(m[1]);
}

/** Stops the successor (not our child: by pid) and waits for the shared output to end. */
async function stopSuccessor(r: RelayProcess, pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  await r.waitEnded();
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

describe('relay restarts', () => {
  test('50 clients chatting through a SIGUSR2 hand-off: none dropped, every line once and in order, the successor serving', T, async () => {
    const r = relay(['--listen', '127.0.0.1:0', '--flood', 'off', '--idle', '0']);
    const port = Number((await r.waitLog(/listening on 127\.0\.0\.1:(\d+)/))[1]);
    const N = 50;
    const MESSAGES = 16;
    const clients = await Promise.all(Array.from({ length: N }, () => IrcClient.tcp(port)));
    await Promise.all(clients.map((c, i) => c.register(`c${i}`, '#h')));
    // Everyone is in the channel: one line reaches all the others.
    clients[0]?.send('PRIVMSG #h :sync\r\n');
    await Promise.all(clients.slice(1).map((c) => c.waitFor((l) => l.some((x) => /PRIVMSG #h :?sync$/.test(x)), 'the sync line')));
    const got = clients.map(() => new Map<number, number[]>());
    for (const [i, c] of clients.entries()) {
      c.onLine = (line) => {
        const m = /^:c(\d+)!\S+ PRIVMSG #h :m (\d+) (\d+)$/.exec(line);
        if (m === null) return;
        const from = Number(m[1]);
        const list = got[i]?.get(from) ?? [];
        list.push(Number(m[3]));
        got[i]?.set(from, list);
      };
    }
    // A steady rate: each client a line every 100 ms, the hand-off a few lines in.
    let seq = 0;
    const ticker = setInterval(() => {
      if (seq >= MESSAGES) return;
      for (const [i, c] of clients.entries()) c.send(`PRIVMSG #h :m ${i} ${seq}\r\n`);
      seq++;
    }, 100);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const oldPid = r.child.pid as number;
    const newPid = await handOver(r, new RegExp(`^${N} moved, 0 draining, 1 listeners`));
    assert.notEqual(newPid, oldPid);
    await r.waitLog(/drained; exiting/);
    const [code] = await new Promise<[number | null]>((resolve) => r.child.once('exit', (c) => {
      resolve([c]);
    }));
    assert.equal(code, 0, 'the old process exits by itself');
    try {
      const expected = Array.from({ length: MESSAGES }, (_, k) => k);
      await Promise.all(
        clients.map((c, i) =>
          c.waitFor(() => [...Array(N).keys()].every((j) => j === i || (got[i]?.get(j)?.length ?? 0) >= MESSAGES), `every line at c${i}`, 15_000),
        ),
      );
      for (const [i, map] of got.entries()) {
        for (let j = 0; j < N; j++) if (j !== i) assert.deepEqual(map.get(j), expected, `c${i} from c${j}`);
      }
      for (const c of clients) assert.equal(c.closed, false);
      assert.ok(!r.log.includes('disconnect #'), 'nobody was disconnected');
      // The clients kept nick, user and channel on the successor.
      clients[0]?.send('WHOIS c1\r\nNAMES #h\r\n');
      await clients[0]?.waitFor((l) => l.some((x) => / 311 c0 c1 ~?c1 127\.0\.0\.1 /.test(x)), 'WHOIS c1 from the successor');
      await clients[0]?.waitFor((l) => l.some((x) => x.includes(' 366 c0 #h ')), 'NAMES');
      assert.ok(alive(newPid) && !alive(oldPid));
      const late = await IrcClient.tcp(port);
      await late.register('late', '#h');
      late.socket.destroy();
    } finally {
      clearInterval(ticker);
      for (const c of clients) c.socket.destroy();
      await stopSuccessor(r, newPid);
    }
  });

  test('TLS clients stay on the old process and drain; plain ones and new TLS ones are the successor\'s', T, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ircsock-ho-'));
    dirs.push(dir);
    const { cert, key } = localhostCert();
    writeFileSync(path.join(dir, 'cert.pem'), cert);
    writeFileSync(path.join(dir, 'key.pem'), key);
    const r = relay([
      '--listen', '127.0.0.1:0', '--tls-listen', '127.0.0.1:0',
      '--tls-cert', path.join(dir, 'cert.pem'), '--tls-key', path.join(dir, 'key.pem'),
      '--flood', 'off', '--idle', '0', '--drain-timeout', '20',
    ]);
    const m = await r.waitLog(/listening on 127\.0\.0\.1:(\d+), 127\.0\.0\.1:(\d+) \(tls\)/);
    const [plainPort, tlsPort] = [Number(m[1]), Number(m[2])];
    const plain = await IrcClient.tcp(plainPort);
    await plain.register('plain', '#h');
    const secure = await IrcClient.tls(tlsPort, cert);
    await secure.register('secure', '#h');
    const newPid = await handOver(r, /^1 moved, 1 draining, 2 listeners/);
    try {
      await secure.waitFor((l) => l.some((x) => x.includes('NOTICE secure :This server is restarting')), 'the reconnect notice');
      // Still served by the old process while it drains.
      secure.send('PING :still\r\n');
      await secure.waitFor((l) => l.some((x) => x.endsWith('PONG ircsock.relay :still') || x.endsWith('PONG ircsock.relay still')), 'PONG from the old process');
      plain.send('PRIVMSG #h :hello from the successor side\r\nNAMES #h\r\n');
      await plain.waitFor((l) => l.some((x) => x.includes(' 366 plain #h ')), 'NAMES on the successor');
      secure.send('QUIT :bye\r\n');
      await r.waitLog(/drained; exiting/);
      await new Promise((resolve) => r.child.once('exit', resolve));
      // The old process is gone: a new TLS client can only be the successor's.
      const again = await IrcClient.tls(tlsPort, cert);
      await again.register('again', '#h');
      await again.waitFor((l) => l.some((x) => / 353 again = #h :.*plain/.test(x)), 'plain in #h, on the successor');
      again.socket.destroy();
      assert.equal(plain.closed, false);
    } finally {
      plain.socket.destroy();
      secure.socket.destroy();
      await stopSuccessor(r, newPid);
    }
  });

  test('socket activation by systemd-socket-activate, with --fdname (LISTEN_FDNAMES), then a hand-off', { ...T, skip: !existsSync(ACTIVATE) && `${ACTIVATE} is not installed (apt-get install systemd)` }, async () => {
    const port = await freePort();
    const r = new RelayProcess(ACTIVATE, ['-l', `127.0.0.1:${port}`, '--fdname=irc', process.execPath, RELAY_MAIN, 'relay', '--flood', 'off', '--idle', '0']);
    running.push(r);
    await r.waitLog(/Listening on 127\.0\.0\.1:\d+ as 3/);
    // systemd-socket-activate starts the relay on the first connection: it waits in the kernel meanwhile.
    const first = await IrcClient.tcp(port);
    first.send('NICK first\r\nUSER first 0 * :first\r\n');
    await first.waitFor((l) => l.some((x) => / 001 first /.test(x)), '001 from the activated relay');
    const listening = (await r.waitLog(/listening on (.*)\n/))[1] as string;
    assert.equal(listening, `127.0.0.1:${port}`, 'it serves the inherited socket, not its default --listen');
    assert.ok(!r.log.includes('8067'), 'no default WebSocket listener either');
    const newPid = await handOver(r, /^1 moved, 0 draining, 1 listeners/);
    try {
      first.send('PING :after\r\n');
      await first.waitFor((l) => l.some((x) => x.includes('PONG') && x.includes('after')), 'PONG from the successor');
      const second = await IrcClient.tcp(port);
      await second.register('second');
      second.socket.destroy();
    } finally {
      first.socket.destroy();
      await stopSuccessor(r, newPid);
    }
  });

  test('readiness through systemd-notify: READY=1, MAINPID= the successor after a hand-off, STOPPING=1', { ...T, skip: (!existsSync('/usr/bin/systemd-notify') || !existsSync('/usr/bin/python3')) && 'systemd-notify or python3 is not installed' }, async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ircsock-nt-'));
    dirs.push(dir);
    const sock = path.join(dir, 'notify');
    // Node has no Unix datagram sockets: a tiny Python receiver plays systemd's part.
    const receiver = spawn('/usr/bin/python3', ['-u', '-c', [
      'import socket, sys',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      `s.bind(${JSON.stringify(sock)})`,
      'print("bound", flush=True)',
      'while True: print(s.recv(4096).decode().replace("\\n", " "), flush=True)',
    ].join('\n')], { stdio: ['ignore', 'pipe', 'inherit'] });
    let got = '';
    receiver.stdout.on('data', (b: Buffer) => (got += b.toString()));
    const waitGot = async (re: RegExp): Promise<RegExpExecArray> => {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const m = re.exec(got);
        if (m !== null) return m;
        if (Date.now() > deadline) throw new Error(`no ${String(re)} in ${got}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    try {
      await waitGot(/bound/);
      const r = new RelayProcess(process.execPath, [RELAY_MAIN, 'relay', '--listen', '127.0.0.1:0', '--idle', '0'], { ...process.env, NOTIFY_SOCKET: sock });
      running.push(r);
      await waitGot(new RegExp(`MAINPID=${r.child.pid ?? 0} READY=1`));
      const port = Number((await r.waitLog(/listening on 127\.0\.0\.1:(\d+)/))[1]);
      const c = await IrcClient.tcp(port);
      await c.register('n1');
      const newPid = await handOver(r, /^1 moved/);
      await waitGot(new RegExp(`MAINPID=${newPid} STATUS=handed over`));
      // The successor says it is ready too, in its own name.
      await waitGot(new RegExp(`MAINPID=${newPid} READY=1`));
      await r.waitLog(/drained; exiting/);
      c.socket.destroy();
      process.kill(newPid, 'SIGTERM');
      await waitGot(new RegExp(`MAINPID=${newPid} STOPPING=1`));
      await r.waitEnded();
    } finally {
      receiver.kill();
    }
  });
});
