/**
 * The relay's TLS in operation: STS in CAP LS 302, --tls-sni, the file watch
 * and SIGHUP reloading the certificate with one log line each, and a relay
 * that exits by itself after SIGTERM (no watcher left).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseRelayArgs } from '../../src/cli/relay/options.js';
import { startRelay } from '../../src/cli/relay/server.js';
import { LineClient, once, until } from '../helpers/net.js';
import { makeCertIn, opensslFingerprint, tempDir } from '../helpers/tls-cert.js';

const root = tempDir('relay-tls');
let serial = 0;
function fresh(dir: string, cn = 'localhost'): { keyPath: string; certPath: string; fp: string } {
  const c = makeCertIn(dir, `r${++serial}`, cn, cn === 'localhost' ? 'DNS:localhost,IP:127.0.0.1' : `DNS:${cn}`);
  return { keyPath: c.keyPath, certPath: c.certPath, fp: opensslFingerprint(c.certPath, 'sha256') };
}

/** Connects over TLS, sends `lines`, resolves with the first line matching `re` and the served fingerprint. */
async function tlsAsk(port: number, lines: string[], re: RegExp, servername?: string): Promise<{ line: string; fp: string }> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername === undefined ? {} : { servername }) });
  await once(socket, 'secureConnect');
  const raw = socket.getPeerX509Certificate()?.raw;
  assert.ok(raw !== undefined);
  const fp = createHash('sha256').update(raw).digest('hex');
  let text = '';
  socket.setEncoding('utf8').on('data', (s: string) => {
    text += s;
    socket.emit('text');
  });
  socket.write(lines.map((l) => `${l}\r\n`).join(''));
  await until(socket, 'text', () => text.split('\r\n').some((l) => re.test(l)));
  socket.destroy();
  return { line: text.split('\r\n').find((l) => re.test(l)) as string, fp };
}

describe('relay options', () => {
  const dir = path.join(root, 'opts');
  mkdirSync(dir);
  const c = fresh(dir);
  test('--tls-sni NAME:CERT:KEY, --no-tls-watch and --sts-duration', () => {
    const args = parseRelayArgs([
      '--tls-listen', '127.0.0.1:0', '--tls-cert', c.certPath, '--tls-key', c.keyPath,
      '--tls-sni', `*.example.net:${c.certPath}:${c.keyPath}`, '--no-tls-watch', '--sts-duration', '86400',
    ]);
    assert.equal(args.kind, 'run');
    assert.deepEqual(args.options.tlsSni, [{ name: '*.example.net', cert: c.certPath, key: c.keyPath }]);
    assert.equal(args.options.tlsWatch, false);
    assert.equal(args.options.stsDuration, 86400);
  });
  for (const [argv, message] of [
    [['--listen', '127.0.0.1:0', '--sts-duration', '60'], /--sts-duration needs --tls-listen/],
    [['--tls-listen', '0', '--tls-cert', c.certPath, '--tls-key', c.keyPath, '--sts-duration', '1.5'], /whole seconds/],
    [['--tls-listen', '0', '--tls-cert', c.certPath, '--tls-key', c.keyPath, '--tls-sni', 'irc.example.net'], /NAME:CERT:KEY/],
    [['--tls-listen', '0', '--tls-cert', c.certPath, '--tls-key', c.keyPath, '--tls-sni', `bad name:${c.certPath}:${c.keyPath}`], /not a server name/],
    [['--tls-listen', '0', '--tls-cert', c.certPath, '--tls-key', c.keyPath, '--tls-sni', `a.example:${c.certPath}:/nonexistent`], /cannot read/],
    [['--listen', '0', '--no-tls-watch'], /--no-tls-watch goes with/],
  ] as const) {
    test(`refused: ${argv.join(' ')}`, () => {
      const args = parseRelayArgs(argv);
      assert.equal(args.kind, 'error');
      assert.match(args.message, message);
    });
  }
});

