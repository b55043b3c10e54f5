/**
 * Fan-out (issue 3): a load generator in its own process opens 200 loopback
 * clients to one server; K of them send PRIVMSG lines as fast as flow control
 * allows and the server writes each line to every other client. Compared in
 * the same run: the ircsock backend (parse, `input` event, `send` to 199
 * targets, formatted once) and the plain `net` ceiling (indexOf line
 * splitting, no parsing). Reported: deliveries/s and deliveries per
 * server-CPU-second (the server process's own `process.cpuUsage()` over the
 * measured window), median of the runs.
 *
 *
 * Transport rows: the same servers over a Unix-domain socket in a temporary
 * directory (`ircsock-unix`, `plain-unix`), and the ircsock server behind a
 * listener that requires a PROXY header, each client sending a v2 header
 * first (`ircsock-proxy2`; the header is read once per connection, before
 * the measured window: the row shows that the transport adds no per-line cost).
 * WebSocket rows (issue 10): the ircsock server with a WebSocket listener,
 * the clients offering `binary.ircv3.net` (`ircsock-ws`) or `text.ircv3.net`
 * (`ircsock-ws-text`), one message per line both ways; the WebSocket clients
 * run in a load-generator process of their own (the `ws` client library's
 * state never shares a process with the TCP clients').
 *
 * `--baseline DIR`: also run DIR's own built ircsock server
 * (DIR/build/bench/servers/ircsock.js, on DIR/build/src) as `ircsock@baseline`,
 * interleaved with the others, for a before/after comparison in one run.
 * A second table gives the paired ratios (each run's pair, then the median).
 *
 *   node build/bench/fanout.js [--runs 3] [--duration 5] [--warmup 1]
 *                              [--clients 200] [--senders 4]
 *                              [--inflight 128] [--batch 16]
 *                              [--servers ircsock,plain,...] [--baseline DIR]
 *                              [--profile DIR] [--track]
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LoadGen, type Mark } from './lib/loadgen.js';
import { parseSocketBenchArgs } from './lib/options.js';
import { printPairs, type Pair } from './lib/pairs.js';
import { baselineSpec, ServerProcess, type ServerSpec, type ServerStats } from './lib/server.js';
import { cpuSeconds, median, spread } from './lib/stats.js';
import { fmt, printTable, ratio } from './lib/table.js';
import { measureWindow } from './lib/window.js';

export const FANOUT_SERVERS: readonly ServerSpec[] = [
  { label: 'ircsock', module: 'ircsock' },
  { label: 'plain', module: 'plain', args: ['--mode', 'queue'] },
  { label: 'plain-cork', module: 'plain', args: ['--mode', 'cork'] },
  { label: 'plain-chunk', module: 'plain', args: ['--mode', 'chunk'] },
  // Transports: a Unix-domain socket, and TCP with a PROXY v2 header per connection.
  { label: 'ircsock-unix', module: 'ircsock', transport: 'unix' },
  { label: 'plain-unix', module: 'plain', args: ['--mode', 'queue'], transport: 'unix' },
  { label: 'ircsock-proxy2', module: 'ircsock', transport: 'proxy-v2' },
  // WebSocket (IRCv3 WebSocket): binary and text subprotocols.
  { label: 'ircsock-ws', module: 'ircsock', transport: 'ws' },
  { label: 'ircsock-ws-text', module: 'ircsock', transport: 'ws-text' },
];
/** The ratio column compares this server… */
const SUBJECT = 'ircsock';
/** …to this one, the ceiling of the issue. */
const CEILING = 'plain';
/** The label of `--baseline DIR`'s ircsock server. */
export const BASELINE = 'ircsock@baseline';
/** The paired comparisons of the second table: `row / reference`, when both ran. */
const PAIRS: readonly Pair[] = [
  { row: SUBJECT, reference: BASELINE, what: 'this checkout / the baseline checkout (target: ≥ 0.97× per CPU-s)' },
  { row: 'ircsock-unix', reference: SUBJECT, what: 'Unix socket / TCP' },
  { row: 'plain-unix', reference: CEILING, what: 'Unix socket / TCP, plain net' },
  { row: 'ircsock-unix', reference: 'plain-unix', what: 'ircsock / plain over Unix sockets' },
  { row: 'ircsock-proxy2', reference: SUBJECT, what: 'PROXY v2 listener / TCP listener without' },
  { row: 'ircsock-ws', reference: SUBJECT, what: 'WebSocket (binary.ircv3.net) / TCP (target: ≥ 0.6× per CPU-s)' },
  { row: 'ircsock-ws-text', reference: SUBJECT, what: 'WebSocket (text.ircv3.net) / TCP (target: ≥ 0.6× per CPU-s)' },
];

const isWebSocket = (spec: ServerSpec): boolean => spec.transport === 'ws' || spec.transport === 'ws-text';

