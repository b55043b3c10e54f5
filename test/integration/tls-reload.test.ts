/**
 * Reloading certificates into a running server: by API and by file watch
 * (certbot's symlink swap, lego's rename), a broken new pair keeps the old
 * one, nothing established is dropped (200 clients through 10 reloads), and
 * no watcher outlives shutdown().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import type { Backend, TlsReloadInfo } from '../../src/backend.js';
import { IrcTlsError } from '../../src/errors.js';
import { trackedBackends } from '../helpers/backends.js';
import { once, until } from '../helpers/net.js';
import { makeCertIn, opensslFingerprint, tempDir } from '../helpers/tls-cert.js';

const newBackend = trackedBackends();
const root = tempDir('reload');
let serial = 0;

/** A fresh key and certificate for localhost in `dir` (a new key each time). */
function fresh(dir: string): { keyPath: string; certPath: string; fp: string } {
  const c = makeCertIn(dir, `c${++serial}`, 'localhost', 'DNS:localhost,IP:127.0.0.1');
  return { keyPath: c.keyPath, certPath: c.certPath, fp: opensslFingerprint(c.certPath, 'sha256') };
}

/** Puts a new pair at `keyPath`/`certPath` the way lego does: written beside, renamed over. */
function replaceByRename(dir: string, keyPath: string, certPath: string): string {
  const n = fresh(dir);
  renameSync(n.keyPath, keyPath);
  renameSync(n.certPath, certPath);
  return n.fp;
}

