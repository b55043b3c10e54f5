/**
 * The end-to-end benchmark (issue 4): the `ircsock relay` demo server against
 * the plain `net` ceiling, driven by the same load generator.
 *
 * Fan-out: a load generator in its own process opens N clients (default 50);
 * each sends `NICK bN`, `USER ...` and `JOIN #bench` and, on the relay, waits
 * for its 366 (the plain relay needs no registration: it drops those lines).
 * K of them (default 5) send `PRIVMSG #bench :~B<sender>.<seq>.<send time µs> x…`,
 *   (a) as fast as flow control allows, then
 *   (b) at a fixed moderate rate (default 200 lines/s per sender),
 * and every client reads everything. In the fixed-rate window (and in the
 * flood window with `--track`) the generator parses every delivery: sender,
 * sequence number and send time give latency (generator and relay share the
 * machine clock; the generator both stamps and receives) and lost or
 * reordered lines, which must be zero. The flood window only counts lines by
 * default (parsing 5M deliveries/s would make the generator the bottleneck):
 * deliveries expected but not received must be zero there. Server CPU is the
 * server process's own `process.cpuUsage()` over the measured window.
 *
 * Pairs: the same clients, `--pairs` (default 25) pairs of them, each
 * sending `PRIVMSG b<partner> :~B…` to its partner only (one-to-one, no
 * fan-out), as fast as flow control allows with `--pairs-window` (default 64)
 * lines in flight per sender; tracked (latency, lost and reordered lines).
 * The plain relay routes those by the target's bytes to the socket that sent
 * `NICK <target>`.
 *
 * Idle: 10,000 connections each register (NICK/USER, wait for 422, the end of
 * the welcome burst) and stay silent, joined to no channel; the server's RSS
 * after `global.gc()` before and after, per connection. The plain relay gets
 * the same connections and the same lines.
 *
 *   node build/bench/relay.js [--runs 3] [--duration 5] [--warmup 1]
 *                             [--clients 50] [--senders 5] [--rate 200]
 *                             [--inflight 128] [--batch 16] [--conns 10000 (0: skip)]
 *                             [--pairs 25 (0: skip)] [--pairs-window 64] [--only-pairs] [--only-idle]
 *                             [--heap-snapshot DIR (idle: one V8 heap snapshot per server, for profile.js heap)]
 *                             [--servers relay,plain] [--profile DIR] [--track]
 */
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { measureIdle, type IdleResult } from './idle.js';
import { measureWindow } from './lib/window.js';
import { LoadGen, type Mark } from './lib/loadgen.js';
import { parseSocketBenchArgs } from './lib/options.js';
import { ServerProcess, type ServerSpec, type ServerStats } from './lib/server.js';
import { cpuSeconds, median, spread } from './lib/stats.js';
import { bytes, fmt, printTable, ratio } from './lib/table.js';

export const RELAY_SERVERS: readonly ServerSpec[] = [
  { label: 'relay', module: 'relay' },
  { label: 'plain', module: 'plain', args: ['--mode', 'queue'] },
];
const SUBJECT = 'relay';
const CEILING = 'plain';
/** The relay's admission default (`maxTotal`); the idle step stays within it. */
const MAX_IDLE_CONNS = 10_000;

interface Config {
  clients: number;
  senders: number;
  rate: number;
  warmupMs: number;
  durationMs: number;
  inflight: number;
  batch: number;
  conns: number;
  /** Flood window with tracking (latency, gaps, reordering) rather than counting only. */
  floodTrack: boolean;
  /** One-to-one pairs (0: no pairs window). */
  pairs: number;
  /** Pairs: lines in flight per sender. */
  pairsWindow: number;
  /** Idle step: write a V8 heap snapshot of each server here once its connections are open. */
  heapSnapshot: string | undefined;
  /** Run the pairs window only (no fan-out windows, no idle step): for profiles of one-to-one traffic. */
  onlyPairs: boolean;
  /** Run the idle step only. */
  onlyIdle: boolean;
  profile: string | undefined;
}

