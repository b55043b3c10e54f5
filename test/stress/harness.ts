/**
 * What every part of the stress suite shares: the relay in its own process,
 * a small IRC client, the healthy watchdog (PING every 200 ms, each PONG
 * within 2 s) and the healthy pair (sequenced PRIVMSGs, zero loss, in order),
 * a seeded PRNG, and bounded waiting.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import tls from 'node:tls';
import { parseLine, type IrcMessage } from '../../src/index.js';
import { startChild, type BenchChild } from '../../bench/lib/child.js';
import type { RelayChildConfig, RelayStats } from './relay-child.js';
import { mulberry32 } from '../helpers/prng.js';

export type { RelayChildConfig, RelayStats } from './relay-child.js';
export { sleep };

export const MiB = 1024 * 1024;

/** `STRESS_SCALE` (default 1): durations and counts of the attacks scale by it; invariants do not. */
export const SCALE = ((): number => {
  const s = Number(process.env.STRESS_SCALE ?? '1');
  if (!Number.isFinite(s) || s <= 0 || s > 10) throw new Error(`STRESS_SCALE=${process.env.STRESS_SCALE ?? ''}: give a number in (0, 10]`);
  return s;
})();

/** `n × SCALE`, rounded, at least `min`. */
export function scaled(n: number, min = 1): number {
  return Math.max(min, Math.round(n * SCALE));
}

// ---- the relay process ---------------------------------------------------

const RELAY_CHILD = fileURLToPath(new URL('./relay-child.js', import.meta.url));

export class RelayProcess {
  readonly child: BenchChild;
  readonly plainPort: number;
  readonly tlsPort: number;

  private constructor(child: BenchChild, plainPort: number, tlsPort: number) {
    this.child = child;
    this.plainPort = plainPort;
    this.tlsPort = tlsPort;
  }

  static async start(name: string, config: RelayChildConfig): Promise<RelayProcess> {
    const { child, ready } = await startChild(`relay (${name})`, RELAY_CHILD, [JSON.stringify(config)], {
      execArgv: ['--expose-gc'],
      fdLimit: 20_000,
      maxLifetime: 5 * 60_000,
    });
    const ports = ready.ports as number[];
    const plain = ready.plain === true;
    return new RelayProcess(child, plain ? (ports[0] ?? 0) : 0, ready.tls === true ? (ports[plain ? 1 : 0] ?? 0) : 0);
  }

  get pid(): number {
    return this.child.pid;
  }

  /** Also the liveness check: a relay that is gone or stuck does not answer within `timeout`. */
  stats(timeout = 5_000): Promise<RelayStats> {
    return this.child.request('stats', {}, timeout);
  }

  gc(timeout = 10_000): Promise<RelayStats> {
    return this.child.request('gc', {}, timeout);
  }

  resetPeak(): Promise<RelayStats> {
    return this.child.request('resetPeak', {}, 5_000);
  }

  /** Asks it to exit; kills it by pid after 3 s. */
  stop(): Promise<void> {
    return this.child.stop(3_000);
  }
}

// ---- a small IRC client ----------------------------------------------------

export interface ConnectOptions {
  port: number;
  /** TLS (any certificate accepted: the suite's own throwaway one). */
  tls?: boolean;
  /** Plain TCP only: the local address to connect from (127.0.0.2 … for another admission key). */
  localAddress?: string;
  timeout?: number;
}

