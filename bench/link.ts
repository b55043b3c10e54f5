/**
 * Linked relays (issue 15): a 50-member channel spread over two relays linked
 * as servers, one member sending; fan-out deliveries per server-CPU-second
 * (both processes summed) beside the same channel on a single relay, and the
 * bytes on the link with and without zlib.
 *
 *   node build/bench/index.js --only link [--messages 4000] [--runs 3] [--members 50]
 *
 * Loopback only; the clients live in this process, each relay in its own.
 */
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild, type BenchChild } from './lib/child.js';
import { median } from './lib/stats.js';

const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'servers', 'link-relay.js');

interface RelayStats {
  cpu: NodeJS.CpuUsage;
  linksUp: number;
  linkBytesOut: number;
  linkBytesIn: number;
}

interface Proc {
  child: BenchChild;
  port: number;
}

async function relay(args: string[]): Promise<Proc> {
  const { child, ready } = await startChild('link-relay', SERVER, args);
  return { child, port: ready.port as number };
}

/** A client that counts the lines it receives. */
class Counter {
  readonly socket: net.Socket;
  lines = 0;
  #waiters: (() => void)[] = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (b: Buffer) => {
      for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) this.lines++;
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  /** Resolves once `lines` reaches `n` (or rejects after `ms`). */
  async reach(n: number, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.lines < n) {
      if (Date.now() > deadline) throw new Error(`client stuck at ${this.lines} of ${n} lines`);
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }
}

const cpuSeconds = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage): number => (b.user - a.user + b.system - a.system) / 1e6;

interface RunResult {
  perCpuSecond: number;
  linkBytesPerMessage: number;
}

async function run(kind: 'single' | 'compressed' | 'plain', members: number, messages: number): Promise<RunResult> {
  const procs: Proc[] = [];
  const clients: Counter[] = [];
  try {
    const a = await relay(['--name', 'a.bench', '--accept', 'b.bench', ...(kind === 'plain' ? ['--no-compress'] : [])]);
    procs.push(a);
    let b: Proc | undefined;
    if (kind !== 'single') {
      b = await relay(['--name', 'b.bench', '--link', `a.bench:${a.port}`, ...(kind === 'plain' ? ['--no-compress'] : [])]);
      procs.push(b);
      for (let i = 0; (await a.child.request<RelayStats>('stats')).linksUp === 0; i++) {
        if (i > 100) throw new Error('the relays did not link');
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    // Half the members on each relay; the sender (member 0) is on a.
    for (let i = 0; i < members; i++) {
      const port = b !== undefined && i % 2 === 1 ? b.port : a.port;
      const c = new Counter(port);
      c.socket.write(`NICK m${i}\r\nUSER m 0 * :m\r\nJOIN #bench\r\n`);
      clients.push(c);
    }
    // Every member sees every JOIN: wait until the last one's JOIN has reached all.
    const last = clients[members - 1] as Counter;
    await last.reach(8, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    const base = clients.map((c) => c.lines);
    const before = await Promise.all(procs.map((p) => p.child.request<RelayStats>('stats')));
    const sender = clients[0] as Counter;
    // Varied text (a counter, words in a changing order), so zlib is not measured on one repeated line.
    const words = ['link', 'fan-out', 'über', 'relay', 'zlib', 'channel', 'ngIRCd', 'server', 'burst', 'netsplit', 'ok', '✓'];
    let seed = 1;
    const word = (): string => words[(seed = (seed * 1103515245 + 12345) % 2147483648) % words.length] as string;
    for (let i = 0; i < messages; i += 100) {
      let chunk = '';
      for (let j = i; j < Math.min(i + 100, messages); j++) chunk += `PRIVMSG #bench :${j} ${word()} ${word()} ${word()} ${word()} ${word()} ${word()}\r\n`;
      if (!sender.socket.write(chunk)) await new Promise((r) => sender.socket.once('drain', r));
    }
    await Promise.all(clients.slice(1).map((c, i) => c.reach((base[i + 1] as number) + messages, 60_000)));
    const after = await Promise.all(procs.map((p) => p.child.request<RelayStats>('stats')));
    const cpu = procs.reduce((sum, _p, i) => sum + cpuSeconds((before[i] as RelayStats).cpu, (after[i] as RelayStats).cpu), 0);
    const linkBytes = (after[0] as RelayStats).linkBytesOut - (before[0] as RelayStats).linkBytesOut;
    return { perCpuSecond: ((members - 1) * messages) / cpu, linkBytesPerMessage: linkBytes / messages };
  } finally {
    for (const c of clients) c.socket.destroy();
    await Promise.all(procs.map((p) => p.child.request('exit').catch(() => undefined)));
  }
}

function option(argv: readonly string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  const v = i >= 0 ? Number(argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} takes a positive number`);
  return v;
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const messages = option(argv, '--messages', 4000);
  const runs = option(argv, '--runs', 3);
  const members = option(argv, '--members', 50);
  const results: Record<string, RunResult[]> = { single: [], compressed: [], plain: [] };
  // Interleaved, so that load from others on the machine falls on every kind alike.
  for (let r = 0; r < runs; r++) {
    for (const kind of ['single', 'compressed', 'plain'] as const) results[kind]?.push(await run(kind, members, messages));
  }
  const med = (kind: string, f: (r: RunResult) => number): number => median((results[kind] ?? []).map(f));
  const single = med('single', (r) => r.perCpuSecond);
  console.log(`\nlink: #bench with ${members} members, ${messages} messages from one member, median of ${runs} runs`);
  console.log('setup                      | deliveries/server-CPU-s | vs single | link bytes/message');
  for (const [kind, label] of [['single', 'one relay'], ['compressed', 'two relays, zlib link'], ['plain', 'two relays, plain link']] as const) {
    const per = med(kind, (r) => r.perCpuSecond);
    const bytes = kind === 'single' ? '—' : med(kind, (r) => r.linkBytesPerMessage).toFixed(1);
    console.log(`${label.padEnd(26)} | ${Math.round(per).toString().padStart(23)} | ${(per / single).toFixed(2).padStart(9)} | ${bytes.padStart(18)}`);
  }
  const ratio = med('plain', (r) => r.linkBytesPerMessage) / med('compressed', (r) => r.linkBytesPerMessage);
  console.log(`zlib cuts the link's bytes ${ratio.toFixed(1)}x`);
}