/** One measured window, flood or fixed rate. */
interface Window {
  deliveriesPerSec: number;
  perCpuSec: number;
  serverUtil: number;
  genUtil: number;
  /** Lines sent per second per sender. */
  sendRate: number;
  p50: number;
  p99: number;
  max: number;
  lost: number;
  reordered: number;
  missing: number;
  closed: number;
  stalls: number;
}


function isRelay(spec: ServerSpec): boolean {
  return spec.module === 'relay';
}

function profileArgs(cfg: Config, label: string, what: string): string[] {
  if (cfg.profile === undefined) return [];
  return ['--cpu-prof', `--cpu-prof-dir=${resolve(cfg.profile)}`, `--cpu-prof-name=${label}-${what}-${Date.now()}.cpuprofile`];
}

/** The lines every client sends first: registration and the channel (relayed by neither server as PRIVMSG). */
function greeting(nick: string, join: boolean): string[] {
  return [`NICK ${nick}{i}`, `USER ${nick}{i} 0 * :ircsock bench {i}`, ...(join ? ['JOIN #bench'] : [])];
}

async function measure(server: ServerProcess, gen: LoadGen, cfg: Config, mode: 'flood' | 'rate'): Promise<Window> {
  const fanout = cfg.clients - 1;
  const { before, s0, m0, s1, m1, end } = await measureWindow(
    server,
    gen,
    {
      senders: cfg.senders,
      mode,
      rate: cfg.rate,
      prefix: 'PRIVMSG #bench :',
      fanout,
      window: fanout * cfg.inflight * cfg.senders,
      batch: cfg.batch,
      track: mode === 'rate' || cfg.floodTrack,
    },
    cfg.warmupMs,
    cfg.durationMs,
  );
  return window(s0, s1, m0, m1, before, end, cfg);
}

/** Pairs: every one of the first 2 × pairs clients sends to its partner, saturated, tracked. */
async function measurePairs(server: ServerProcess, gen: LoadGen, cfg: Config): Promise<Window> {
  const senders = 2 * cfg.pairs;
  const { before, s0, m0, s1, m1, end } = await measureWindow(
    server,
    gen,
    {
      senders,
      mode: 'flood',
      prefix: 'PRIVMSG b{to} :',
      pairs: true,
      fanout: 1,
      window: cfg.pairsWindow * senders,
      batch: Math.min(cfg.batch, cfg.pairsWindow),
      track: true,
    },
    cfg.warmupMs,
    cfg.durationMs,
  );
  return window(s0, s1, m0, m1, before, end, cfg, 1, senders);
}

function window(s0: ServerStats, s1: ServerStats, m0: Mark, m1: Mark, before: Mark, end: Mark, cfg: Config, fanout = cfg.clients - 1, senders = cfg.senders): Window {
  const wall = (m1.t - m0.t) / 1000;
  const deliveries = m1.rxLines - m0.rxLines;
  const cpu = cpuSeconds(s0.cpu, s1.cpu);
  return {
    deliveriesPerSec: deliveries / wall,
    perCpuSec: deliveries / cpu,
    serverUtil: cpu / wall,
    genUtil: cpuSeconds(m0.cpu, m1.cpu) / wall,
    sendRate: (m1.txLines - m0.txLines) / wall / senders,
    p50: m1.latency?.p50 ?? NaN,
    p99: m1.latency?.p99 ?? NaN,
    max: m1.latency?.max ?? NaN,
    lost: end.gaps ?? 0,
    reordered: end.reordered ?? 0,
    // Tracking: per (receiver, sender), sequence numbers sent but never received after the settle;
    // counting: deliveries expected but not received (a duplicate would hide a loss: use --track).
    missing: end.missing ?? (end.txLines - before.txLines) * fanout - (end.rxLines - before.rxLines),
    closed: end.closed - before.closed,
    stalls: end.stalls,
  };
}

