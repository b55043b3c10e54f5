/**
 * Idle memory (issue 3): a load generator in its own process holds 10,000
 * loopback connections open to one server; the server's RSS is read before
 * and after (each after a full `global.gc()`, the server running with
 * `--expose-gc`), and the difference per connection is compared between the
 * ircsock backend (every connection with the default 180 s idle timer) and
 * the plain `net` server. Each run starts fresh processes.
 *
 * `--baseline DIR`: also run DIR's own built ircsock server
 * (DIR/build/bench/servers/ircsock.js, on DIR/build/src) as `ircsock@baseline`,
 * interleaved with the others; a second table gives the paired ratios.
 * `--servers` may also name `ircsock-unix` and `ircsock-proxy2` (not run by
 * default): the same server on a Unix socket, or behind a PROXY v2 header.
 * `ircsock-ws` (run by default, issue 10): the same server with a WebSocket
 * listener, its clients offering `binary.ircv3.net`.
 * `--heap-snapshot DIR`: each ircsock server writes a V8 heap snapshot into
 * DIR once its connections are open (after the RSS reading), for
 * `node build/bench/profile.js heap FILE`.
 *
 *   node build/bench/idle.js [--conns 10000] [--runs 3] [--servers ircsock,plain]
 *                            [--baseline DIR] [--heap-snapshot DIR]
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { LoadGen } from './lib/loadgen.js';
import { parseSocketBenchArgs, sleep } from './lib/options.js';
import { printPairs, type Pair } from './lib/pairs.js';
import { baselineSpec, ServerProcess, type ServerSpec } from './lib/server.js';
import { median, spread } from './lib/stats.js';
import { bytes, fmt, printTable, ratio } from './lib/table.js';

export const IDLE_SERVERS: readonly ServerSpec[] = [
  { label: 'ircsock', module: 'ircsock' },
  { label: 'plain', module: 'plain', args: ['--mode', 'queue'] },
  // Idle WebSocket connections (issue 10): the same server with a WebSocket listener.
  { label: 'ircsock-ws', module: 'ircsock', transport: 'ws' },
];
/** Run only when `--servers` names them. */
export const IDLE_EXTRA_SERVERS: readonly ServerSpec[] = [
  { label: 'ircsock-unix', module: 'ircsock', transport: 'unix' },
  { label: 'ircsock-proxy2', module: 'ircsock', transport: 'proxy-v2' },
];
const SUBJECT = 'ircsock';
const BASELINE = 'plain';
/** The label of `--baseline DIR`'s ircsock server. */
const BEFORE = 'ircsock@baseline';
const PAIRS: readonly Pair[] = [
  { row: SUBJECT, reference: BEFORE, what: 'this checkout / the baseline checkout (target: ≤ 1.03× RSS)' },
  { row: SUBJECT, reference: BASELINE, what: 'ircsock / plain net (target: ≤ 1.30× RSS)' },
  { row: 'ircsock-unix', reference: SUBJECT, what: 'Unix socket / TCP' },
  { row: 'ircsock-proxy2', reference: SUBJECT, what: 'PROXY v2 listener / TCP listener without' },
  { row: 'ircsock-ws', reference: SUBJECT, what: 'WebSocket connection / TCP connection' },
];

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
  /** Have the server write a heap snapshot into this directory once the connections are open. */
  heapSnapshot?: string;
}

