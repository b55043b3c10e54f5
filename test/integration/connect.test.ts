/**
 * `ircsock connect` against real loopback servers (an ircsock listener, or
 * plain `net` where the server must misbehave), with stdin, stdout and stderr
 * injected as in-memory streams; and once through the real bin.
 */
import { after, describe, test } from 'node:test';
import tls from 'node:tls';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Backend, type Connection, type Listener } from '../../src/index.js';
import { runConnect, type ConnectTuning } from '../../src/cli/connect.js';
import { parseHostPort } from '../../src/cli/connect/options.js';
import { startRelay } from '../../src/cli/relay/server.js';
import { closedPort, hasIPv6, once, until } from '../helpers/net.js';
import { microsocksSkip, startMicrosocks } from '../helpers/microsocks.js';
import { localhostCert, wrongNameCert, type TestCert } from '../helpers/tls-cert.js';

const T = { timeout: 15_000 };

/** A writable end for runConnect that keeps all it was given, and says when more came. */
class Capture extends PassThrough {
  text = '';

  constructor() {
    super();
    this.setEncoding('utf8');
    this.on('data', (s: string) => {
      this.text += s;
      this.emit('text');
    });
  }

  get lines(): string[] {
    return this.text.split('\n').slice(0, -1);
  }

  async waitFor(predicate: (text: string) => boolean): Promise<void> {
    await until(this, 'text', () => predicate(this.text));
  }
}

/** A tiny IRC server: an ircsock listener that records every line it receives. */
class TestServer {
  readonly backend = new Backend();
  readonly lines: string[] = [];
  listener!: Listener;

  constructor() {
    this.backend.on('input', (_conn, msg) => {
      this.lines.push(msg.raw ?? msg.toString());
    });
  }

  static async start(opts: { cert?: TestCert; addr?: string; path?: string } = {}): Promise<TestServer> {
    const s = new TestServer();
    const { cert } = opts;
    s.listener = await s.backend.createListener({
      ...(opts.path !== undefined ? { path: opts.path } : { addr: opts.addr ?? '127.0.0.1', port: 0 }),
      idle: 0,
      ...(cert === undefined ? {} : { tls: { key: cert.key, cert: cert.cert } }),
    });
    return s;
  }

  get port(): number {
    return this.listener.port;
  }

  /** Resolves with the first received line matching, waiting for it if need be. */
  async waitLine(predicate: (line: string) => boolean): Promise<string> {
    await until(this.backend, 'input', () => this.lines.some(predicate));
    return this.lines.find(predicate) as string;
  }

  send(conn: Connection, ...lines: string[]): void {
    for (const l of lines) this.backend.sendLine(l, conn);
  }

  /** Closes each connection once its QUIT arrives, as a server does. */
  closeOnQuit(): void {
    this.backend.on('input', (conn, msg) => {
      if (msg.command === 'QUIT') this.backend.disconnect(conn, 'Quit');
    });
  }

  close(): Promise<void> {
    return this.backend.shutdown();
  }
}

/** Waits for the writer to drain, or for its reader to pause: whichever comes first, no timer left behind. */
function drainOrPause(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('pause', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('pause', done);
  });
}

interface Run {
  stdin: PassThrough;
  stdout: Capture;
  stderr: Capture;
  exit: Promise<number>;
}

function start(argv: string[], tuning: ConnectTuning = {}): Run {
  const stdin = new PassThrough();
  const stdout = new Capture();
  const stderr = new Capture();
  return { stdin, stdout, stderr, exit: runConnect(argv, { stdin, stdout, stderr }, tuning) };
}

/** Starts the console against the server and resolves with the server's side of the connection. */
async function connect(server: TestServer, args: string[] = [], tuning?: ConnectTuning): Promise<Run & { conn: Connection }> {
  const opened = once(server.backend, 'listenerOpen');
  const run = start([`127.0.0.1:${server.port}`, ...args], tuning);
  const [conn] = await opened;
  return { ...run, conn };
}

