/**
 * Idle memory (issue 3): a load generator in its own process holds 10,000
 * loopback connections open to one server; the server's RSS is read before
 * and after (each after a full `global.gc()`, the server running with
 * `--expose-gc`), and the difference per connection is compared between the
 * ircsock backend (every connection with the default 180 s idle timer) and
 * the plain `net` server. Each run starts fresh processes.
 *
 *   node build/bench/idle.js [--conns 10000] [--runs 3] [--servers ircsock,plain]
 */
import { pathToFileURL } from 'node:url';
import { LoadGen } from './lib/loadgen.js';
import { parseSocketBenchArgs, sleep } from './lib/options.js';
import { ServerProcess, type ServerSpec } from './lib/server.js';
import { median, spread } from './lib/stats.js';
import { bytes, fmt, printTable, ratio } from './lib/table.js';

export const IDLE_SERVERS: readonly ServerSpec[] = [
  { label: 'ircsock', module: 'ircsock' },
  { label: 'plain', module: 'plain', args: ['--mode', 'queue'] },
];
const SUBJECT = 'ircsock';
const BASELINE = 'plain';

export interface IdleResult {
  rssPerConn: number;
  heapPerConn: number;
  externalPerConn: number;
  rssBefore: number;
  rssAfter: number;
  openMs: number;
}

/** How `measureIdle` opens its connections. */
export interface IdleOptions {
  conns: number;
  /** Lines each client sends on connect (`{i}` is its number). */
  greet: string[];
  /** A text each client waits for before it counts as open (e.g. the end of a welcome burst). */
  readyMarker?: string;
  autoPong?: boolean;
  /** Extra node flags for the server (profiling). */
  execArgv?: string[];
}

/** One fresh server: `conns` clients open and silent; RSS and heap per connection after `global.gc()`. */
export async function measureIdle(spec: ServerSpec, o: IdleOptions): Promise<IdleResult> {
  const fdLimit = o.conns + 1024;
  const server = await ServerProcess.start(spec, { execArgv: ['--expose-gc', ...(o.execArgv ?? [])], fdLimit, maxLifetime: 180_000 });
  let gen: LoadGen | undefined;
  try {
    gen = await LoadGen.start({ fdLimit, maxLifetime: 180_000 });
    // Let start-up garbage settle, then the baseline.
    await sleep(200);
    const before = await server.gcStats();
    if (!before.gc) throw new Error(`${spec.label}: global.gc() is not available (run the server with --expose-gc)`);
    const opened = await gen.open({
      host: '127.0.0.1',
      port: server.port,
      count: o.conns,
      concurrency: 256,
      greet: o.greet,
      readyMarker: o.readyMarker,
      autoPong: o.autoPong,
      timeout: 90_000,
    });
    if (opened.opened !== o.conns) throw new Error(`${spec.label}: opened ${opened.opened} of ${o.conns} connections (${opened.firstError ?? ''})`);
    await server.waitForConnections(o.conns, 30_000);
    await gen.settle(300, 10_000);
    const after = await server.gcStats();
    if (after.connections !== o.conns) throw new Error(`${spec.label}: ${after.connections} connections at the end, not ${o.conns}`);
    return {
      rssPerConn: (after.rss - before.rss) / o.conns,
      heapPerConn: (after.heapUsed - before.heapUsed) / o.conns,
      externalPerConn: (after.external - before.external) / o.conns,
      rssBefore: before.rss,
      rssAfter: after.rss,
      openMs: opened.ms,
    };
  } finally {
    await gen?.close().catch(() => undefined);
    await gen?.stop();
    await server.stop();
  }
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const o = parseSocketBenchArgs(argv);
  const conns = o.conns ?? 10_000;
  const runs = Math.max(1, o.runs ?? 3);
  const specs = o.servers === undefined ? IDLE_SERVERS : IDLE_SERVERS.filter((s) => o.servers?.includes(s.label));
  if (specs.length === 0) throw new Error(`--servers: choose from ${IDLE_SERVERS.map((s) => s.label).join(', ')}`);

  const results = new Map<string, IdleResult[]>(specs.map((s) => [s.label, []]));
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? specs : [...specs].reverse();
    for (const spec of order) {
      // Each client sends one line, as a registered client would have: neither server relays it,
      // and ircsock drops connections that send no line within limits.firstLineTimeout.
      const r = await measureIdle(spec, { conns, greet: ['NICK idle{i}'] });
      results.get(spec.label)?.push(r);
      process.stderr.write(`  idle run ${run + 1}/${runs} ${spec.label}: RSS ${bytes(r.rssBefore)} → ${bytes(r.rssAfter)}, ${fmt(r.rssPerConn)} B/connection (heap ${fmt(r.heapPerConn)} B)\n`);
    }
  }

  const med = (label: string, f: (r: IdleResult) => number): number => median((results.get(label) ?? []).map(f));
  const subject = med(SUBJECT, (r) => r.rssPerConn);
  const rows = specs.map((s) => {
    const list = results.get(s.label) ?? [];
    const perConn = med(s.label, (r) => r.rssPerConn);
    return [
      s.label,
      bytes(med(s.label, (r) => r.rssBefore)),
      bytes(med(s.label, (r) => r.rssAfter)),
      perConn,
      `±${fmt(spread(list.map((r) => r.rssPerConn)) * 100)}%`,
      med(s.label, (r) => r.heapPerConn),
      med(s.label, (r) => r.externalPerConn),
      s.label === SUBJECT ? '1.00×' : ratio(subject, perConn),
    ];
  });
  const r = subject / med(BASELINE, (x) => x.rssPerConn);
  printTable(
    `Idle memory: ${fmt(conns)} loopback connections held open, server RSS after global.gc(); median of ${runs} runs, fresh processes each`,
    [
      'server',
      'RSS before',
      'RSS after',
      'RSS B/conn',
      'spread',
      'heap B/conn',
      'external B/conn',
      `${SUBJECT}/this`,
    ],
    rows,
    [
      'ircsock: Backend listener with the default idle timer (180 s), so one timer per connection is counted; plain: net server (the fan-out ceiling).',
      'Each client connects and sends one line (NICK), then stays silent. B/conn = (after − before) / connections.',
      `Target (issue 3): ${SUBJECT} ≤ 1.30× ${BASELINE} RSS per connection — this run: ${Number.isFinite(r) ? r.toFixed(2) : '—'}×.`,
    ],
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  });
}
