/**
 * A real haproxy for PROXY protocol tests: found on the machine (the tests
 * skip when it is missing), started in the foreground with a generated
 * configuration in a temporary directory, on free loopback ports, and stopped
 * by its pid when the test ends, whether it passed or not.
 *
 * Each {@link Route} is one `frontend` (bound on 127.0.0.1, a free port) and
 * one `backend` with a single `server` line forwarding to an ircsock listener
 * (or any TCP server) with `send-proxy`, `send-proxy-v2` or
 * `send-proxy-v2-ssl-cn`. A further frontend, `ready`, rejects every
 * connection: it is what the start-up poll connects to, so polling never
 * reaches the servers under test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** The skip message when haproxy cannot be found. */
export const HAPROXY_MISSING = 'haproxy not installed: apt-get install haproxy';

/** The loopback address the tests' clients connect from, so the PROXY header's source differs from haproxy's own. */
export const CLIENT_ADDR = '127.0.0.2';

/** How long `startHaproxy` waits for haproxy to accept connections. */
const START_TIMEOUT = 10_000;
/** How long `stop()` waits after SIGTERM before SIGKILL. */
const STOP_GRACE = 2_000;
/** Start attempts when a chosen port was taken before haproxy could bind it. */
const BIND_ATTEMPTS = 5;
/** At most this much of haproxy's output is kept (the tail). */
const LOG_LIMIT = 64 * 1024;

