/**
 * Hand-off time (issue 13): N idle plain TCP connections to an echo backend
 * in its own process, which forks a successor and hands them all over. A
 * few probe clients ping back to back all the while; the table gives the
 * hand-off time (the successor's hello to its confirmation, as `handOff()`
 * measures it, and from the request to the end, fork and start-up of the
 * successor included) and the longest reply a probe waited for during the
 * hand-off, next to the longest it waited in the second before it.
 *
 *   node build/bench/handoff.js [--conns 1000,10000] [--probes 10]
 *
 * Every process needs a descriptor per connection (the bench's clients, the
 * old process, the successor): `ulimit -n` must be above the largest count.
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { sleep } from './lib/options.js';
import { fmt, printTable, ratio } from './lib/table.js';

const SERVER = fileURLToPath(new URL('./lib/handoff-server.js', import.meta.url));

interface Result {
  moved: number;
  staying: number;
  elapsed: number;
  whole: number;
  successor: number;
}

class Probe {
  readonly #socket: net.Socket;
  #sentAt = 0;
  #n = 0;
  #buf = '';
  #running = true;
  /** [sent at, waited ms] of every reply. */
  readonly samples: [number, number][] = [];

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      this.#buf += chunk;
      let i: number;
      while ((i = this.#buf.indexOf('\n')) >= 0) {
        this.#buf = this.#buf.slice(i + 1);
        const now = performance.now();
        this.samples.push([this.#sentAt, now - this.#sentAt]);
        // A line every 2 ms at most: a steady client, not a flood.
        setTimeout(() => {
          this.#ping();
        }, 2);
      }
    });
  }

  start(): void {
    this.#ping();
  }

  #ping(): void {
    if (!this.#running) return;
    this.#sentAt = performance.now();
    this.#socket.write(`PING :${this.#n++}\r\n`);
  }

  stop(): void {
    this.#running = false;
  }

  /** The longest wait of a line sent in [from, to). */
  worst(from: number, to: number): number {
    let worst = 0;
    for (const [at, ms] of this.samples) if (at >= from && at < to) worst = Math.max(worst, ms);
    return worst;
  }
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

async function openMany(port: number, n: number): Promise<net.Socket[]> {
  const out: net.Socket[] = [];
  // In batches below the listen backlog (511).
  for (let i = 0; i < n; i += 250) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(250, n - i) }, () => connect(port)))));
  }
  for (const s of out) {
    s.on('error', () => {
      // Counted below as closed.
    });
  }
  return out;
}

function message<T>(child: ChildProcess, pick: (m: Record<string, unknown>) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: Record<string, unknown>): void => {
      if (!pick(m)) return;
      child.off('message', on);
      resolve(m as T);
    };
    child.on('message', on);
  });
}

async function runOnce(conns: number, probes: number): Promise<(string | number)[]> {
  const server = fork(SERVER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port } = await message<{ port: number }>(server, (m) => 'port' in m);
  const idle = await openMany(port, conns);
  const probers = await Promise.all(Array.from({ length: probes }, async () => new Probe(await connect(port))));
  for (const p of probers) p.start();
  await sleep(1_000);
  const t0 = performance.now();
  const done = message<Result & { error?: string }>(server, (m) => 'moved' in m || 'error' in m);
  server.send({ cmd: 'handoff' });
  const result = await done;
  const t1 = performance.now();
  if (result.error !== undefined) throw new Error(`hand-off failed: ${result.error}`);
  await sleep(1_000);
  for (const p of probers) p.stop();
  const during = Math.max(...probers.map((p) => p.worst(t0, t1)));
  const before = Math.max(...probers.map((p) => p.worst(t0 - 1_000, t0)));
  const closed = idle.filter((s) => s.destroyed).length;
  for (const s of idle) s.destroy();
  process.kill(result.successor, 'SIGTERM');
  await sleep(200);
  return [
    fmt(conns),
    fmt(result.moved),
    fmt(closed),
    fmt(result.elapsed, 0),
    fmt(result.whole, 0),
    fmt(before, 1),
    fmt(during, 1),
    ratio(during, before),
  ];
}

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: { conns: { type: 'string', default: '1000,10000' }, probes: { type: 'string', default: '10' } },
    strict: false,
  });
  const sizes = String(values.conns).split(',').map(Number);
  const probes = Number(values.probes);
  const rows: (string | number)[][] = [];
  for (const n of sizes) rows.push(await runOnce(n, probes));
  printTable(
    'Hand-off of idle plain TCP connections to a successor process',
    ['idle conns', 'moved', 'dropped', 'hand-off ms', 'whole ms', 'worst wait before (ms)', 'worst wait during (ms)', 'during/before'],
    rows,
    [
      `${probes} extra probe clients ping back to back (moved too); "hand-off ms" is handOff()'s own figure (successor's hello to its confirmation),`,
      '"whole ms" adds the fork and start-up of the successor. Loopback, one run per size, on a 2-core machine shared with other work.',
    ],
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main(process.argv.slice(2));