/** One server: fresh process, N clients registered and joined, a flood window, a fixed-rate one, then pairs. */
async function fanoutRun(spec: ServerSpec, gen: LoadGen, cfg: Config): Promise<{ flood: Window | undefined; rate: Window | undefined; pairs: Window | undefined }> {
  const server = await ServerProcess.start(spec, { execArgv: profileArgs(cfg, spec.label, 'fanout'), maxLifetime: 120_000 + 4 * (cfg.warmupMs + cfg.durationMs) });
  try {
    const relay = isRelay(spec);
    const opened = await gen.open({
      host: '127.0.0.1',
      port: server.port,
      count: cfg.clients,
      greet: greeting('b', true),
      // The client's own end of NAMES: registered and in the channel.
      readyMarker: relay ? ' 366 ' : undefined,
      autoPong: true,
      timeout: 20_000,
    });
    if (opened.opened !== cfg.clients) throw new Error(`${spec.label}: opened ${opened.opened} of ${cfg.clients} clients (${opened.firstError ?? ''})`);
    await server.waitForConnections(cfg.clients, 10_000);
    // The JOINs of the last clients reach the first ones: let them land before counting.
    await gen.settle(150, 5_000);
    if (cfg.onlyPairs) return { flood: undefined, rate: undefined, pairs: await measurePairs(server, gen, cfg) };
    const flood = await measure(server, gen, cfg, 'flood');
    const rate = await measure(server, gen, cfg, 'rate');
    const pairs = cfg.pairs > 0 ? await measurePairs(server, gen, cfg) : undefined;
    return { flood, rate, pairs };
  } finally {
    await gen.close().catch(() => undefined);
    await server.stop();
  }
}

/** One server: `conns` clients registered (not in a channel) and silent; RSS per connection. */
function idleRun(spec: ServerSpec, cfg: Config): Promise<IdleResult> {
  return measureIdle(spec, {
    conns: cfg.conns,
    greet: greeting('i', false),
    // 422 (no MOTD) ends the relay's welcome burst: the client is registered.
    readyMarker: isRelay(spec) ? ' 422 ' : undefined,
    autoPong: true,
    execArgv: profileArgs(cfg, spec.label, 'idle'),
    heapSnapshot: cfg.heapSnapshot,
  });
}