/** `/usr/sbin/haproxy`, else the first `haproxy` on PATH, else `undefined`. */
export function findHaproxy(): string | undefined {
  const dirs = ['/usr/sbin', ...(process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '')];
  for (const dir of dirs) {
    const candidate = path.join(dir, 'haproxy');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/** Whether a TCP socket can bind `host` (e.g. 127.0.0.2, which Linux routes to lo; other systems may not). */
export function canBind(host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen({ host, port: 0 }, () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

/**
 * Why the haproxy tests cannot run here, or `undefined` when they can: for
 * `test(name, { skip: (await haproxySkip()) ?? false }, …)`.
 */
export async function haproxySkip(): Promise<string | undefined> {
  if (findHaproxy() === undefined) return HAPROXY_MISSING;
  if (!(await canBind(CLIENT_ADDR))) return `${CLIENT_ADDR} is not bindable here: the clients must connect from a second loopback address`;
  return undefined;
}

/** TLS termination at haproxy's frontend. */
export interface FrontendTls {
  /** PEM text of haproxy's certificate followed by its key (one file, as `crt` wants). */
  pem: string;
  /** PEM text of the CAs that client certificates are verified against (`ca-file`). */
  ca?: string;
  /** `verify` on the bind line. Default `optional` with `ca`, else `none`. */
  verify?: 'none' | 'optional' | 'required';
}

/** One frontend and its backend. */
export interface Route {
  /** Names the frontend and backend sections; `[A-Za-z0-9_-]+`, not `ready`. */
  name: string;
  /** Where haproxy forwards to. */
  server: { addr?: string; port: number };
  /** What haproxy puts in front of the stream. */
  send: 'send-proxy' | 'send-proxy-v2' | 'send-proxy-v2-ssl-cn' | 'none';
  /** Terminate TLS at the frontend; without it the frontend passes bytes through. */
  tls?: FrontendTls;
  /** More v2 TLVs (`proxy-v2-options` on the server line), e.g. `ssl-cipher`, `authority`, `crc32c`. */
  proxyV2Options?: readonly ('ssl' | 'cert-cn' | 'ssl-cipher' | 'cert-sig' | 'cert-key' | 'authority' | 'crc32c')[];
}

export interface Haproxy {
  readonly pid: number;
  /** The binary that runs. */
  readonly bin: string;
  /** The generated configuration text. */
  readonly config: string;
  /** The frontend port of a route. */
  port(name: string): number;
  /** Everything haproxy wrote to stderr and stdout so far (alerts, warnings, one log line per connection). */
  readonly output: string;
  /** Resolves once haproxy has exited and its directory is gone; SIGTERM, then SIGKILL after a grace. Idempotent. */
  stop(): Promise<void>;
  /** Runs `fn`; if it throws, rethrows with haproxy's output appended to the message. */
  explain<T>(fn: () => Promise<T>): Promise<T>;
}

interface Running {
  child: ChildProcess;
  dir: string;
}

// Whatever is still running when the process goes (a failed test, a signal) is killed; its directory removed.
const running = new Set<Running>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function killAllSync(): void {
  for (const r of running) {
    if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGKILL');
    rmSync(r.dir, { recursive: true, force: true });
  }
  running.clear();
}

function onSignal(sig: NodeJS.Signals): void {
  killAllSync();
  unwatch();
  // Die of the same signal, as without this handler (unless someone else handles it).
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

/** Signals a pid; one that has just exited is no error. */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

let watching = false;
function watch(): void {
  if (watching) return;
  watching = true;
  process.on('exit', killAllSync);
  for (const s of SIGNALS) process.on(s, onSignal);
}
function unwatch(): void {
  if (!watching) return;
  watching = false;
  process.off('exit', killAllSync);
  for (const s of SIGNALS) process.off(s, onSignal);
}

/** Distinct free ports on 127.0.0.1: all bound at once (so no two are equal), then all closed. */
async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port: 0 }, resolve);
      });
      ports.push((server.address() as net.AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

function renderConfig(routes: readonly Route[], ports: ReadonlyMap<string, number>, dir: string): string {
  const lines = [
    'global',
    // Foreground (-db), no chroot, no user switch, no master process: nothing but this one process.
    '  log stderr format raw local0',
    '  nbthread 1',
    '  maxconn 256',
    '',
    'defaults',
    '  mode tcp',
    '  log global',
    '  option tcplog',
    '  timeout connect 2s',
    '  timeout client 10s',
    '  timeout server 10s',
    '',
    'frontend ready',
    `  bind 127.0.0.1:${ports.get('ready')}`,
    '  tcp-request connection reject',
  ];
  for (const route of routes) {
    let bind = `127.0.0.1:${ports.get(route.name)}`;
    if (route.tls !== undefined) {
      const crt = path.join(dir, `${route.name}.pem`);
      writeFileSync(crt, route.tls.pem.endsWith('\n') ? route.tls.pem : route.tls.pem + '\n', { mode: 0o600 });
      bind += ` ssl crt ${crt}`;
      if (route.tls.ca !== undefined) {
        const ca = path.join(dir, `${route.name}-ca.pem`);
        writeFileSync(ca, route.tls.ca);
        bind += ` ca-file ${ca}`;
      }
      bind += ` verify ${route.tls.verify ?? (route.tls.ca === undefined ? 'none' : 'optional')}`;
    }
    let send = route.send === 'none' ? '' : ` ${route.send}`;
    if (route.proxyV2Options !== undefined && route.proxyV2Options.length > 0) send += ` proxy-v2-options ${route.proxyV2Options.join(',')}`;
    lines.push(
      '',
      `frontend fe_${route.name}`,
      `  bind ${bind}`,
      `  default_backend be_${route.name}`,
      '',
      `backend be_${route.name}`,
      `  server srv_${route.name} ${route.server.addr ?? '127.0.0.1'}:${route.server.port}${send}`,
    );
  }
  return lines.join('\n') + '\n';
}

/** Resolves once a TCP connect to 127.0.0.1:`port` succeeds; rejects when `gone` settles first or at `deadline`. */
async function pollConnect(port: number, deadline: number, gone: Promise<unknown>, isGone: () => boolean): Promise<void> {
  for (;;) {
    if (isGone()) throw new Error('haproxy exited before it accepted connections');
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() >= deadline) throw new Error(`haproxy did not accept connections on 127.0.0.1:${port} within ${START_TIMEOUT} ms`);
    // A short pause between attempts, cut short if haproxy exits.
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 25)), gone]);
  }
}

function withOutput(err: unknown, output: string, config?: string): Error {
  const error = err instanceof Error ? err : new Error(String(err));
  const parts = [error.message, '--- haproxy output ---', output.trimEnd() === '' ? '(none)' : output.trimEnd()];
  if (config !== undefined) parts.push('--- haproxy config ---', config.trimEnd());
  error.message = parts.join('\n');
  return error;
}