describe('ircsock connect: the console', T, () => {
  test('prints received lines as they came, sends typed lines, refuses unparsable ones, answers PING, QUITs at EOF', async () => {
    const server = await TestServer.start();
    server.closeOnQuit();
    const run = await connect(server);
    const received = [
      ':irc.test NOTICE * :*** Looking up your hostname',
      '@time=2024-01-01T00:00:00.000Z;+x=a\\sb :nick!u@h PRIVMSG #c :tagged, spaced  twice ',
      ':irc.test   005   me  CASEMAPPING=rfc1459 :are supported',
    ];
    server.send(run.conn, ...received);
    await run.stdout.waitFor((t) => t.split('\n').length > received.length);
    assert.deepEqual(run.stdout.lines, received, 'each line printed exactly as the server sent it');

    run.stdin.write('PRIVMSG #c :hello there\n');
    run.stdin.write(': no command here\r\n');
    run.stdin.write('\n   \n');
    run.stdin.write('privmsg #c :bad\rsplit\n');
    run.stdin.write('NOTICE #c :after\r\n');
    await server.waitLine((l) => l.startsWith('NOTICE'));
    assert.deepEqual(server.lines, ['PRIVMSG #c :hello there', 'NOTICE #c :after']);
    const refused = run.stderr.lines;
    assert.equal(refused.length, 2, run.stderr.text);
    assert.match(refused[0]!, /^ircsock connect: not sent: .*\(ERR_IRC_PARSE\): ": no command here"$/);
    assert.match(refused[1]!, /^ircsock connect: not sent: .*\(ERR_IRC_PARSE\): "privmsg #c :bad\\rsplit"$/);

    server.send(run.conn, 'PING :irc.test token');
    assert.equal(await server.waitLine((l) => l.startsWith('PONG')), 'PONG :irc.test token');
    assert.equal(run.stdout.lines.at(-1), 'PING :irc.test token', 'the PING is printed too');

    run.stdin.end();
    assert.equal(await run.exit, 0);
    assert.equal(server.lines.at(-1), 'QUIT');
    assert.equal(run.stderr.lines.length, 2, 'nothing more on stderr after a clean QUIT');
    await server.close();
  });

  test('--nick registers with NICK and USER; --join is sent only after 001, in order', async () => {
    const server = await TestServer.start();
    server.closeOnQuit();
    const run = await connect(server, ['--nick', 'tester', '--join', '#one', '--join', '#two']);
    await server.waitLine((l) => l.startsWith('USER'));
    // A PING round trip after USER: a JOIN sent before 001 would have arrived by now.
    server.send(run.conn, 'PING :x');
    await server.waitLine((l) => l.startsWith('PONG'));
    assert.deepEqual(server.lines, ['NICK tester', 'USER tester 0 * :ircsock connect', 'PONG x']);

    server.send(run.conn, ':irc.test 001 tester :Welcome');
    await server.waitLine((l) => l === 'JOIN #two');
    assert.deepEqual(server.lines.slice(3), ['JOIN #one', 'JOIN #two']);
    // A second 001 (servers do not, but a console must not repeat itself).
    server.send(run.conn, ':irc.test 001 tester :Welcome again', 'PING :y');
    await server.waitLine((l) => l === 'PONG y');
    assert.equal(server.lines.filter((l) => l.startsWith('JOIN')).length, 2);

    run.stdin.end();
    assert.equal(await run.exit, 0);
    await server.close();
  });

  test('--user and --realname; --timestamps prefixes each printed line with an ISO time', async () => {
    const server = await TestServer.start();
    server.closeOnQuit();
    const run = await connect(server, ['--nick', 'n', '--user', 'u', '--realname', 'Real Name', '--timestamps']);
    await server.waitLine((l) => l.startsWith('USER'));
    assert.deepEqual(server.lines, ['NICK n', 'USER u 0 * :Real Name']);
    server.send(run.conn, ':irc.test NOTICE n :hi');
    await run.stdout.waitFor((t) => t.includes('\n'));
    assert.match(run.stdout.lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z :irc\.test NOTICE n :hi$/);
    run.stdin.end();
    assert.equal(await run.exit, 0);
    await server.close();
  });

  test('a line the server sends that does not parse, or is too long, is a note on stderr, not the end', async () => {
    const server = await TestServer.start();
    server.closeOnQuit();
    const run = await connect(server);
    server.send(run.conn, ':irc.test', `:irc.test NOTICE * :${'x'.repeat(600)}`, ':irc.test NOTICE * :still here');
    await run.stdout.waitFor((t) => t.includes('still here'));
    assert.deepEqual(run.stdout.lines, [':irc.test NOTICE * :still here']);
    assert.equal(run.stderr.lines.length, 2, run.stderr.text);
    assert.match(run.stderr.lines[0]!, /^ircsock connect: note: .*\(ERR_IRC_PARSE\): ":irc\.test"$/);
    assert.match(run.stderr.lines[1]!, /^ircsock connect: note: .*\(ERR_LINE_TOO_LONG\)$/);
    run.stdin.end();
    assert.equal(await run.exit, 0);
    await server.close();
  });

  test('a server that stops reading holds stdin back instead of overflowing the send queue', async () => {
    const server = await TestServer.start();
    server.closeOnQuit();
    const opened = once(server.backend, 'listenerOpen');
    const run = start([`127.0.0.1:${server.port}`]);
    const [conn] = await opened;
    conn.socket.pause();
    // The console pausing its stdin is the sign that its send queue is high.
    const state = { paused: false };
    run.stdin.once('pause', () => (state.paused = true));
    const line = `PRIVMSG #flood :${'x'.repeat(80)}`;
    let written = 0;
    while (!state.paused) {
      assert.ok(written < 500_000, 'stdin was never held back');
      written++;
      if (!run.stdin.write(`${line} ${written}\n`)) await drainOrPause(run.stdin);
    }
    run.stdin.end();
    conn.socket.resume();
    assert.equal(await run.exit, 0);
    assert.equal(run.stderr.text, '');
    assert.equal(server.lines.length, written + 1, 'every typed line, then QUIT');
    assert.equal(server.lines[written - 1], `${line} ${written}`);
    await server.close();
  });

  test('a slow stdout slows the reading down and loses nothing; a closed stdout ends it like EOF', async () => {
    const server = await TestServer.start();
    server.closeOnQuit();
    const opened = once(server.backend, 'listenerOpen');
    const stdin = new PassThrough();
    const stderr = new Capture();
    const got: string[] = [];
    // A one-byte high-water mark: every write says "wait", and each one completes a turn later.
    const stdout = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _enc, done) {
        got.push(chunk.toString());
        this.emit('got');
        setImmediate(done);
      },
    });
    const exit = runConnect([`127.0.0.1:${server.port}`], { stdin, stdout, stderr });
    const [conn] = await opened;
    const n = 2_000;
    server.send(conn, ...Array.from({ length: n }, (_, i) => `NOTICE * :line ${i}`));
    await until(stdout, 'got', () => got.length >= n);
    assert.deepEqual(
      got,
      Array.from({ length: n }, (_, i) => `NOTICE * :line ${i}\n`),
    );

    const quit = server.waitLine((l) => l === 'QUIT');
    stdout.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    await quit;
    assert.equal(await exit, 0);
    assert.equal(stderr.text, '');
    stdin.destroy();
    await server.close();
  });

  test('a typed QUIT ends it like EOF does: exit 0 once the server closes', async () => {
    const server = await TestServer.start();
    server.closeOnQuit();
    const run = await connect(server);
    run.stdin.write('QUIT :bye now\n');
    assert.equal(await run.exit, 0);
    assert.deepEqual(server.lines, ['QUIT :bye now']);
    assert.equal(run.stderr.text, '');
    await server.close();
  });

  test('a server that ignores QUIT is disconnected after the deadline; still exit 0', async () => {
    const server = await TestServer.start();
    const run = await connect(server, [], { quitTimeout: 200 });
    const gone = once(server.backend, 'disconnect');
    run.stdin.end();
    assert.equal(await run.exit, 0);
    await gone;
    assert.deepEqual(server.lines, ['QUIT']);
    assert.match(run.stderr.text, /^ircsock connect: the server did not close the connection within 200 ms after QUIT; closing it\n$/);
    await server.close();
  });

  test('a connection the server drops: exit 1, one line naming the cause', async () => {
    const server = await TestServer.start();
    const run = await connect(server);
    server.send(run.conn, 'ERROR :Closing link: (x@127.0.0.1) [K-lined]');
    server.backend.disconnect(run.conn, 'K-lined');
    assert.equal(await run.exit, 1);
    assert.equal(run.stdout.lines.length, 1);
    assert.deepEqual(run.stderr.lines, [
      `ircsock connect: connection to 127.0.0.1:${server.port} closed by the server: Closing link: (x@127.0.0.1) [K-lined] (ERROR)`,
    ]);

    // Without a word, by reset.
    const again = await connect(server);
    server.send(again.conn, 'NOTICE * :bye');
    await again.stdout.waitFor((t) => t.includes('bye'));
    again.conn.socket.resetAndDestroy();
    assert.equal(await again.exit, 1);
    assert.equal(again.stderr.lines.length, 1, again.stderr.text);
    assert.match(again.stderr.lines[0]!, /^ircsock connect: connection to 127\.0\.0\.1:\d+ lost: connection reset by peer \(ECONNRESET\)$/);
    await server.close();
  });

  test('a refused connection: exit 1, one line naming the cause and the code', async () => {
    const port = await closedPort();
    const run = start([`127.0.0.1:${port}`]);
    assert.equal(await run.exit, 1);
    assert.equal(run.stdout.text, '');
    assert.deepEqual(run.stderr.lines, [`ircsock connect: cannot connect to 127.0.0.1:${port}: connection refused (ECONNREFUSED)`]);
  });

  test('a server that never finishes the TLS handshake: the connect timeout, one line', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const run = start([`127.0.0.1:${port}`, '--tls'], { connectTimeout: 200 });
    assert.equal(await run.exit, 1);
    assert.deepEqual(run.stderr.lines, [`ircsock connect: cannot connect to 127.0.0.1:${port}: timed out (ERR_CONNECT_TIMEOUT)`]);
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  test('IPv6: [::1]:PORT', async (t) => {
    if (!(await hasIPv6())) {
      t.skip('no IPv6 loopback here');
      return;
    }
    const server = await TestServer.start({ addr: '::1' });
    server.closeOnQuit();
    const opened = once(server.backend, 'listenerOpen');
    const run = start([`[::1]:${server.port}`]);
    const [conn] = await opened;
    assert.equal(conn.peerAddr, '::1');
    run.stdin.end();
    assert.equal(await run.exit, 0);
    await server.close();
  });
});