/** One fresh server: `conns` clients open and silent; RSS and heap per connection after `global.gc()`. */
export async function measureIdle(spec: ServerSpec, o: IdleOptions): Promise<IdleResult> {
  const fdLimit = o.conns + 1024;
  const snapshotArgs = o.heapSnapshot === undefined ? [] : ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${resolve(o.heapSnapshot)}`];
  const server = await ServerProcess.start(spec, { execArgv: ['--expose-gc', ...snapshotArgs, ...(o.execArgv ?? [])], fdLimit, maxLifetime: 180_000 });
  let gen: LoadGen | undefined;
  try {
    gen = await LoadGen.start({ fdLimit, maxLifetime: 180_000 });
    // Let start-up garbage settle, then the baseline.
    await sleep(200);
    const before = await server.gcStats();
    if (!before.gc) throw new Error(`${spec.label}: global.gc() is not available (run the server with --expose-gc)`);
    const opened = await gen.open({
      ...server.target,
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
    if (o.heapSnapshot !== undefined) await heapSnapshot(server, resolve(o.heapSnapshot));
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

/**
 * Signals the server (started with `--heapsnapshot-signal=SIGUSR2`) to write a
 * heap snapshot into `dir`, and waits until the new file stops growing.
 */
async function heapSnapshot(server: ServerProcess, dir: string): Promise<void> {
  const snapshots = async (): Promise<string[]> => (await readdir(dir)).filter((f) => f.endsWith('.heapsnapshot') && f.includes(`.${server.pid}.`));
  const known = new Set(await snapshots());
  process.kill(server.pid, 'SIGUSR2');
  const deadline = Date.now() + 120_000;
  let last = -1;
  for (;;) {
    await sleep(500);
    const file = (await snapshots()).find((f) => !known.has(f));
    if (file !== undefined) {
      const size = (await stat(join(dir, file))).size;
      // The server answers only once the (synchronous) snapshot is written.
      if (size > 0 && size === last) {
        await server.stats();
        process.stderr.write(`  heap snapshot of ${server.spec.label}: ${join(dir, file)}\n`);
        return;
      }
      last = size;
    }
    if (Date.now() > deadline) throw new Error(`${server.spec.label}: no heap snapshot in ${dir} after 120 s`);
  }
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const o = parseSocketBenchArgs(argv);
  const snapshotDir = parseArgs({ args: [...argv], options: { 'heap-snapshot': { type: 'string' } }, strict: false }).values['heap-snapshot'];
  if (snapshotDir !== undefined && typeof snapshotDir !== 'string') throw new Error('--heap-snapshot takes a directory');
  if (snapshotDir !== undefined) await mkdir(snapshotDir, { recursive: true });
  const conns = o.conns ?? 10_000;
  const runs = Math.max(1, o.runs ?? 3);
  const all = [...IDLE_SERVERS, ...IDLE_EXTRA_SERVERS];
  const specs = o.servers === undefined ? [...IDLE_SERVERS] : all.filter((s) => o.servers?.includes(s.label));
  if (specs.length === 0) throw new Error(`--servers: choose from ${all.map((s) => s.label).join(', ')}`);
  if (o.baseline !== undefined) specs.push(baselineSpec(IDLE_SERVERS[0] as ServerSpec, o.baseline, BEFORE));

  const results = new Map<string, IdleResult[]>(specs.map((s) => [s.label, []]));
  for (let run = 0; run < runs; run++) {
    const order = run % 2 === 0 ? specs : [...specs].reverse();
    for (const spec of order) {
      // Each client sends one line, as a registered client would have: neither server relays it,
      // and ircsock drops connections that send no line within limits.firstLineTimeout.
      const snapshot = snapshotDir !== undefined && spec.module === 'ircsock' ? { heapSnapshot: snapshotDir } : {};
      const r = await measureIdle(spec, { conns, greet: ['NICK idle{i}'], ...snapshot });
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
      'ircsock-ws: the same server with a WebSocket listener (binary.ircv3.net clients; the upgrade\'s HTTP parser and ws\'s per-socket state are what it adds).',
      `Target (issue 3): ${SUBJECT} ≤ 1.30× ${BASELINE} RSS per connection — this run: ${Number.isFinite(r) ? r.toFixed(2) : '—'}×.`,
      ...(o.baseline === undefined ? [] : [`${BEFORE} = the ircsock server built in ${o.baseline} (its own build/bench/servers/ircsock.js and build/src/).`]),
    ],
  );
  printPairs(`Idle memory, rows against each other (${runs} rounds; lower is leaner)`, PAIRS, results, [
    { title: 'RSS/conn', value: (x) => x.rssPerConn },
    { title: 'heap/conn', value: (x) => x.heapPerConn },
  ]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  });
}