function parseConfig(argv: readonly string[]): { cfg: Config; runs: number; specs: ServerSpec[] } {
  const o = parseSocketBenchArgs(argv);
  const { values } = parseArgs({ args: [...argv], options: { rate: { type: 'string' }, pairs: { type: 'string' }, 'pairs-window': { type: 'string' }, 'only-pairs': { type: 'boolean' }, 'heap-snapshot': { type: 'string' }, 'only-idle': { type: 'boolean' } }, strict: false });
  const whole = (name: 'pairs' | 'pairs-window', dflt: number): number => {
    const v = values[name];
    const n = v === undefined ? dflt : Number(v);
    if (typeof v === 'boolean' || !Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} takes a whole number`);
    return n;
  };
  const rate = values.rate === undefined ? 200 : Number(values.rate);
  if (typeof values.rate === 'boolean' || !Number.isFinite(rate) || rate <= 0 || rate > 100_000) throw new Error('--rate takes lines per second per sender (1 to 100000)');
  const cfg: Config = {
    clients: o.clients ?? 50,
    senders: o.senders ?? 5,
    rate,
    warmupMs: (o.warmup ?? 1) * 1000,
    durationMs: (o.duration ?? 5) * 1000,
    inflight: o.inflight ?? 128,
    batch: o.batch ?? 16,
    conns: o.conns ?? MAX_IDLE_CONNS,
    floodTrack: o.track,
    pairs: whole('pairs', 25),
    pairsWindow: whole('pairs-window', 64),
    onlyPairs: values['only-pairs'] === true,
    onlyIdle: values['only-idle'] === true,
    heapSnapshot: typeof values['heap-snapshot'] === 'string' ? values['heap-snapshot'] : undefined,
    profile: o.profile,
  };
  if (2 * cfg.pairs > cfg.clients) throw new Error(`--pairs: at most --clients / 2 (${Math.floor(cfg.clients / 2)})`);
  if (cfg.onlyPairs) {
    if (cfg.pairs === 0) throw new Error('--only-pairs needs --pairs above 0');
    cfg.conns = 0;
  }
  if (cfg.pairs > 0 && cfg.pairsWindow < 1) throw new Error('--pairs-window: at least 1');
  if (cfg.clients < 2 || cfg.clients > 5_000) throw new Error('--clients: 2 to 5000');
  if (cfg.senders < 1 || cfg.senders > cfg.clients) throw new Error(`--senders: 1 to --clients (${cfg.clients})`);
  if (cfg.senders > 9_999) throw new Error('--senders: at most 9999 (4 digits in the line)');
  if (cfg.conns > MAX_IDLE_CONNS) throw new Error(`--conns: at most ${MAX_IDLE_CONNS} (the relay's admission maxTotal)`);
  if (cfg.durationMs <= 0) throw new Error('--duration must be above 0');
  const specs = o.servers === undefined ? [...RELAY_SERVERS] : RELAY_SERVERS.filter((s) => o.servers?.includes(s.label));
  if (specs.length === 0) throw new Error(`--servers: choose from ${RELAY_SERVERS.map((s) => s.label).join(', ')}`);
  return { cfg, runs: Math.max(1, o.runs ?? 3), specs };
}

export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const { cfg, runs, specs } = parseConfig(argv);
  const floods = new Map<string, Window[]>(specs.map((s) => [s.label, []]));
  const rates = new Map<string, Window[]>(specs.map((s) => [s.label, []]));
  const pairsRuns = new Map<string, Window[]>(specs.map((s) => [s.label, []]));
  const idles = new Map<string, IdleResult[]>(specs.map((s) => [s.label, []]));

  if (cfg.onlyIdle && cfg.onlyPairs) throw new Error('--only-idle or --only-pairs, not both');
  if (cfg.heapSnapshot !== undefined) await mkdir(cfg.heapSnapshot, { recursive: true });
  const perRun = 3 * (cfg.warmupMs + cfg.durationMs) + 30_000;
  const gen = await LoadGen.start({ fdLimit: cfg.clients + 1024, maxLifetime: runs * specs.length * perRun + 60_000 });
  try {
    for (let run = 0; run < (cfg.onlyIdle ? 0 : runs); run++) {
      // Alternate the order so a noisy neighbour does not always hit the same server.
      const order = run % 2 === 0 ? specs : [...specs].reverse();
      for (const spec of order) {
        const { flood, rate, pairs } = await fanoutRun(spec, gen, cfg);
        if (flood !== undefined) floods.get(spec.label)?.push(flood);
        if (rate !== undefined) rates.get(spec.label)?.push(rate);
        if (pairs !== undefined) pairsRuns.get(spec.label)?.push(pairs);
        const windows = [flood, rate, pairs].filter((w): w is Window => w !== undefined);
        process.stderr.write(
          `  relay run ${run + 1}/${runs} ${spec.label}: ` +
            (flood === undefined ? '' : `flood ${fmt(flood.deliveriesPerSec)} deliveries/s, ${fmt(flood.perCpuSec)} per CPU-s ` +
              `(server ${fmt(flood.serverUtil * 100)}% CPU, generator ${fmt(flood.genUtil * 100)}%), p99 ${fmt(flood.p99)} µs; `) +
            (rate === undefined ? '' : `rate ${fmt(rate.sendRate)}/s/sender: p50 ${fmt(rate.p50)} µs, p99 ${fmt(rate.p99)} µs; `) +
            (pairs === undefined ? '' : `pairs ${fmt(pairs.deliveriesPerSec)} deliveries/s, ${fmt(pairs.perCpuSec)} per CPU-s (server ${fmt(pairs.serverUtil * 100)}% CPU, generator ${fmt(pairs.genUtil * 100)}%), p99 ${fmt(pairs.p99)} µs; `) +
            `lost ${windows.reduce((a, w) => a + w.lost, 0)}, reordered ${windows.reduce((a, w) => a + w.reordered, 0)}, missing ${windows.reduce((a, w) => a + w.missing, 0)}\n`,
        );
      }
    }
  } finally {
    await gen.stop();
  }
  if (cfg.conns > 0) {
    for (let run = 0; run < runs; run++) {
      const order = run % 2 === 0 ? specs : [...specs].reverse();
      for (const spec of order) {
        const r = await idleRun(spec, cfg);
        idles.get(spec.label)?.push(r);
        process.stderr.write(`  relay idle run ${run + 1}/${runs} ${spec.label}: RSS ${bytes(r.rssBefore)} → ${bytes(r.rssAfter)}, ${fmt(r.rssPerConn)} B/connection (heap ${fmt(r.heapPerConn)} B), opened in ${fmt(r.openMs)} ms\n`);
      }
    }
  }

  report(cfg, runs, specs, floods, rates, pairsRuns, idles);
}

type Verdict = 'met' | 'MISSED' | '—';

function report(cfg: Config, runs: number, specs: readonly ServerSpec[], floods: Map<string, Window[]>, rates: Map<string, Window[]>, pairsRuns: Map<string, Window[]>, idles: Map<string, IdleResult[]>): void {
  const labels = specs.map((s) => s.label);
  const both = labels.includes(SUBJECT) && labels.includes(CEILING);
  const med = <T>(m: Map<string, T[]>, label: string, f: (r: T) => number): number => median((m.get(label) ?? []).map(f));
  const spr = <T>(m: Map<string, T[]>, label: string, f: (r: T) => number): string => `±${fmt(spread((m.get(label) ?? []).map(f)) * 100)}%`;

  interface Row {
    name: string;
    value: (label: string) => number;
    show: (v: number) => string;
    spread?: (label: string) => string;
    /** Ratio subject/ceiling, or a difference for latency. */
    compare?: 'ratio' | 'diff';
    target?: string;
    check?: (subject: number, ceiling: number) => boolean;
  }
  const us = (v: number): string => `${fmt(v)} µs`;
  const pct = (v: number): string => `${fmt(v * 100)}%`;
  const rows: Row[] = [
    { name: 'flood: deliveries/s', value: (l) => med(floods, l, (r) => r.deliveriesPerSec), show: (v) => fmt(v), spread: (l) => spr(floods, l, (r) => r.deliveriesPerSec), compare: 'ratio' },
    {
      name: 'flood: deliveries per server-CPU-s',
      value: (l) => med(floods, l, (r) => r.perCpuSec),
      show: (v) => fmt(v),
      spread: (l) => spr(floods, l, (r) => r.perCpuSec),
      compare: 'ratio',
      target: '≥ 0.70×',
      check: (a, b) => a / b >= 0.7,
    },
    { name: 'flood: server CPU', value: (l) => med(floods, l, (r) => r.serverUtil), show: pct },
    { name: 'flood: generator CPU', value: (l) => med(floods, l, (r) => r.genUtil), show: pct },
    ...(cfg.floodTrack ? [{ name: 'flood: p50 / p99 latency', value: (l: string) => med(floods, l, (r) => r.p99), show: us, compare: 'diff' as const }] : []),
    { name: `rate: lines/s per sender`, value: (l) => med(rates, l, (r) => r.sendRate), show: (v) => fmt(v) },
    { name: 'rate: deliveries per server-CPU-s', value: (l) => med(rates, l, (r) => r.perCpuSec), show: (v) => fmt(v), compare: 'ratio' },
    { name: 'rate: p50 latency', value: (l) => med(rates, l, (r) => r.p50), show: us, compare: 'diff' },
    {
      name: 'rate: p99 latency',
      value: (l) => med(rates, l, (r) => r.p99),
      show: us,
      spread: (l) => spr(rates, l, (r) => r.p99),
      compare: 'diff',
      target: '≤ plain + 1 ms',
      check: (a, b) => a - b <= 1000,
    },
    { name: 'rate: max latency', value: (l) => med(rates, l, (r) => r.max), show: us, compare: 'diff' },
  ];
  if (cfg.pairs > 0) {
    rows.push(
      { name: 'pairs: deliveries/s', value: (l) => med(pairsRuns, l, (r) => r.deliveriesPerSec), show: (v) => fmt(v), spread: (l) => spr(pairsRuns, l, (r) => r.deliveriesPerSec), compare: 'ratio' },
      {
        name: 'pairs: deliveries per server-CPU-s',
        value: (l) => med(pairsRuns, l, (r) => r.perCpuSec),
        show: (v) => fmt(v),
        spread: (l) => spr(pairsRuns, l, (r) => r.perCpuSec),
        compare: 'ratio',
        target: '≥ 1.00×',
        check: (a, b) => a / b >= 1,
      },
      { name: 'pairs: server CPU', value: (l) => med(pairsRuns, l, (r) => r.serverUtil), show: pct },
      { name: 'pairs: generator CPU', value: (l) => med(pairsRuns, l, (r) => r.genUtil), show: pct },
      { name: 'pairs: p50 latency', value: (l) => med(pairsRuns, l, (r) => r.p50), show: us, compare: 'diff' },
      { name: 'pairs: p99 latency', value: (l) => med(pairsRuns, l, (r) => r.p99), show: us, spread: (l) => spr(pairsRuns, l, (r) => r.p99), compare: 'diff' },
    );
  }
  if (cfg.conns > 0) {
    rows.push(
      {
        name: `idle: RSS per connection`,
        value: (l) => med(idles, l, (r) => r.rssPerConn),
        show: bytes,
        spread: (l) => spr(idles, l, (r) => r.rssPerConn),
        compare: 'ratio',
        target: '≤ 1.30×',
        check: (a, b) => a / b <= 1.3,
      },
      { name: 'idle: heap per connection', value: (l) => med(idles, l, (r) => r.heapPerConn), show: bytes, compare: 'ratio' },
    );
  }
  // The flood latency row shows p50 / p99 together.
  const floodLatency = (l: string): string => `${fmt(med(floods, l, (r) => r.p50))} / ${fmt(med(floods, l, (r) => r.p99))} µs`;

  const verdicts: { name: string; verdict: Verdict; value: string }[] = [];
  const table = rows.filter((row) => (!cfg.onlyPairs || row.name.startsWith('pairs')) && (!cfg.onlyIdle || row.name.startsWith('idle'))).map((row) => {
    const cells: string[] = [row.name];
    for (const l of labels) {
      const text = row.name === 'flood: p50 / p99 latency' ? floodLatency(l) : row.show(row.value(l));
      cells.push(row.spread === undefined || runs < 2 ? text : `${text} ${row.spread(l)}`);
    }
    let cmp = '';
    let verdict: Verdict = '—';
    if (both && row.compare !== undefined) {
      const a = row.value(SUBJECT);
      const b = row.value(CEILING);
      cmp = row.compare === 'ratio' ? ratio(a, b) : `${a - b >= 0 ? '+' : '−'}${fmt(Math.abs(a - b))} µs`;
      if (row.check !== undefined) {
        verdict = Number.isFinite(a) && Number.isFinite(b) && row.check(a, b) ? 'met' : 'MISSED';
        verdicts.push({ name: row.name, verdict, value: cmp });
      }
    }
    cells.push(cmp, row.target ?? '', row.target === undefined ? '' : verdict);
    return cells;
  });

  // Lost and reordered lines: summed over every run, both windows; must be zero.
  const problems: string[] = [];
  for (const l of labels) {
    const all = [...(floods.get(l) ?? []), ...(rates.get(l) ?? []), ...(pairsRuns.get(l) ?? [])];
    const lost = all.reduce((a, r) => a + r.lost, 0);
    const reordered = all.reduce((a, r) => a + r.reordered, 0);
    const missing = all.reduce((a, r) => a + Math.max(0, r.missing), 0);
    const closed = all.reduce((a, r) => a + r.closed, 0);
    const stalls = all.reduce((a, r) => a + r.stalls, 0);
    const delivered = all.length;
    if (lost + reordered + missing + closed + stalls > 0) {
      problems.push(`${l}: ${lost} lines lost (sequence gaps), ${reordered} reordered, ${missing} never delivered, ${closed} clients dropped, ${stalls} flow-window stalls over ${delivered} windows`);
    }
  }
  table.push(['lost / reordered lines (all runs)', ...labels.map((l) => {
    const all = [...(floods.get(l) ?? []), ...(rates.get(l) ?? []), ...(pairsRuns.get(l) ?? [])];
    return `${all.reduce((a, r) => a + r.lost + Math.max(0, r.missing), 0)} / ${all.reduce((a, r) => a + r.reordered, 0)}`;
  }), '', 'must be 0 / 0', problems.length === 0 ? 'met' : 'FAILED']);

  printTable(
    `Relay end-to-end: ${cfg.clients} loopback clients in #bench, ${cfg.senders} senders; flood = as fast as flow control allows, ` +
      `rate = ${fmt(cfg.rate)} lines/s per sender; median of ${runs} runs of ${cfg.durationMs / 1000} s after ${cfg.warmupMs / 1000} s warm-up` +
      (cfg.conns > 0 ? `; idle = ${fmt(cfg.conns)} registered connections` : ''),
    ['measure', ...labels, `${SUBJECT} vs ${CEILING}`, 'target', 'verdict'],
    table,
    [
      `relay = startRelay() (ircsock relay: parse, dispatch, channel lookup, one format per capability group), flood control off, idle timer 600 s, default limits;`,
      '  plain = net server, Buffer.indexOf line splitting, PRIVMSG lines (a byte compare) queued to every other socket and written once per event-loop turn.',
      'Every client sends NICK bN / USER / JOIN #bench (the relay: waits for its 366; plain drops them). Lines: PRIVMSG #bench :~B<sender>.<seq>.<µs> + 32 bytes.',
      'deliveries = lines received by the clients; server CPU = the server process\'s own process.cpuUsage() (user+system) over the measured window.',
      'latency = receive time − send stamp, in the generator (one clock); lost = sequence gaps + lines never delivered after a settle; reordered = a sequence number below one seen;',
      `  tracked in the rate window${cfg.floodTrack ? ' and the flood window' : '; the flood window counts lines only (lost = deliveries expected − received; --track to parse them too)'}.`,
      ...(cfg.pairs > 0
        ? [`pairs: the first ${2 * cfg.pairs} clients in ${cfg.pairs} pairs, each sending PRIVMSG b<partner> :~B… to its partner only, saturated, ${cfg.pairsWindow} lines in flight per sender, tracked (p50/p99 under saturation: mostly queueing);`,
           '  plain routes a non-# PRIVMSG by its target\'s bytes to the socket that sent NICK <target>.']
        : []),
      ...(cfg.conns > 0 ? [`idle: each connection registers (NICK/USER; the relay: waits for 422), joins no channel, then is silent; RSS after global.gc(), (after − before) / ${fmt(cfg.conns)}.`] : []),
      ...(runs >= 2 ? ['±x% = half the max−min range over runs.'] : []),
      ...problems.map((p) => `FAILED ${p}`),
      ...(verdicts.length > 0 ? [`Targets (issues 4, 14): ${verdicts.map((v) => `${v.name} ${v.value} ${v.verdict}`).join('; ')}.`] : []),
    ],
  );
  if (problems.length > 0) throw new Error(`relay bench: lines were lost or reordered (${problems.join('; ')})`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exitCode = 1;
  });
}