describe('ircsock connect: TLS', T, () => {
  test('--tls-ca trusts a self-signed certificate', async () => {
    const cert = localhostCert();
    const server = await TestServer.start({ cert });
    server.closeOnQuit();
    const run = await connect(server, ['--tls-ca', cert.certPath, '--nick', 'secure']);
    await server.waitLine((l) => l.startsWith('USER'));
    server.send(run.conn, ':irc.test 001 secure :Welcome over TLS');
    await run.stdout.waitFor((t) => t.includes('Welcome'));
    run.stdin.end();
    assert.equal(await run.exit, 0);
    assert.deepEqual(server.lines, ['NICK secure', 'USER secure 0 * :ircsock connect', 'QUIT']);
    assert.equal(run.stderr.text, '');
    await server.close();
  });

  test('--tls to a self-signed certificate is refused (exit 1, one line); --insecure accepts it', async () => {
    const cert = localhostCert();
    const server = await TestServer.start({ cert });
    server.closeOnQuit();
    const refused = start([`127.0.0.1:${server.port}`, '--tls']);
    assert.equal(await refused.exit, 1);
    assert.equal(refused.stderr.lines.length, 1, refused.stderr.text);
    assert.match(
      refused.stderr.lines[0]!,
      /^ircsock connect: cannot connect to 127\.0\.0\.1:\d+: TLS certificate rejected: self-signed \(DEPTH_ZERO_SELF_SIGNED_CERT\); trust it with --tls-ca FILE, or skip verification with --insecure$/,
    );

    const run = await connect(server, ['--insecure']);
    server.send(run.conn, 'NOTICE * :unverified but encrypted');
    await run.stdout.waitFor((t) => t.includes('unverified'));
    run.stdin.end();
    assert.equal(await run.exit, 0);
    await server.close();
  });

  test('--tls-ca with a certificate for another name is refused', async () => {
    const cert = wrongNameCert();
    const server = await TestServer.start({ cert });
    const run = start([`127.0.0.1:${server.port}`, '--tls-ca', cert.certPath]);
    assert.equal(await run.exit, 1);
    assert.equal(run.stderr.lines.length, 1, run.stderr.text);
    assert.match(run.stderr.lines[0]!, /: TLS certificate rejected: it is not for this host name \(ERR_TLS_CERT_ALTNAME_INVALID\)$/);
    await server.close();
  });
});

