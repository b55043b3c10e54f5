/**
 * `ircsock relay` on its other transports, over real sockets: Unix-domain
 * listeners (`--unix-listen`), listeners behind a PROXY protocol header
 * (`--proxy-listen`, `--proxy-tls-listen`, `--proxy-from`), the command line
 * that sets them up, and the bin run as its own process next to
 * `ircsock connect --unix`.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseRelayArgs, RELAY_USAGE } from '../../src/cli/relay/options.js';
import { startRelay } from '../../src/cli/relay/server.js';
import { once, until } from '../helpers/net.js';
import { localhostCert } from '../helpers/tls-cert.js';

const T = { timeout: 20_000 };

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A fresh directory for socket files; short, so the path fits `sun_path`. */
function socketDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ircsock-rt-'));
  dirs.push(dir);
  return dir;
}

/**
 * A raw IRC client over any stream socket (TCP, Unix, TLS): the lines it
 * received, and `expect` that consumes them up to the first match.
 */
class Peer {
  readonly socket: net.Socket;
  readonly lines: string[] = [];
  closed = false;
  #cursor = 0;
  #partial = '';

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      const parts = (this.#partial + text).split('\n');
      this.#partial = parts.pop() ?? '';
      for (const p of parts) {
        this.lines.push(p.endsWith('\r') ? p.slice(0, -1) : p);
        socket.emit('line');
      }
    });
    socket.on('error', () => {
      // The close that follows is what the tests look at.
    });
    socket.on('close', () => {
      this.closed = true;
      socket.emit('line');
    });
  }

  static async unix(file: string): Promise<Peer> {
    const s = net.connect({ path: file });
    await once(s, 'connect');
    return new Peer(s);
  }

  static async tcp(port: number, host = '127.0.0.1'): Promise<Peer> {
    const s = net.connect({ host, port });
    await once(s, 'connect');
    return new Peer(s);
  }

  /** TCP, then a PROXY header (and whatever is to follow it in the same write). */
  static async proxied(port: number, header: string, after = ''): Promise<Peer> {
    const s = net.connect({ host: '127.0.0.1', port });
    await once(s, 'connect');
    s.write(header + after);
    return new Peer(s);
  }

  send(...lines: string[]): void {
    this.socket.write(lines.map((l) => `${l}\r\n`).join(''));
  }

  async expect(re: RegExp): Promise<string> {
    const found: { line?: string } = {};
    const look = (): boolean => {
      found.line ??= this.#find(re);
      return found.line !== undefined || this.closed;
    };
    if (!look()) {
      try {
        await until(this.socket, 'line', look);
      } catch (err) {
        throw new Error(`no line matching ${String(re)}; unread:\n${this.lines.slice(this.#cursor).join('\n')}`, { cause: err });
      }
    }
    if (found.line === undefined) throw new Error(`closed before a line matching ${String(re)}; unread:\n${this.lines.slice(this.#cursor).join('\n')}`);
    return found.line;
  }

  async register(nick: string): Promise<string> {
    this.send(`NICK ${nick}`, `USER ${nick} 0 * :Real ${nick}`);
    const welcome = await this.expect(/ 001 /);
    await this.expect(/ 422 /);
    return welcome;
  }

  async waitClosed(): Promise<void> {
    await until(this.socket, 'line', () => this.closed);
  }

  async quit(): Promise<void> {
    if (!this.closed) this.send('QUIT :done');
    await this.waitClosed();
  }

  #find(re: RegExp): string | undefined {
    for (let i = this.#cursor; i < this.lines.length; i++) {
      const line = this.lines[i] as string;
      if (re.test(line)) {
        this.#cursor = i + 1;
        return line;
      }
    }
    return undefined;
  }
}

