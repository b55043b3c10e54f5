/**
 * A real ngIRCd for link tests: a config file written into a temporary
 * directory, `ngircd -n -f CONF` in the foreground, its log lines kept and
 * waited on, stopped by pid. Ports are picked by binding port 0 first, as
 * ngIRCd cannot listen on port 0 and report it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { closedPort, once } from './net.js';

export const NGIRCD_MISSING = 'ngircd not installed: apt-get install ngircd';

const CANDIDATES = ['/usr/sbin/ngircd', '/usr/local/sbin/ngircd', '/usr/bin/ngircd'];

/** The ngircd binary, or undefined when it is not installed. */
export function findNgircd(): string | undefined {
  for (const bin of CANDIDATES) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.includes('ngIRCd')) return bin;
  }
  return undefined;
}

/** Whether this ngIRCd was built with zlib and TLS (Debian's is: `+SSL`, `+ZLIB`). */
export function ngircdFeatures(bin: string): { zlib: boolean; ssl: boolean } {
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout;
  return { zlib: version.includes('+ZLIB'), ssl: version.includes('+SSL') };
}

export interface NgircdServerBlock {
  name: string;
  /** Where ngIRCd dials when not passive; the peer's address either way. */
  port?: number;
  password: string;
  /** The relay dials ngIRCd: ngIRCd only waits for it. */
  passive?: boolean;
}

export interface NgircdOptions {
  name: string;
  servers: readonly NgircdServerBlock[];
  /** A TLS port with this certificate and key (files). */
  tls?: { certPath: string; keyPath: string };
}

export class Ngircd {
  readonly name: string;
  readonly port: number;
  readonly tlsPort: number | undefined;
  readonly lines: string[] = [];
  readonly #events = new EventEmitter();
  readonly #child: ChildProcess;
  readonly #dir: string;
  #exited: Promise<void>;

  private constructor(name: string, port: number, tlsPort: number | undefined, child: ChildProcess, dir: string) {
    this.name = name;
    this.port = port;
    this.tlsPort = tlsPort;
    this.#child = child;
    this.#dir = dir;
    let partial = '';
    const take = (chunk: Buffer): void => {
      const parts = (partial + chunk.toString('utf8')).split('\n');
      partial = parts.pop() ?? '';
      for (const l of parts) {
        this.lines.push(l);
        this.#events.emit('line', l);
      }
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
    this.#exited = new Promise((resolve) => child.once('exit', () => {
      resolve();
    }));
  }

  static async start(bin: string, opts: NgircdOptions): Promise<Ngircd> {
    const dir = mkdtempSync(path.join(tmpdir(), 'ircsock-ngircd-'));
    // ngIRCd drops root for `nobody`: it must still read the directory.
    chmodSync(dir, 0o755);
    // Copies it may read after dropping root (the originals sit in a private directory).
    let tls = opts.tls;
    if (tls !== undefined) {
      const certPath = path.join(dir, 'cert.pem');
      const keyPath = path.join(dir, 'key.pem');
      copyFileSync(tls.certPath, certPath);
      copyFileSync(tls.keyPath, keyPath);
      chmodSync(keyPath, 0o644);
      tls = { certPath, keyPath };
    }
    const port = await closedPort();
    const tlsPort = opts.tls === undefined ? undefined : await closedPort();
    const conf = [
      '[Global]',
      `Name = ${opts.name}`,
      'Info = ngIRCd for ircsock tests',
      'AdminInfo1 = ircsock tests',
      'AdminInfo2 = loopback',
      'AdminEMail = nobody@localhost',
      'Listen = 127.0.0.1',
      `Ports = ${port}`,
      '[Limits]',
      'MaxConnectionsIP = 0',
      'MaxNickLength = 30',
      // Link lines come and go fast in tests: no minute-long waits between attempts.
      'ConnectRetry = 5',
      '[Options]',
      'PAM = no',
      'Ident = no',
      'DNS = no',
      ...(tls === undefined ? [] : ['[SSL]', `CertFile = ${tls.certPath}`, `KeyFile = ${tls.keyPath}`, `Ports = ${String(tlsPort)}`]),
      ...opts.servers.flatMap((s) => [
        '[Server]',
        `Name = ${s.name}`,
        'Host = 127.0.0.1',
        `Port = ${String(s.port ?? 0)}`,
        `MyPassword = ${s.password}`,
        `PeerPassword = ${s.password}`,
        `Passive = ${s.passive === false ? 'no' : 'yes'}`,
      ]),
      '',
    ].join('\n');
    const file = path.join(dir, 'ngircd.conf');
    writeFileSync(file, conf, { mode: 0o644 });
    const child = spawn(bin, ['-n', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const server = new Ngircd(opts.name, port, tlsPort, child, dir);
    await server.logged(/ready\.$/, 5_000);
    return server;
  }

  /** The first log line (already written or to come) matching `re`. */
  async logged(re: RegExp, timeout?: number): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen !== undefined) return seen;
    try {
      const [line] = await once(this.#events, 'line', { timeout, filter: (l) => re.test(l as string) });
      return line as string;
    } catch (err) {
      throw new Error(`ngIRCd never logged ${String(re)}; its log:\n${this.lines.join('\n')}`, { cause: err });
    }
  }

  /** SIGTERM by pid, then the directory goes. */
  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.pid !== undefined) process.kill(this.#child.pid, 'SIGTERM');
    await this.#exited;
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