/** Connects a plain or TLS socket; resolves once connected (TLS: handshake done). */
export function connectSocket(opts: ConnectOptions): Promise<net.Socket> {
  const timeout = opts.timeout ?? 5_000;
  return new Promise((resolve, reject) => {
    const socket = opts.tls === true
      ? tls.connect({ host: '127.0.0.1', port: opts.port, rejectUnauthorized: false })
      : net.connect({ host: '127.0.0.1', port: opts.port, localAddress: opts.localAddress });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${opts.port} timed out after ${timeout} ms`));
    }, timeout);
    const onError = (err: Error): void => {
      clearTimeout(timer);
      reject(err);
    };
    socket.once('error', onError);
    socket.once(opts.tls === true ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

type LineHandler = (msg: IrcMessage, line: string) => void;

/** One IRC client: line splitting, parsing, auto-PONG, waiting for a line. */
export class IrcClient {
  readonly socket: net.Socket;
  readonly name: string;
  closed = false;
  error: Error | undefined;
  /** The last lines received, for failure messages. */
  readonly recent: string[] = [];
  readonly #handlers = new Set<LineHandler>();
  readonly #closeHandlers = new Set<() => void>();
  #partial = '';

  constructor(socket: net.Socket, name: string) {
    this.socket = socket;
    this.name = name;
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (text: string) => {
      const parts = (this.#partial + text).split('\n');
      this.#partial = parts.pop() ?? '';
      for (const raw of parts) this.#line(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
    });
    socket.on('error', (err) => {
      this.error = err;
    });
    socket.on('close', () => {
      this.closed = true;
      for (const h of this.#closeHandlers) h();
    });
  }

  static async connect(name: string, opts: ConnectOptions): Promise<IrcClient> {
    return new IrcClient(await connectSocket(opts), name);
  }

  #line(line: string): void {
    this.recent.push(line);
    if (this.recent.length > 8) this.recent.shift();
    let msg: IrcMessage;
    try {
      msg = parseLine(line);
    } catch {
      return;
    }
    if (msg.command === 'PING') this.send(`PONG :${msg.params[0] ?? ''}`);
    for (const h of this.#handlers) h(msg, line);
  }

  onLine(h: LineHandler): () => void {
    this.#handlers.add(h);
    return () => this.#handlers.delete(h);
  }

  onClose(h: () => void): void {
    this.#closeHandlers.add(h);
  }

  send(...lines: string[]): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(lines.map((l) => `${l}\r\n`).join(''));
  }

  /** Resolves with the first line from now that passes `pred`; rejects on timeout or close. */
  waitFor(pred: (msg: IrcMessage) => boolean, what: string, timeout = 5_000): Promise<IrcMessage> {
    return new Promise((resolve, reject) => {
      const done = (err?: Error, msg?: IrcMessage): void => {
        clearTimeout(timer);
        off();
        this.#closeHandlers.delete(onClose);
        if (err !== undefined) reject(err);
        else resolve(msg as IrcMessage);
      };
      const timer = setTimeout(() => {
        done(new Error(`${this.name}: no ${what} within ${timeout} ms (last lines: ${JSON.stringify(this.recent.slice(-3))})`));
      }, timeout);
      const off = this.onLine((msg) => {
        if (pred(msg)) done(undefined, msg);
      });
      const onClose = (): void => {
        done(new Error(`${this.name}: closed while waiting for ${what} (last lines: ${JSON.stringify(this.recent.slice(-3))})`));
      };
      if (this.closed) onClose();
      else this.#closeHandlers.add(onClose);
    });
  }

  async register(nick: string, timeout = 5_000): Promise<void> {
    const welcome = this.waitFor((m) => m.command === '001', '001', timeout);
    this.send(`NICK ${nick}`, `USER ${nick} 0 * :stress ${nick}`);
    await welcome;
  }

  async join(channel: string, timeout = 5_000): Promise<void> {
    const end = this.waitFor((m) => m.command === '366' && m.params[1] === channel, `366 ${channel}`, timeout);
    this.send(`JOIN ${channel}`);
    await end;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

// ---- the healthy watchdog ----------------------------------------------------

export const WATCHDOG_INTERVAL = 200;
export const WATCHDOG_DEADLINE = 2_000;

/** PINGs every 200 ms from its own connection; each PONG must come within 2 s, and the connection must stay up. */
export class Watchdog {
  readonly client: IrcClient;
  readonly failures: string[] = [];
  sent = 0;
  answered = 0;
  maxMs = 0;
  #sumMs = 0;
  readonly #outstanding = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  #stopping = false;

  constructor(client: IrcClient) {
    this.client = client;
    client.onLine((msg) => {
      if (msg.command !== 'PONG') return;
      const token = msg.params[1] ?? '';
      const at = this.#outstanding.get(token);
      if (at === undefined) return;
      this.#outstanding.delete(token);
      const ms = performance.now() - at;
      this.answered++;
      this.#sumMs += ms;
      if (ms > this.maxMs) this.maxMs = ms;
      if (ms > WATCHDOG_DEADLINE) this.failures.push(`watchdog: PONG ${token} after ${Math.round(ms)} ms (> ${WATCHDOG_DEADLINE} ms)`);
    });
    client.onClose(() => {
      if (!this.#stopping) this.failures.push(`watchdog: connection closed (${JSON.stringify(client.recent.slice(-2))})`);
    });
  }

  get meanMs(): number {
    return this.answered === 0 ? 0 : this.#sumMs / this.answered;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.#tick();
    }, WATCHDOG_INTERVAL);
  }

  #tick(): void {
    const now = performance.now();
    for (const [token, at] of this.#outstanding) {
      if (now - at > WATCHDOG_DEADLINE) {
        this.failures.push(`watchdog: no PONG ${token} within ${WATCHDOG_DEADLINE} ms`);
        this.#outstanding.delete(token);
      }
    }
    if (this.client.closed) return;
    const token = `wd${++this.#seq}`;
    this.#outstanding.set(token, now);
    this.sent++;
    this.client.send(`PING ${token}`);
  }

  /** Stops pinging and waits (up to the deadline) for the last PONGs. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    const until = performance.now() + WATCHDOG_DEADLINE + 500;
    while (this.#outstanding.size > 0 && performance.now() < until && !this.client.closed) await sleep(20);
    this.#tick(); // Flags any still unanswered (and sends one last PING, ignored).
    this.#stopping = true;
    if (this.sent === 0) this.failures.push('watchdog: sent nothing');
  }
}

// ---- the healthy pair ----------------------------------------------------------

/** Two clients in one channel exchanging sequenced PRIVMSGs: every one sent must arrive at the other, once, in order. */
export class HealthyPair {
  readonly a: IrcClient;
  readonly b: IrcClient;
  readonly channel: string;
  readonly failures: string[] = [];
  /** Index 0: sent by a; 1: sent by b. */
  readonly sent = [0, 0];
  readonly received = [0, 0];
  reordered = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopping = false;
  readonly #interval: number;

  constructor(a: IrcClient, b: IrcClient, channel: string, interval = 20) {
    this.a = a;
    this.b = b;
    this.channel = channel;
    this.#interval = interval;
    this.#watch(b, a, 0);
    this.#watch(a, b, 1);
  }

  /** `rx` receives what `tx` sends; `i` indexes tx's counters. */
  #watch(rx: IrcClient, tx: IrcClient, i: number): void {
    rx.onLine((msg) => {
      if (msg.command !== 'PRIVMSG' || msg.params[0] !== this.channel || msg.nick !== tx.name) return;
      const text = msg.params[1] ?? '';
      const n = Number(/^seq (\d+) /.exec(text)?.[1] ?? NaN);
      const expected = (this.received[i] ?? 0) + 1;
      if (n !== expected) {
        this.reordered++;
        if (this.failures.length < 20) this.failures.push(`pair: ${rx.name} got seq ${n} from ${tx.name}, expected ${expected}`);
      }
      this.received[i] = Math.max(this.received[i] ?? 0, Number.isFinite(n) ? n : 0);
    });
    rx.onClose(() => {
      if (!this.#stopping) this.failures.push(`pair: ${rx.name} disconnected (${JSON.stringify(rx.recent.slice(-2))})`);
    });
  }

  static async start(port: number, channel: string, opts: { tls?: boolean; nicks?: [string, string] } = {}): Promise<HealthyPair> {
    const [na, nb] = opts.nicks ?? ['hpA', 'hpB'];
    const a = await IrcClient.connect(na, { port, tls: opts.tls });
    const b = await IrcClient.connect(nb, { port, tls: opts.tls });
    await Promise.all([a.register(na), b.register(nb)]);
    await a.join(channel);
    await b.join(channel);
    return new HealthyPair(a, b, channel);
  }

  start(): void {
    const pad = 'x'.repeat(40);
    this.#timer = setInterval(() => {
      for (const [i, c] of [this.a, this.b].entries()) {
        if (c.closed) continue;
        const n = (this.sent[i] ?? 0) + 1;
        this.sent[i] = n;
        c.send(`PRIVMSG ${this.channel} :seq ${n} ${pad}`);
      }
    }, this.#interval);
  }

  get lost(): number {
    return (this.sent[0] ?? 0) - (this.received[0] ?? 0) + (this.sent[1] ?? 0) - (this.received[1] ?? 0);
  }

  /** Stops sending and waits up to `timeout` for everything sent to arrive. */
  async stop(timeout = 10_000): Promise<void> {
    clearInterval(this.#timer);
    const until = performance.now() + timeout;
    while (this.lost > 0 && performance.now() < until && !this.a.closed && !this.b.closed) await sleep(20);
    this.#stopping = true;
    if (this.lost > 0) this.failures.push(`pair: ${this.lost} of ${(this.sent[0] ?? 0) + (this.sent[1] ?? 0)} messages never arrived`);
    if ((this.sent[0] ?? 0) === 0) this.failures.push('pair: sent nothing');
  }

  destroy(): void {
    this.a.destroy();
    this.b.destroy();
  }
}

// ---- small things ------------------------------------------------------------

/** mulberry32: a small, fast, seeded PRNG (the fuzz must be reproducible from its seed). */
export class Prng {
  readonly next: () => number;

  constructor(seed: number) {
    this.next = mulberry32(seed);
  }

  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)] as T;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
}

/** Polls `cond` every `every` ms until it holds (true) or `timeout` passes (false). */
export async function waitUntil(cond: () => boolean | Promise<boolean>, timeout: number, every = 50): Promise<boolean> {
  const until = performance.now() + timeout;
  for (;;) {
    if (await cond()) return true;
    if (performance.now() >= until) return false;
    await sleep(every);
  }
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` at once. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

export function mib(n: number): string {
  return (n / MiB).toFixed(1);
}

/** `a=1,b_c=2` from a tally, largest first (spaces in keys become `_`, so a figure stays one word). */
export function tally(t: Record<string, number>, limit = 6): string {
  return Object.entries(t)
    .sort((x, y) => y[1] - x[1])
    .slice(0, limit)
    .map(([k, v]) => `${k.replaceAll(' ', '_')}=${v}`)
    .join(',');
}