/** Waits until a log line matches; returns it. The log is an array the relay appends to. */
async function logged(logs: string[], re: RegExp, timeout = 5_000): Promise<string> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const hit = logs.find((l) => re.test(l));
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) throw new Error(`no log line matching ${String(re)}:\n${logs.join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('ircsock relay: Unix sockets', T, () => {
  test('a client on --unix-listen and one on TCP chat in a channel; the Unix one is localhost in 001, WHO, USERHOST and the log', async () => {
    const file = path.join(socketDir(), 'relay.sock');
    const logs: string[] = [];
    const relay = await startRelay({
      listen: [{ host: '127.0.0.1', port: 0 }],
      unixListen: [file],
      unixMode: 0o600,
      name: 'test.relay',
      log: (l) => logs.push(l),
    });
    try {
      assert.deepEqual(
        relay.listeners.map((l) => [l.kind, l.path]),
        [
          ['tcp', undefined],
          ['unix', file],
        ],
      );
      assert.equal(relay.ports[1], 0);
      assert.ok(statSync(file).isSocket());
      assert.equal(statSync(file).mode & 0o777, 0o600, '--unix-mode applied');

      const local = await Peer.unix(file);
      const remote = await Peer.tcp(relay.ports[0]!);
      assert.match(await local.register('unixer'), /^:test\.relay 001 unixer :Welcome .* unixer!~unixer@localhost$/);
      assert.match(await remote.register('tcper'), / 001 tcper :.* tcper!~tcper@127\.0\.0\.1$/);
      await logged(logs, new RegExp(`^connect #\\d+ from localhost on unix:${file.replace(/[.]/g, '\\.')}$`));

      local.send('JOIN #chat');
      await local.expect(/ 366 unixer #chat /);
      remote.send('JOIN #chat');
      assert.match(await remote.expect(/ 353 /), / 353 tcper = #chat :unixer tcper$/);
      await remote.expect(/ 366 tcper #chat /);
      assert.equal(await local.expect(/ JOIN /), ':tcper!~tcper@127.0.0.1 JOIN #chat');

      local.send('PRIVMSG #chat :hello from the socket file');
      assert.equal(await remote.expect(/ PRIVMSG /), ':unixer!~unixer@localhost PRIVMSG #chat :hello from the socket file');
      remote.send('PRIVMSG #chat :and back over TCP');
      assert.equal(await local.expect(/ PRIVMSG /), ':tcper!~tcper@127.0.0.1 PRIVMSG #chat :and back over TCP');

      remote.send('WHO #chat');
      const who = [await remote.expect(/ 352 /), await remote.expect(/ 352 /)].sort();
      assert.match(who[0]!, / 352 tcper #chat ~tcper 127\.0\.0\.1 test\.relay tcper H :0 Real tcper$/);
      assert.match(who[1]!, / 352 tcper #chat ~unixer localhost test\.relay unixer H :0 Real unixer$/);
      remote.send('USERHOST unixer');
      await remote.expect(/ 302 tcper :?unixer=\+~unixer@localhost$/);

      await local.quit();
      assert.equal(await remote.expect(/ QUIT /), ':unixer!~unixer@localhost QUIT :Quit: done');
      await logged(logs, /^disconnect #\d+ unixer from localhost: Quit: done$/);
      await remote.quit();
    } finally {
      await relay.close();
    }
    assert.ok(!existsSync(file), 'the socket file is removed when the relay closes');
  });

  test('a stale socket file (a relay that died) is replaced; a live one is never taken', async () => {
    const file = path.join(socketDir(), 'stale.sock');
    // A process killed outright leaves its socket file behind, with nobody listening on it.
    const killed = spawn(
      process.execPath,
      ['-e', `require('node:net').createServer().listen(${JSON.stringify(file)}, () => process.kill(process.pid, 'SIGKILL'))`],
      { stdio: 'ignore' },
    );
    await once(killed, 'close', { timeout: 10_000 });
    assert.ok(statSync(file).isSocket(), 'a socket file nobody listens on');

    const relay = await startRelay({ unixListen: [file] });
    try {
      const p = await Peer.unix(file);
      assert.match(await p.register('fresh'), /fresh!~fresh@localhost$/);
      await p.quit();
      await assert.rejects(startRelay({ unixListen: [file] }), (err: NodeJS.ErrnoException) => err.code === 'EADDRINUSE');
    } finally {
      await relay.close();
    }
  });
});

describe('ircsock relay: PROXY listeners', T, () => {
  test('a PROXY v1 header: 001, WHO, USERHOST and the log show the client it names, via the proxy', async () => {
    const logs: string[] = [];
    const relay = await startRelay({ proxyListen: [{ host: '127.0.0.1', port: 0 }], name: 'test.relay', log: (l) => logs.push(l) });
    try {
      assert.equal(relay.listeners.length, 1, 'no default TCP listener next to a PROXY one');
      assert.ok(relay.listeners[0]!.proxy);
      const port = relay.ports[0]!;
      const p = await Peer.proxied(port, 'PROXY TCP4 198.51.100.20 127.0.0.1 5555 6667\r\n');
      assert.match(await p.register('proxied'), /^:test\.relay 001 proxied :Welcome .* proxied!~proxied@198\.51\.100\.20$/);
      p.send('JOIN #behind', 'WHO #behind');
      assert.match(await p.expect(/ 352 /), / 352 proxied #behind ~proxied 198\.51\.100\.20 test\.relay proxied H :0 Real proxied$/);
      p.send('USERHOST proxied');
      await p.expect(/ 302 proxied :?proxied=\+~proxied@198\.51\.100\.20$/);
      const connect = await logged(logs, /^connect #\d+ from 198\.51\.100\.20:5555 /);
      assert.match(connect, new RegExp(`^connect #\\d+ from 198\\.51\\.100\\.20:5555 via 127\\.0\\.0\\.1:\\d+ on 127\\.0\\.0\\.1:${port} \\(proxy\\)$`));

      // IPv6 behind the header, the header and the first lines in one write.
      const q = await Peer.proxied(port, 'PROXY TCP6 2001:db8::7 ::1 40000 6667\r\n', 'NICK six\r\nUSER six 0 * :Six\r\n');
      assert.match(await q.expect(/ 001 /), / 001 six :.* six!~six@2001:db8::7$/);
      q.send('JOIN #behind');
      assert.equal(await q.expect(/ JOIN /), ':six!~six@2001:db8::7 JOIN #behind');
      assert.equal(await p.expect(/ JOIN /), ':six!~six@2001:db8::7 JOIN #behind');
      p.send('WHO six');
      assert.match(await p.expect(/ 352 /), / 352 proxied \* ~six 2001:db8::7 test\.relay six H :0 Six$/);

      await q.quit();
      await logged(logs, /^disconnect #\d+ six from \[2001:db8::7\]:40000 via 127\.0\.0\.1:\d+: Quit: done$/);

      // No header: the proxy is speaking nonsense; nothing is read as IRC, and the refusal is logged.
      const bare = await Peer.tcp(port);
      bare.send('NICK sneaky', 'USER sneaky 0 * :S');
      await bare.waitClosed();
      assert.deepEqual(bare.lines, []);
      await logged(logs, new RegExp(`^refused 127\\.0\\.0\\.1:\\d+ on 127\\.0\\.0\\.1:${port} \\(proxy\\): Invalid PROXY header \\(ERR_PROXY_INVALID\\)$`));
      await p.quit();
    } finally {
      await relay.close();
    }
  });

  test('a source outside --proxy-from is refused before anything is read; one inside is taken', async () => {
    const logs: string[] = [];
    const relay = await startRelay({
      proxyListen: [{ host: '127.0.0.1', port: 0 }],
      proxyFrom: ['192.0.2.0/24'],
      log: (l) => logs.push(l),
    });
    try {
      const port = relay.ports[0]!;
      const p = await Peer.proxied(port, 'PROXY TCP4 198.51.100.20 127.0.0.1 5555 6667\r\n', 'NICK untrusted\r\nUSER u 0 * :U\r\n');
      await p.waitClosed();
      assert.deepEqual(p.lines, [], 'closed without a word');
      await logged(logs, new RegExp(`^refused 127\\.0\\.0\\.1:\\d+ on 127\\.0\\.0\\.1:${port} \\(proxy\\): Untrusted proxy \\(ERR_PROXY_UNTRUSTED\\)$`));
      assert.ok(!logs.some((l) => l.startsWith('connect ')), logs.join('\n'));
      assert.equal(relay.clientCount, 0);
    } finally {
      await relay.close();
    }

    const trusting = await startRelay({ proxyListen: [{ host: '127.0.0.1', port: 0 }], proxyFrom: ['192.0.2.0/24', '127.0.0.1'] });
    try {
      const p = await Peer.proxied(trusting.ports[0]!, 'PROXY TCP4 192.0.2.44 127.0.0.1 1234 6667\r\n');
      assert.match(await p.register('trusted'), /trusted!~trusted@192\.0\.2\.44$/);
      await p.quit();
    } finally {
      await trusting.close();
    }

    // A bad entry never reaches a bind: the listener refuses it.
    await assert.rejects(startRelay({ proxyListen: [{ host: '127.0.0.1', port: 0 }], proxyFrom: ['10.0.0.1/8'] }), /has bits set past its prefix/);
  });

  test('--proxy-tls-listen: the header in the clear, then TLS, then IRC', async () => {
    const cert = localhostCert();
    const logs: string[] = [];
    const relay = await startRelay({
      proxyTlsListen: [{ host: '127.0.0.1', port: 0 }],
      tlsCert: cert.cert,
      tlsKey: cert.key,
      log: (l) => logs.push(l),
    });
    try {
      const port = relay.ports[0]!;
      assert.ok(relay.listeners[0]!.proxy && relay.listeners[0]!.tls);
      const raw = net.connect({ host: '127.0.0.1', port });
      await once(raw, 'connect');
      raw.write('PROXY TCP4 203.0.113.9 127.0.0.1 40001 6697\r\n');
      const secure = tls.connect({ socket: raw, ca: cert.cert, servername: 'localhost' });
      await once(secure, 'secureConnect');
      const p = new Peer(secure);
      assert.match(await p.register('secret'), / 001 secret :.* secret!~secret@203\.0\.113\.9$/);
      assert.match(
        await logged(logs, /^connect /),
        new RegExp(`^connect #\\d+ from 203\\.0\\.113\\.9:40001 via 127\\.0\\.0\\.1:\\d+ on 127\\.0\\.0\\.1:${port} \\(proxy, tls\\)$`),
      );
      await p.quit();

      // TLS straight away, no header: a TLS hello is no PROXY header.
      const direct = tls.connect({ host: '127.0.0.1', port, ca: cert.cert, servername: 'localhost' });
      const failed = await Promise.race([once(direct, 'error').then(() => true), once(direct, 'close').then(() => true)]);
      assert.ok(failed);
      direct.destroy();
      await logged(logs, /^refused 127\.0\.0\.1:\d+ on .* \(proxy, tls\): Invalid PROXY header \(ERR_PROXY_INVALID\)$/);
    } finally {
      await relay.close();
    }
  });
});

describe('ircsock relay: the command line for the new listeners', T, () => {
  const dir = socketDir();
  const cert = localhostCert();

  test('parses --unix-listen, --unix-mode, --proxy-listen, --proxy-tls-listen and --proxy-from, each repeatable', () => {
    const args = parseRelayArgs([
      '--unix-listen', path.join(dir, 'a.sock'),
      '--unix-listen', path.join(dir, 'b.sock'),
      '--unix-mode', '660',
      '--proxy-listen', '127.0.0.1:7000',
      '--proxy-listen', '[::1]:7000',
      '--proxy-tls-listen', '7001',
      '--tls-cert', cert.certPath,
      '--tls-key', cert.keyPath,
      '--proxy-from', '10.0.0.0/8',
      '--proxy-from', ' 2001:db8::/32 ',
      '--proxy-from', '127.0.0.1',
    ]);
    assert.equal(args.kind, 'run');
    const o = args.options;
    assert.deepEqual(o.unixListen, [path.join(dir, 'a.sock'), path.join(dir, 'b.sock')]);
    assert.equal(o.unixMode, 0o660);
    assert.deepEqual(o.proxyListen, [
      { host: '127.0.0.1', port: 7000 },
      { host: '::1', port: 7000 },
    ]);
    assert.deepEqual(o.proxyTlsListen, [{ host: '127.0.0.1', port: 7001 }]);
    assert.deepEqual(o.proxyFrom, ['10.0.0.0/8', '2001:db8::/32', '127.0.0.1']);
    assert.equal(o.listen, undefined, 'no --listen: only the listeners asked for');
    for (const mode of ['0660', '0o660']) {
      const again = parseRelayArgs(['--unix-listen', path.join(dir, 'c.sock'), '--unix-mode', mode]);
      assert.equal(again.kind === 'run' ? again.options.unixMode : undefined, 0o660, mode);
    }
    for (const flag of ['--unix-listen PATH', '--unix-mode MODE', '--proxy-listen HOST:PORT', '--proxy-tls-listen HOST:PORT', '--proxy-from CIDR']) {
      assert.ok(RELAY_USAGE.includes(flag), flag);
    }
    assert.match(RELAY_USAGE, /'localhost'/);
  });

  const long = path.join(dir, 'x'.repeat(120));
  const bad: [string[], RegExp][] = [
    [['--proxy-listen', '0', '--proxy-from', '10.0.0.1/8'], /^--proxy-from "10\.0\.0\.1\/8" has bits set past its prefix; write "10\.0\.0\.0\/8"/],
    [['--proxy-listen', '0', '--proxy-from', 'example.com'], /^--proxy-from "example\.com" is not an IPv4 or IPv6 address or CIDR block/],
    [['--proxy-listen', '0', '--proxy-from', '10.0.0.0/33'], /^--proxy-from "10\.0\.0\.0\/33" has an invalid prefix length/],
    [['--proxy-from', '127.0.0.1'], /^--proxy-from goes with --proxy-listen or --proxy-tls-listen/],
    [['--proxy-listen', 'nowhere'], /^--proxy-listen "nowhere": expected HOST:PORT/],
    [['--proxy-tls-listen', '7001'], /^--proxy-tls-listen needs --tls-cert FILE and --tls-key FILE$/],
    [['--tls-cert', 'x'], /go with --tls-listen or --proxy-tls-listen/],
    [['--unix-mode', '660'], /^--unix-mode goes with --unix-listen PATH$/],
    [['--unix-listen', path.join(dir, 'm.sock'), '--unix-mode', '999'], /^--unix-mode "999": give an octal file mode/],
    [['--unix-listen', '/nonexistent-dir/r.sock'], /^--unix-listen \/nonexistent-dir\/r\.sock: no directory \/nonexistent-dir \(ENOENT\)$/],
    [['--unix-listen', long], /: too long for a Unix socket \(\d+ bytes, at most \d+\)/],
    [['--unix-listen', ''], /^--unix-listen: give the path/],
  ];
  for (const [argv, message] of bad) {
    test(`refuses ${JSON.stringify(argv.map((a) => (a.length > 40 ? `${a.slice(0, 20)}…` : a)))}, naming the flag`, () => {
      const args = parseRelayArgs(argv);
      assert.equal(args.kind, 'error');
      assert.match(args.message, message);
    });
  }
});

describe('ircsock relay: the bin, with ircsock connect --unix', T, () => {
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

  /** Runs `ircsock relay ...` and resolves once it has logged where it listens. */
  async function spawnRelay(args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; out: () => string; listening: string }> {
    const child = spawn(process.execPath, [main, 'relay', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      child.emit('out');
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    try {
      await until(child, 'out', () => / listening on .*\n/.test(out), 10_000);
    } catch (e) {
      child.kill();
      throw new Error(`the relay did not start: ${err}`, { cause: e });
    }
    return { child, out: () => out, listening: / listening on (.*)\n/.exec(out)![1]! };
  }

  test('relay --unix-listen --unix-mode --proxy-listen --listen: ports from the log; connect --unix chats with a proxied client', async (t) => {
    if (!existsSync(main)) {
      t.skip(`${main} is not built yet`);
      return;
    }
    const file = path.join(socketDir(), 'bin.sock');
    const relay = await spawnRelay(['--unix-listen', file, '--unix-mode', '660', '--proxy-listen', '127.0.0.1:0', '--listen', '127.0.0.1:0', '--flood', 'off']);
    const exited = once(relay.child, 'close', { timeout: 15_000 });
    try {
      // In the order of the kinds: plain TCP, Unix, PROXY.
      const m = /^127\.0\.0\.1:(\d+), unix:(\S+), 127\.0\.0\.1:(\d+) \(proxy\)$/.exec(relay.listening);
      assert.ok(m !== null, relay.listening);
      assert.equal(m[2], file);
      assert.equal(statSync(file).mode & 0o777, 0o660);
      const proxyPort = Number(m[3]);

      const proxied = await Peer.proxied(proxyPort, 'PROXY TCP4 198.51.100.20 127.0.0.1 5555 6667\r\n');
      assert.match(await proxied.register('far'), / 001 far :.* far!~far@198\.51\.100\.20$/);
      proxied.send('JOIN #bin');
      await proxied.expect(/ 366 far #bin /);

      const con = spawn(process.execPath, [main, 'connect', '--unix', file, '--nick', 'near', '--join', '#bin'], { stdio: ['pipe', 'pipe', 'pipe'] });
      const conClosed = once(con, 'close', { timeout: 10_000 });
      let out = '';
      let err = '';
      con.stdout.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        con.emit('out');
      });
      con.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
      await until(con, 'out', () => / 366 near #bin /.test(out), 10_000);
      assert.match(out, /^:ircsock\.relay 001 near :Welcome .* near!~near@localhost$/m);
      assert.equal(await proxied.expect(/ JOIN /), ':near!~near@localhost JOIN #bin');

      proxied.send('PRIVMSG #bin :hello, near');
      await until(con, 'out', () => out.includes('PRIVMSG'), 10_000);
      assert.match(out, /^:far!~far@198\.51\.100\.20 PRIVMSG #bin :hello, near$/m);
      con.stdin.write('PRIVMSG #bin :hello, far\n');
      assert.equal(await proxied.expect(/ PRIVMSG /), ':near!~near@localhost PRIVMSG #bin :hello, far');
      proxied.send('WHO #bin');
      const who = [await proxied.expect(/ 352 /), await proxied.expect(/ 352 /)].join('\n');
      assert.match(who, / 352 far #bin ~near localhost ircsock\.relay near H :0 ircsock connect/);
      assert.match(who, / 352 far #bin ~far 198\.51\.100\.20 ircsock\.relay far H :0 Real far/);

      con.stdin.end();
      const [code] = await conClosed;
      assert.equal(code, 0, err);
      await proxied.quit();

      const log = relay.out();
      assert.match(log, /Z connect #\d+ from 198\.51\.100\.20:5555 via 127\.0\.0\.1:\d+ on 127\.0\.0\.1:\d+ \(proxy\)\n/);
      assert.match(log, new RegExp(`Z connect #\\d+ from localhost on unix:${file.replace(/[.]/g, '\\.')}\\n`));
      assert.match(log, /Z disconnect #\d+ near from localhost: Client Quit\n/);
    } finally {
      relay.child.kill('SIGTERM');
    }
    const [code] = await exited;
    assert.equal(code, 0);
    assert.ok(!existsSync(file), 'the relay removed its socket file on the way out');
  });

  test('a bad --proxy-from stops the relay at startup: exit 2, one line naming the flag', async (t) => {
    if (!existsSync(main)) {
      t.skip(`${main} is not built yet`);
      return;
    }
    const child = spawn(process.execPath, [main, 'relay', '--proxy-listen', '127.0.0.1:0', '--proxy-from', '192.0.2.1/24'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const [code] = await once(child, 'close', { timeout: 10_000 });
    assert.equal(code, 2);
    assert.match(err, /^ircsock relay: --proxy-from "192\.0\.2\.1\/24" has bits set past its prefix; .* \(see ircsock relay --help\)\n$/);
  });
});