/** A raw TLS client that speaks lines; `served` is the fingerprint of the certificate it got. */
class TlsLines {
  readonly lines: string[] = [];
  closed = false;
  /** Read once: Node 20 empties a client's peer chain when it is read. */
  readonly served: string;
  #partial = '';
  private constructor(readonly socket: tls.TLSSocket) {
    const raw = socket.getPeerX509Certificate()?.raw;
    assert.ok(raw !== undefined);
    this.served = createHash('sha256').update(raw).digest('hex');
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      const parts = (this.#partial + text).split('\r\n');
      this.#partial = parts.pop() ?? '';
      this.lines.push(...parts);
      if (parts.length > 0) socket.emit('lines');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static async connect(port: number): Promise<TlsLines> {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await once(socket, 'secureConnect');
    return new TlsLines(socket);
  }


  async waitLines(n: number): Promise<void> {
    if (this.lines.length < n) await once(this.socket, 'lines', { timeout: 10_000, filter: () => this.lines.length >= n });
  }
}

async function servedNow(port: number): Promise<string> {
  const c = await TlsLines.connect(port);
  const fp = c.served;
  c.socket.destroy();
  return fp;
}

/** Echoes every line back to its sender. */
function echo(backend: Backend): void {
  backend.on('input', (conn, msg) => {
    backend.send({ command: msg.command, params: [...msg.params] }, conn);
  });
}

test('reloadTls(): new handshakes get the new certificate, an established connection keeps talking', async () => {
  const dir = path.join(root, 'api');
  mkdirSync(dir);
  const first = fresh(dir);
  const backend = newBackend({ tls: { key: first.keyPath, cert: first.certPath } });
  echo(backend);
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  const old = await TlsLines.connect(listener.port);
  assert.equal(old.served, first.fp);

  const next = replaceByRename(dir, first.keyPath, first.certPath);
  const emitted = once(backend, 'tlsReload');
  const infos = await backend.reloadTls();
  const [info] = await emitted;
  assert.equal(infos.length, 1);
  assert.equal(info, infos[0]);
  assert.equal(info.trigger, 'api');
  assert.equal(info.listener, undefined, "the backend's own context");
  assert.equal(info.certificates[0]?.sha256, next);
  assert.equal(info.certificates[0].file, first.certPath);
  assert.equal(await servedNow(listener.port), next);
  assert.deepEqual(listener.tlsCertificates.map((c) => c.sha256), [next]);

  old.socket.write('PING :still-here\r\n');
  await old.waitLines(1);
  assert.deepEqual(old.lines, ['PING still-here']);
  assert.equal(old.served, first.fp, 'its session keeps the old certificate');

  // A listener with its own context reloads on its own.
  const ownDir = path.join(root, 'own');
  mkdirSync(ownDir);
  const own = fresh(ownDir);
  const mine = await backend.createListener({ addr: '127.0.0.1', tls: { key: own.keyPath, cert: own.certPath } });
  assert.equal(await servedNow(mine.port), own.fp);
  const ownNext = replaceByRename(ownDir, own.keyPath, own.certPath);
  const reloaded = once(backend, 'tlsReload');
  await mine.reloadTls();
  assert.equal((await reloaded)[0].listener, mine);
  assert.equal(await servedNow(mine.port), ownNext);
  assert.equal(await servedNow(listener.port), next, 'the other listener is unchanged');
  old.socket.destroy();
});

test('a broken or half-renewed pair keeps the old certificate and raises tlsReloadFailure (ERR_TLS_RELOAD, the file)', async () => {
  const dir = path.join(root, 'broken');
  mkdirSync(dir);
  const first = fresh(dir);
  const backend = newBackend({ tls: { key: first.keyPath, cert: first.certPath } });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  let swaps = 0;
  backend.on('tlsReload', () => swaps++);

  writeFileSync(first.certPath, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n');
  let failure = once(backend, 'tlsReloadFailure');
  await assert.rejects(backend.reloadTls(), (e: unknown) => e instanceof IrcTlsError && e.code === 'ERR_TLS_RELOAD' && e.file === first.certPath);
  const [firstErr, owner] = await failure;
  assert.equal(firstErr.file, first.certPath);
  assert.equal(owner, undefined);
  assert.equal(await servedNow(listener.port), first.fp);

  // A new certificate beside the old key: what a reader would see between the two renames.
  const other = fresh(dir);
  renameSync(other.certPath, first.certPath);
  failure = once(backend, 'tlsReloadFailure');
  await assert.rejects(backend.reloadTls(), { code: 'ERR_TLS_RELOAD' });
  const [err] = await failure;
  assert.equal(err.file, first.certPath);
  assert.equal(await servedNow(listener.port), first.fp);

  renameSync(other.keyPath, first.keyPath);
  failure = once(backend, 'tlsReloadFailure');
  renameSync(first.keyPath, `${first.keyPath}.gone`);
  await assert.rejects(backend.reloadTls(), (e: unknown) => e instanceof IrcTlsError && e.file === first.keyPath);
  await failure;
  renameSync(`${first.keyPath}.gone`, first.keyPath);
  assert.equal(swaps, 0);
  await backend.reloadTls();
  assert.equal(await servedNow(listener.port), other.fp);
});

test("the file watch follows certbot's renewal (a symlink in live/ moved to a new file in archive/), twice", async () => {
  const base = path.join(root, 'certbot');
  const archive = path.join(base, 'archive', 'irc.example.net');
  const live = path.join(base, 'live', 'irc.example.net');
  mkdirSync(archive, { recursive: true });
  mkdirSync(live, { recursive: true });
  const link = (name: string, target: string): void => {
    // As certbot does it: a new link under a temporary name, renamed over the old one.
    const tmp = path.join(live, `${name}.new`);
    symlinkSync(path.relative(live, target), tmp);
    renameSync(tmp, path.join(live, name));
  };
  const v1 = fresh(archive);
  link('privkey.pem', v1.keyPath);
  link('fullchain.pem', v1.certPath);
  const backend = newBackend({
    tls: { key: path.join(live, 'privkey.pem'), cert: path.join(live, 'fullchain.pem'), watch: { debounce: 50 } },
  });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });
  assert.equal(await servedNow(listener.port), v1.fp);

  for (let round = 0; round < 2; round++) {
    const v = fresh(archive);
    const reloaded = once(backend, 'tlsReload', { filter: (info: TlsReloadInfo) => info.certificates[0]?.sha256 === v.fp });
    link('privkey.pem', v.keyPath);
    link('fullchain.pem', v.certPath);
    const [info] = await reloaded;
    assert.equal(info.trigger, 'watch');
    assert.equal(await servedNow(listener.port), v.fp);
  }
});

test('the file watch follows a rename over the files (lego), and a broken file keeps the old certificate until it is fixed', async () => {
  const dir = path.join(root, 'lego');
  mkdirSync(dir);
  const first = fresh(dir);
  const backend = newBackend({ tls: { key: first.keyPath, cert: first.certPath, watch: { debounce: 50 } } });
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true });