interface RunResult {
  deliveriesPerSec: number;
  perCpuSec: number;
  serverUtil: number;
  loadUtil: number;
  missing: number;
  closed: number;
  stalls: number;
  latencyP50?: number;
  latencyP99?: number;
  gaps?: number;
  reordered?: number;
}

interface FanoutConfig {
  clients: number;
  senders: number;
  warmupMs: number;
  durationMs: number;
  inflight: number;
  batch: number;
  track: boolean;
  profile: string | undefined;
}

async function oneRun(spec: ServerSpec, gen: LoadGen, cfg: FanoutConfig): Promise<RunResult> {
  const execArgv = cfg.profile === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${resolve(cfg.profile)}`, `--cpu-prof-name=${spec.label}-${Date.now()}.cpuprofile`];
  const server = await ServerProcess.start(spec, { execArgv, maxLifetime: 120_000 });
  try {
    const opened = await gen.open({ ...server.target, count: cfg.clients, timeout: 20_000 });
    if (opened.opened !== cfg.clients) throw new Error(`${spec.label}: opened ${opened.opened} of ${cfg.clients} clients (${opened.firstError ?? ''})`);
    await server.waitForConnections(cfg.clients, 10_000);
    const fanout = cfg.clients - 1;
    const { before: start, s0, m0, s1, m1, end } = await measureWindow(
      server,
      gen,
      { senders: cfg.senders, mode: 'flood', prefix: 'PRIVMSG #bench :', fanout, window: fanout * cfg.inflight * cfg.senders, batch: cfg.batch, track: cfg.track },
      cfg.warmupMs,
      cfg.durationMs,
    );
    const r = result(s0, s1, m0, m1);
    r.missing = (end.txLines - start.txLines) * fanout - (end.rxLines - start.rxLines);
    r.closed = end.closed - start.closed;
    r.stalls = end.stalls;
    if (cfg.track) {
      r.gaps = end.gaps ?? 0;
      r.reordered = end.reordered ?? 0;
      r.missing = end.missing ?? r.missing;
    }
    return r;
  } finally {
    await gen.close().catch(() => undefined);
    await server.stop();
  }
}

function result(s0: ServerStats, s1: ServerStats, m0: Mark, m1: Mark): RunResult {
  const wall = (m1.t - m0.t) / 1000;
  const deliveries = m1.rxLines - m0.rxLines;
  const cpu = cpuSeconds(s0.cpu, s1.cpu);
  const r: RunResult = {
    deliveriesPerSec: deliveries / wall,
    perCpuSec: deliveries / cpu,
    serverUtil: cpu / wall,
    loadUtil: cpuSeconds(m0.cpu, m1.cpu) / wall,
    missing: 0,
    closed: 0,
    stalls: 0,
  };
  if (m1.latency !== undefined) {
    r.latencyP50 = m1.latency.p50;
    r.latencyP99 = m1.latency.p99;
  }
  return r;
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const o = parseSocketBenchArgs(argv);
  const cfg: FanoutConfig = {
    clients: o.clients ?? 200,
    senders: o.senders ?? 4,
    warmupMs: (o.warmup ?? 1) * 1000,
    durationMs: (o.duration ?? 5) * 1000,
    inflight: o.inflight ?? 128,
    batch: o.batch ?? 16,
    track: o.track,
    profile: o.profile,
  };
  const runs = Math.max(1, o.runs ?? 3);
  const specs = o.servers === undefined ? [...FANOUT_SERVERS] : FANOUT_SERVERS.filter((s) => o.servers?.includes(s.label));
  if (specs.length === 0) throw new Error(`--servers: choose from ${FANOUT_SERVERS.map((s) => s.label).join(', ')}`);
  if (o.baseline !== undefined) specs.push(baselineSpec(FANOUT_SERVERS[0] as ServerSpec, o.baseline, BASELINE));

  const genOptions = { fdLimit: cfg.clients + 1024, maxLifetime: runs * specs.length * 60_000 };
  const gen = await LoadGen.start(genOptions);
  // WebSocket clients in a load process of their own.
  const wsGen = specs.some(isWebSocket) ? await LoadGen.start(genOptions).catch(async (err: unknown) => {
    await gen.stop();
    throw err;
  }) : undefined;
  const results = new Map<string, RunResult[]>(specs.map((s) => [s.label, []]));
  try {
    for (let run = 0; run < runs; run++) {
      // Alternate the order so a noisy neighbour does not always hit the same server.
      const order = run % 2 === 0 ? specs : [...specs].reverse();
      for (const spec of order) {
        const r = await oneRun(spec, isWebSocket(spec) && wsGen !== undefined ? wsGen : gen, cfg);
        results.get(spec.label)?.push(r);
        process.stderr.write(`  fanout run ${run + 1}/${runs} ${spec.label}: ${fmt(r.deliveriesPerSec)} deliveries/s, ${fmt(r.perCpuSec)} per CPU-s (server ${fmt(r.serverUtil * 100)}% CPU, generator ${fmt(r.loadUtil * 100)}%)\n`);
      }
    }
  } finally {
    await gen.stop();
    await wsGen?.stop();
  }

  const med = (label: string, f: (r: RunResult) => number): number => median((results.get(label) ?? []).map(f));
  const subjectPerCpu = med(SUBJECT, (r) => r.perCpuSec);
  const subjectPerSec = med(SUBJECT, (r) => r.deliveriesPerSec);
  const rows = specs.map((s) => {
    const list = results.get(s.label) ?? [];
    const perCpu = med(s.label, (r) => r.perCpuSec);
    const perSec = med(s.label, (r) => r.deliveriesPerSec);
    const row = [
      s.label,
      perSec,
      perCpu,
      `±${fmt(spread(list.map((r) => r.perCpuSec)) * 100)}%`,
      `${fmt(med(s.label, (r) => r.serverUtil) * 100)}%`,
      `${fmt(med(s.label, (r) => r.loadUtil) * 100)}%`,
      s.label === SUBJECT ? '1.00×' : ratio(subjectPerSec, perSec),
      s.label === SUBJECT ? '1.00×' : ratio(subjectPerCpu, perCpu),
    ];
    if (cfg.track) {
      row.push(fmt(med(s.label, (r) => r.latencyP50 ?? NaN)), fmt(med(s.label, (r) => r.latencyP99 ?? NaN)));
    }
    return row;
  });
  const columns = [
    'server',
    'deliveries/s',
    'deliveries/CPU-s',
    'spread',
    'server CPU',
    'generator CPU',
    `${SUBJECT}/this (per s)`,
    `${SUBJECT}/this (per CPU-s)`,
    ...(cfg.track ? ['p50 µs', 'p99 µs'] : []),
  ];
  const problems: string[] = [];
  for (const [label, list] of results) {
    const missing = list.reduce((a, r) => a + Math.max(0, r.missing), 0);
    const closed = list.reduce((a, r) => a + r.closed, 0);
    const gaps = list.reduce((a, r) => a + (r.gaps ?? 0) + (r.reordered ?? 0), 0);
    const stalls = list.reduce((a, r) => a + r.stalls, 0);
    if (missing > 0 || closed > 0 || gaps > 0 || stalls > 0) {
      problems.push(`${label}: ${missing} deliveries missing, ${gaps} lost/reordered, ${closed} clients closed, ${stalls} flow-window stalls`);
    }
  }
  const perCpuRatio = subjectPerCpu / med(CEILING, (r) => r.perCpuSec);
  printTable(
    `Fan-out: ${cfg.clients} loopback clients, ${cfg.senders} sending as fast as flow control allows, every line to the ${cfg.clients - 1} others; ` +
      `median of ${runs} runs of ${cfg.durationMs / 1000} s after ${cfg.warmupMs / 1000} s warm-up`,
    columns,
    rows,
    [
      'deliveries = lines received by the clients; CPU = the server process\'s own process.cpuUsage() (user+system) over the measured window.',
      'plain = net server, Buffer.indexOf line splitting, no IRC parsing, each line queued to each other socket and written once per event-loop turn (ircsock\'s write strategy);',
      '  plain-cork = socket.write() per line, corked per turn (the textbook idiom); plain-chunk = the complete lines of each read as one buffer (no per-line work: a floor, not a line relay).',
      'ircsock-unix, plain-unix: the same servers on a Unix-domain socket in a temporary directory; ircsock-proxy2: a TCP listener with proxy: true,',
      '  each client sending a PROXY v2 header (its own endpoints) first — read once per connection before the measured window, so the row shows any per-line cost of the transport.',
      'ircsock-ws, ircsock-ws-text: a WebSocket listener (IRCv3 WebSocket, permessage-deflate off), clients offering binary.ircv3.net / text.ircv3.net, one message per line,',
      '  from a load-generator process of their own. Target (issue 10): ≥ 0.6× ircsock (TCP) per server-CPU-second — see the paired table.',
      `spread = half the max−min range over runs. Target (issue 3): ${SUBJECT} ≥ 0.80× ${CEILING} per server-CPU-second — this run: ${Number.isFinite(perCpuRatio) ? perCpuRatio.toFixed(2) : '—'}×.`,
      ...(problems.length > 0 ? problems.map((p) => `WARNING ${p}`) : ['Every expected delivery arrived; no client was dropped.']),
      ...(o.baseline === undefined ? [] : [`${BASELINE} = the ircsock server built in ${o.baseline} (its own build/bench/servers/ircsock.js and build/src/).`]),
    ],
  );
  printPairs(`Fan-out, rows against each other (${runs} rounds)`, PAIRS, results, [
    { title: 'per CPU-s', value: (r) => r.perCpuSec },
    { title: 'per s', value: (r) => r.deliveriesPerSec },
  ]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  });
}