/**
 * Starts haproxy with one frontend and backend per route and resolves once it
 * accepts connections. With a test context, it is stopped in `t.after`; a
 * process exit or signal stops it too.
 */
export async function startHaproxy(t: TestContext | undefined, routes: readonly Route[]): Promise<Haproxy> {
  const bin = findHaproxy();
  if (bin === undefined) throw new Error(HAPROXY_MISSING);
  const names = new Set<string>();
  for (const r of routes) {
    if (!/^[A-Za-z0-9_-]+$/.test(r.name) || r.name === 'ready' || names.has(r.name)) throw new Error(`bad or repeated route name '${r.name}'`);
    names.add(r.name);
  }
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= BIND_ATTEMPTS; attempt++) {
    const started = await tryStart(bin, routes);
    if ('haproxy' in started) {
      const hap = started.haproxy;
      t?.after(() => hap.stop());
      return hap;
    }
    lastError = started.error;
    if (!started.portTaken) break;
  }
  throw lastError ?? new Error('haproxy did not start');
}

async function tryStart(bin: string, routes: readonly Route[]): Promise<{ haproxy: Haproxy } | { error: Error; portTaken: boolean }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ircsock-haproxy-'));
  const free = await freePorts(routes.length + 1);
  const ports = new Map<string, number>([['ready', free[0]!]]);
  routes.forEach((r, i) => ports.set(r.name, free[i + 1]!));
  let config: string;
  try {
    config = renderConfig(routes, ports, dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const cfgPath = path.join(dir, 'haproxy.cfg');
  writeFileSync(cfgPath, config);

  const child = spawn(bin, ['-db', '-f', cfgPath], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  const entry: Running = { child, dir };
  running.add(entry);
  watch();

  let output = '';
  const collect = (chunk: string): void => {
    output += chunk;
    if (output.length > LOG_LIMIT) output = output.slice(-LOG_LIMIT);
  };
  child.stdout.setEncoding('utf8').on('data', collect);
  child.stderr.setEncoding('utf8').on('data', collect);
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      resolve();
    });
    // 'close': the process is gone and its output read to the end.
    child.once('close', () => {
      resolve();
    });
  });
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const hasExited = (): boolean => gone;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!gone && child.pid !== undefined) {
        signal(child.pid, 'SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const graceOver = new Promise<boolean>((resolve) => {
          timer = setTimeout(resolve, STOP_GRACE, true);
        });
        const killed = await Promise.race([exited.then(() => false), graceOver]);
        clearTimeout(timer);
        if (killed && !hasExited()) {
          signal(child.pid, 'SIGKILL');
          await exited;
        }
      }
      rmSync(dir, { recursive: true, force: true });
      running.delete(entry);
      if (running.size === 0) unwatch();
    })();
    return stopping;
  };

  try {
    await pollConnect(ports.get('ready')!, Date.now() + START_TIMEOUT, exited, () => hasExited() || spawnError !== undefined);
  } catch (err) {
    await stop();
    if (spawnError !== undefined) throw withOutput(spawnError, output, config);
    const portTaken = /cannot bind socket|Address already in use/i.test(output);
    return { error: withOutput(err, output, config), portTaken };
  }

  const pid = child.pid!;
  const haproxy: Haproxy = {
    pid,
    bin,
    config,
    port(name) {
      const port = ports.get(name);
      if (port === undefined || name === 'ready') throw new Error(`no haproxy route '${name}'`);
      return port;
    },
    get output() {
      return output;
    },
    stop,
    async explain(fn) {
      try {
        return await fn();
      } catch (err) {
        throw withOutput(err, output);
      }
    },
  };
  return { haproxy };
}

/** `HAProxy version 2.6.12-…`: the first line of `haproxy -v`, or `undefined` without haproxy. */
export async function haproxyVersion(): Promise<string | undefined> {
  const bin = findHaproxy();
  if (bin === undefined) return undefined;
  const child = spawn(bin, ['-v'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    text += c;
  });
  await new Promise((resolve) => child.once('close', resolve));
  return text.split('\n')[0]?.trim();
}