  const failed = once(backend, 'tlsReloadFailure');
  const tmp = path.join(dir, 'cert.tmp');
  writeFileSync(tmp, 'not a certificate');
  renameSync(tmp, first.certPath);
  const [err] = await failed;
  assert.equal(err.code, 'ERR_TLS_RELOAD');
  assert.equal(err.file, first.certPath);
  assert.equal(await servedNow(listener.port), first.fp);

  const next = fresh(dir);
  const reloaded = once(backend, 'tlsReload', { filter: (info: TlsReloadInfo) => info.certificates[0]?.sha256 === next.fp });
  renameSync(next.keyPath, first.keyPath);
  renameSync(next.certPath, first.certPath);
  await reloaded;
  assert.equal(await servedNow(listener.port), next.fp);
});

test('shutdown() leaves no watcher behind', async () => {
  const watchers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'FSEventWrap').length;
  const before = watchers();
  const dir = path.join(root, 'leak');
  mkdirSync(dir);
  const first = fresh(dir);
  const backend = newBackend({ tls: { key: first.keyPath, cert: first.certPath, watch: true } });
  assert.equal(watchers(), before, 'nothing is watched before a listener uses the context');
  await backend.createListener({ addr: '127.0.0.1', tls: true });
  await backend.createListener({ addr: '127.0.0.1', tls: { key: first.keyPath, cert: first.certPath, watch: true } });
  assert.ok(watchers() > before, 'watching while listening');
  await backend.shutdown();
  assert.equal(watchers(), before);
});

test('200 TLS clients keep exchanging lines through 10 reloads; a client connecting after each reload sees the new certificate', async () => {
  const dir = path.join(root, 'many');
  mkdirSync(dir);
  const first = fresh(dir);
  const backend = newBackend({ tls: { key: first.keyPath, cert: first.certPath } });
  echo(backend);
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true, admission: false });
  const clients: TlsLines[] = [];
  const served = new Set<unknown>();
  const opening = (conn: unknown): void => {
    served.add(conn);
  };
  backend.on('listenerOpen', opening);
  for (let i = 0; i < 200; i += 20) {
    clients.push(...(await Promise.all(Array.from({ length: 20 }, () => TlsLines.connect(listener.port)))));
  }
  await until(backend, 'listenerOpen', () => served.size === 200);
  backend.off('listenerOpen', opening);
  let dropped = 0;
  backend.on('disconnect', (conn) => {
    if (served.has(conn)) dropped++;
  });
  for (let round = 1; round <= 10; round++) {
    const fp = replaceByRename(dir, first.keyPath, first.certPath);
    const [info] = await backend.reloadTls();
    assert.equal(info?.certificates[0]?.sha256, fp);
    assert.equal(await servedNow(listener.port), fp, `round ${round}: a new client gets the new certificate`);
    for (const c of clients) c.socket.write(`PRIVMSG #reload :round ${round}\r\n`);
    await Promise.all(clients.map((c) => c.waitLines(round)));
    for (const c of clients) assert.equal(c.lines[round - 1], `PRIVMSG #reload :round ${round}`);
  }
  assert.equal(clients.filter((c) => c.closed).length, 0);
  assert.equal(clients.filter((c) => c.served !== first.fp).length, 0, 'every old session kept its certificate');
  assert.equal(dropped, 0, 'no server-side connection of the 200 ended');
  for (const c of clients) c.socket.destroy();
});