describe('relay TLS in operation', () => {
  test('STS in CAP LS 302 (port= on plain, duration= on TLS), SNI, and a reload by file watch logged in one line', async () => {
    const dir = path.join(root, 'inproc');
    mkdirSync(dir);
    const main = fresh(dir);
    const named = fresh(dir, 'irc.example.net');
    const logs: string[] = [];
    const relay = await startRelay({
      listen: [{ host: '127.0.0.1', port: 0 }],
      tlsListen: [{ host: '127.0.0.1', port: 0 }],
      tlsCert: main.certPath,
      tlsKey: main.keyPath,
      tlsSni: [{ name: 'irc.example.net', cert: named.certPath, key: named.keyPath }],
      tlsWatchDebounce: 50,
      stsDuration: 2_592_000,
      log: (l) => {
        logs.push(l);
      },
    });
    after(() => relay.close());
    const [plainPort, tlsPort] = relay.ports as [number, number];

    const plain = await LineClient.connect(plainPort);
    plain.write('CAP LS 302');
    await plain.waitLines(1);
    assert.match(plain.lines[0] ?? '', new RegExp(` CAP \\* LS :.*\\bsts=port=${tlsPort}\\b`));
    plain.write('CAP LS');
    await plain.waitLines(2);
    assert.doesNotMatch(plain.lines[1] ?? '', /sts/, 'no values before CAP LS 302');
    await plain.destroy();

    const secure = await tlsAsk(tlsPort, ['CAP LS 302'], / CAP \* LS /);
    assert.match(secure.line, /\bsts=duration=2592000\b/);
    assert.equal(secure.fp, main.fp);
    assert.equal((await tlsAsk(tlsPort, ['CAP LS 302'], / CAP /, 'irc.example.net')).fp, named.fp);

    const next = fresh(dir);
    renameSync(next.keyPath, main.keyPath);
    renameSync(next.certPath, main.certPath);
    await until(relay.backend, 'tlsReload', () => logs.some((l) => l.startsWith('tls reloaded (watch)')), 5_000);
    const line = logs.find((l) => l.startsWith('tls reloaded (watch)')) ?? '';
    assert.ok(line.includes(`default sha256:${next.fp}`) && line.includes(`irc.example.net sha256:${named.fp}`), line);
    assert.equal((await tlsAsk(tlsPort, ['CAP LS 302'], / CAP /)).fp, next.fp);
    await relay.close();
  });

  test('the relay command: SIGHUP reloads (one line each, a broken file keeps the old one), and it exits by itself after SIGTERM', async (t) => {
    const bin = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
    if (!existsSync(bin)) {
      t.skip(`${bin} is not built yet`);
      return;
    }
    const dir = path.join(root, 'bin');
    mkdirSync(dir);
    const c = fresh(dir);
    const child = spawn(process.execPath, [bin, 'relay', '--tls-listen', '127.0.0.1:0', '--tls-cert', c.certPath, '--tls-key', c.keyPath, '--no-tls-watch'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      child.emit('out');
    });
    const exited = once(child, 'close', { timeout: 15_000 });
    try {
      await until(child, 'out', () => / listening on .*\n/.test(out), 10_000);
      const port = Number(/ listening on 127\.0\.0\.1:(\d+) \(tls\)/.exec(out)?.[1]);
      const next = fresh(dir);
      renameSync(next.keyPath, c.keyPath);
      renameSync(next.certPath, c.certPath);
      assert.equal((await tlsAsk(port, ['CAP LS 302'], / CAP /)).fp, c.fp, '--no-tls-watch: nothing reloads by itself');
      child.kill('SIGHUP');
      await until(child, 'out', () => out.includes('tls reloaded (api)'), 5_000);
      assert.equal(out.match(/tls reloaded/g)?.length, 1);
      assert.equal((await tlsAsk(port, ['CAP LS 302'], / CAP /)).fp, next.fp);

      writeFileSync(c.certPath, 'broken');
      child.kill('SIGHUP');
      await until(child, 'out', () => out.includes('tls reload failed'), 5_000);
      assert.match(out, /tls reload failed: .*ERR_TLS_RELOAD/);
      assert.equal((await tlsAsk(port, ['CAP LS 302'], / CAP /)).fp, next.fp, 'the old certificate stays');
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await exited;
    assert.equal(code, 0, out);
  });
});