const socketDirs: string[] = [];
after(() => {
  for (const d of socketDirs) rmSync(d, { recursive: true, force: true });
});

function socketPath(name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'ircsock-cn-'));
  socketDirs.push(dir);
  return path.join(dir, name);
}

describe('ircsock connect: Unix sockets', T, () => {
  test('--unix PATH: registers, prints what comes, sends what is typed, QUITs at EOF', async () => {
    const file = socketPath('irc.sock');
    const server = await TestServer.start({ path: file });
    server.closeOnQuit();
    const opened = once(server.backend, 'listenerOpen');
    const run = start(['--unix', file, '--nick', 'sock']);
    const [conn] = await opened;
    assert.equal(conn.kind, 'unix');
    assert.equal(conn.peerAddr, '');
    await server.waitLine((l) => l.startsWith('USER'));
    server.send(conn, ':irc.test 001 sock :Welcome over a socket file');
    await run.stdout.waitFor((t) => t.includes('Welcome'));
    run.stdin.write('PRIVMSG #c :through the file\n');
    await server.waitLine((l) => l.startsWith('PRIVMSG'));
    run.stdin.end();
    assert.equal(await run.exit, 0);
    assert.deepEqual(server.lines, ['NICK sock', 'USER sock 0 * :ircsock connect', 'PRIVMSG #c :through the file', 'QUIT']);
    assert.equal(run.stderr.text, '');
    await server.close();
  });

  test('--unix to a path nobody listens on: exit 1, one line naming the path and the cause', async () => {
    const file = socketPath('nobody.sock');
    const run = start(['--unix', file]);
    assert.equal(await run.exit, 1);
    assert.deepEqual(run.stderr.lines, [`ircsock connect: cannot connect to ${file}: no such socket file (ENOENT)`]);
  });

  test('--unix with TLS: verified against localhost by default, against --tls-servername when given', async () => {
    const good = localhostCert();
    const file = socketPath('tls.sock');
    const server = await TestServer.start({ path: file, cert: good });
    server.closeOnQuit();
    const opened = once(server.backend, 'listenerOpen');
    const run = start(['--unix', file, '--tls-ca', good.certPath]);
    const [conn] = await opened;
    assert.equal(conn.tls?.protocol?.startsWith('TLS'), true);
    server.send(conn, 'NOTICE * :encrypted over a socket file');
    await run.stdout.waitFor((t) => t.includes('encrypted'));
    run.stdin.end();
    assert.equal(await run.exit, 0);
    assert.equal(run.stderr.text, '');
    await server.close();

    const wrong = wrongNameCert();
    const other = await TestServer.start({ path: socketPath('wrong.sock'), cert: wrong });
    other.closeOnQuit();
    const refused = start(['--unix', other.listener.path!, '--tls-ca', wrong.certPath]);
    assert.equal(await refused.exit, 1);
    assert.match(refused.stderr.text, /: TLS certificate rejected: it is not for this host name \(ERR_TLS_CERT_ALTNAME_INVALID\)\n$/);
    const named = once(other.backend, 'listenerOpen');
    const ok = start(['--unix', other.listener.path!, '--tls-ca', wrong.certPath, '--tls-servername', 'wrong.example']);
    const [c] = await named;
    assert.equal(c.socket instanceof tls.TLSSocket ? c.socket.servername : undefined, 'wrong.example', 'the name went out as SNI');
    ok.stdin.end();
    assert.equal(await ok.exit, 0);
    await other.close();
  });

  test('--tls-servername over TCP: the certificate is checked against it, not the address', async () => {
    const wrong = wrongNameCert();
    const server = await TestServer.start({ cert: wrong });
    server.closeOnQuit();
    const run = await connect(server, ['--tls-ca', wrong.certPath, '--tls-servername', 'wrong.example']);
    assert.equal(run.conn.socket instanceof tls.TLSSocket ? run.conn.socket.servername : undefined, 'wrong.example');
    run.stdin.end();
    assert.equal(await run.exit, 0);
    assert.equal(run.stderr.text, '');
    await server.close();
  });

  test('ircsock connect --unix against ircsock relay --unix-listen: welcomed as nick!user@localhost, joins, chats', async () => {
    const file = socketPath('relay.sock');
    const relay = await startRelay({ unixListen: [file], name: 'test.relay' });
    try {
      const run = start(['--unix', file, '--nick', 'console', '--join', '#sock']);
      await run.stdout.waitFor((t) => / 366 console #sock /.test(t));
      assert.match(run.stdout.text, /^:test\.relay 001 console :Welcome .* console!~console@localhost$/m);
      assert.match(run.stdout.text, /^:console!~console@localhost JOIN #sock$/m);
      run.stdin.write('WHO #sock\n');
      await run.stdout.waitFor((t) => / 315 console /.test(t));
      assert.match(run.stdout.text, / 352 console #sock ~console localhost test\.relay console H :0 ircsock connect$/m);
      run.stdin.end();
      assert.equal(await run.exit, 0);
      assert.equal(run.stderr.text, '');
    } finally {
      await relay.close();
    }
  });
});

describe('ircsock connect: command line', T, () => {
  const bad: [string[], RegExp][] = [
    [[], /missing HOST\[:PORT\]/],
    [['a', 'b'], /one HOST\[:PORT\] only/],
    [['localhost', '--bogus'], /Unknown option '--bogus'/],
    [['localhost', '--nick'], /--nick/],
    [['localhost:0'], /port must be a number from 1 to 65535/],
    [['localhost:http'], /port must be a number/],
    [['[::1:6667'], /missing '\]'/],
    [['fe80::1::2:6667'], /\[ADDRESS\]:PORT/],
    [['localhost', '--tls-ca', '/nonexistent/ca.pem'], /cannot read --tls-ca \/nonexistent\/ca\.pem: no such file \(ENOENT\)/],
    [['localhost', '--tls-ca', 'x', '--insecure'], /contradict/],
    [['localhost', '--nick', 'two words'], /--nick 'two words': must be one word/],
    [['localhost', '--nick', 'n', '--join', ':x'], /--join/],
    [['localhost', '--user', 'u'], /need --nick/],
    [['--unix', '/tmp/irc.sock', 'localhost:6667'], /--unix PATH or HOST\[:PORT\], not both/],
    [['--unix', ''], /--unix: give the path/],
    [['--unix'], /--unix/],
    [['localhost', '--tls-servername', '127.0.0.1'], /--tls-servername '127\.0\.0\.1': must be a host name/],
    [['localhost', '--tls-servername', 'under_score.example'], /--tls-servername 'under_score\.example': must be a host name/],
    [['--ws', 'http://x/'], /--ws 'http:\/\/x\/': give a ws:\/\/ or wss:\/\/ URL/],
    [['--ws', 'ws://x/', 'localhost'], /--ws URL or HOST\[:PORT\], not both/],
    [['--ws', 'ws://x/', '--unix', '/tmp/s'], /--unix PATH or --ws URL, not both/],
    [['--ws', 'ws://x/', '--tls'], /--tls options go with a wss:\/\/ URL/],
    [['localhost', '--socks-user', 'u'], /need --socks HOST\[:PORT\]/],
    [['localhost', '--socks', '127.0.0.1:1080', '--socks-password', 'p'], /--socks-password needs --socks-user/],
    [['localhost', '--socks', '127.0.0.1:0'], /port must be a number from 1 to 65535/],
    [['--unix', '/tmp/s', '--socks', '127.0.0.1'], /--socks goes with HOST\[:PORT\] only/],
  ];
  for (const [argv, message] of bad) {
    test(`refuses ${JSON.stringify(argv)} with exit 2 and one line`, async () => {
      const run = start(argv);
      assert.equal(await run.exit, 2);
      assert.equal(run.stderr.lines.length, 1, run.stderr.text);
      assert.match(run.stderr.lines[0]!, /^ircsock connect: .* \(see 'ircsock connect --help'\)$/);
      assert.match(run.stderr.lines[0]!, message);
    });
  }

  test('--help prints the usage on stdout, exit 0', async () => {
    const run = start(['--help']);
    assert.equal(await run.exit, 0);
    assert.match(run.stdout.text, /^Usage: ircsock connect HOST\[:PORT\]/);
  });

  test('HOST:PORT forms', () => {
    assert.deepEqual(parseHostPort('irc.example.net', 6667), { host: 'irc.example.net', port: 6667 });
    assert.deepEqual(parseHostPort('irc.example.net:7000', 6667), { host: 'irc.example.net', port: 7000 });
    assert.deepEqual(parseHostPort('[::1]:6697', 6667), { host: '::1', port: 6697 });
    assert.deepEqual(parseHostPort('[::1]', 6697), { host: '::1', port: 6697 });
    assert.deepEqual(parseHostPort('::1', 6667), { host: '::1', port: 6667 });
    assert.deepEqual(parseHostPort('127.0.0.1:1', 6667), { host: '127.0.0.1', port: 1 });
  });
});

describe('ircsock connect: the bin', T, () => {
  const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

  test('node build/src/cli/main.js connect ... works end to end', async (t) => {
    if (!existsSync(main)) {
      t.skip(`${main} is not built yet`);
      return;
    }
    const server = await TestServer.start();
    server.closeOnQuit();
    const opened = once(server.backend, 'listenerOpen');
    const child = spawn(process.execPath, [main, 'connect', `127.0.0.1:${server.port}`, '--nick', 'bin'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // 'close', not 'exit': the child's pipes are closed too, and no handle is left.
    const exited = once(child, 'close', { timeout: 10_000 });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const [conn] = await opened;
    await server.waitLine((l) => l.startsWith('USER'));
    server.send(conn, ':irc.test 001 bin :Welcome', 'PING :check');
    await server.waitLine((l) => l === 'PONG check');
    child.stdin.end('PRIVMSG #t :from the bin\n');
    const [code] = await exited;
    assert.equal(code, 0, err);
    assert.equal(out, ':irc.test 001 bin :Welcome\nPING :check\n');
    assert.deepEqual(server.lines, ['NICK bin', 'USER bin 0 * :ircsock connect', 'PONG check', 'PRIVMSG #t :from the bin', 'QUIT']);
    await server.close();
  });
});

describe('ircsock connect: --reconnect, --socks, --ws, --show-isupport', T, () => {
  test('--reconnect: the server restarts on the same port; the console says so, registers again, and QUITs at EOF', async () => {
    let server = await TestServer.start();
    const port = server.port;
    const opened = once(server.backend, 'listenerOpen');
    const run = start([`127.0.0.1:${port}`, '--nick', 'bot', '--join', '#c', '--reconnect'], { reconnect: { initialDelay: 20, jitter: 'none' } });
    await opened;
    await server.waitLine((l) => l.startsWith('USER'));
    await server.close();
    await run.stderr.waitFor((t) => t.includes('reconnecting in'));
    assert.match(run.stderr.lines[0]!, /^ircsock connect: connection lost to 127\.0\.0\.1:\d+: .*\(ERR_PEER_CLOSED\); reconnecting in 0\.0 s$/);

    server = new TestServer();
    server.closeOnQuit();
    const reopened = once(server.backend, 'listenerOpen');
    server.listener = await server.backend.createListener({ addr: '127.0.0.1', port, idle: 0 });
    const [conn] = await reopened;
    await server.waitLine((l) => l.startsWith('USER'));
    await run.stderr.waitFor((t) => t.includes('reconnected to'));
    server.send(conn, ':irc.test 001 bot :Welcome');
    await server.waitLine((l) => l === 'JOIN #c');
    assert.deepEqual(server.lines, ['NICK bot', 'USER bot 0 * :ircsock connect', 'JOIN #c']);
    run.stdin.end();
    assert.equal(await run.exit, 0);
    assert.equal(server.lines.at(-1), 'QUIT');
    await server.close();
  });

  test('--show-isupport prints the 005 tokens after the MOTD, to stderr', async () => {
    const server = await TestServer.start();
    server.closeOnQuit();
    const run = await connect(server, ['--show-isupport']);
    server.send(
      run.conn,
      ':irc.test 005 me CASEMAPPING=ascii NETWORK=Test\\x20Net PREFIX=(ov)@+ :are supported by this server',
      ':irc.test 005 me UTF8ONLY CHANTYPES=# :are supported by this server',
      ':irc.test 376 me :End of /MOTD command.',
    );
    await run.stderr.waitFor((t) => t.includes('CHANTYPES=#'));
    assert.deepEqual(run.stderr.lines, [
      'ircsock connect: isupport: casemapping ascii, chantypes #, prefix (ov)@+, network Test Net',
      'ircsock connect: isupport: CASEMAPPING=ascii',
      'ircsock connect: isupport: NETWORK=Test\\x20Net',
      'ircsock connect: isupport: PREFIX=(ov)@+',
      'ircsock connect: isupport: UTF8ONLY',
      'ircsock connect: isupport: CHANTYPES=#',
    ]);
    run.stdin.end();
    assert.equal(await run.exit, 0);
    await server.close();
  });

  test('--socks through a real microsocks, with a user and password; a refused destination is one line with its code', { skip: microsocksSkip }, async (t) => {
    const proxy = await startMicrosocks(t, { user: 'u', password: 'p' });
    const server = await TestServer.start();
    server.closeOnQuit();
    const opened = once(server.backend, 'listenerOpen');
    const run = start([`127.0.0.1:${server.port}`, '--socks', `127.0.0.1:${proxy.port}`, '--socks-user', 'u', '--socks-password', 'p', '--nick', 'tor']);
    await opened;
    await server.waitLine((l) => l.startsWith('USER'));
    run.stdin.end();
    assert.equal(await run.exit, 0);
    await server.close();

    const port = await closedPort();
    const refused = start([`127.0.0.1:${port}`, '--socks', `127.0.0.1:${proxy.port}`, '--socks-user', 'u', '--socks-password', 'p']);
    assert.equal(await refused.exit, 1);
    assert.equal(refused.stderr.lines.length, 1, refused.stderr.text);
    assert.match(refused.stderr.lines[0]!, /^ircsock connect: cannot connect to 127\.0\.0\.1:\d+: .*\(ERR_SOCKS_REFUSED\)$/);
    const wrong = start([`127.0.0.1:${port}`, '--socks', `127.0.0.1:${proxy.port}`, '--socks-user', 'u', '--socks-password', 'wrong']);
    assert.equal(await wrong.exit, 1);
    assert.match(wrong.stderr.lines[0]!, /\(ERR_SOCKS_AUTH\)$/);
  });

  test('--ws to a WebSocket listener', async () => {
    const server = new TestServer();
    server.closeOnQuit();
    server.listener = await server.backend.createListener({ addr: '127.0.0.1', port: 0, idle: 0, websocket: true });
    const opened = once(server.backend, 'listenerOpen');
    const run = start(['--ws', `ws://127.0.0.1:${server.port}/`, '--nick', 'web']);
    const [conn] = await opened;
    assert.equal(conn.kind, 'ws');
    await server.waitLine((l) => l.startsWith('USER'));
    server.send(conn, ':irc.test 001 web :Welcome');
    await run.stdout.waitFor((t) => t.includes('001'));
    run.stdin.end();
    assert.equal(await run.exit, 0);
    await server.close();
  });
});
