/**
 * Compressed links (issue 5): throughput of a plain and a compressed link
 * between two backends in this process over loopback, both ways at once, with
 * the process's CPU time, and the compression ratio on the benchmark corpus.
 *
 *   node build/bench/compression.js [--lines N] [--runs N] [--seed N]
 *
 * Each run opens a fresh link (A connects to B's listener), switches it with
 * the ZIP exchange of the tests when compressed, then each side sends the
 * corpus (`--lines` lines) to the other, a batch per turn of the event loop,
 * and the clock stops when both sides have received every line. The cases
 * take turns for `--runs` rounds after a warm-up round; the median counts.
 *
 * A second table measures the inflater alone on a stream flushed after every
 * line — what the Perl original (POE::Filter::Zlib::Stream) sends — against
 * the same lines in one flushed batch per 64 KiB, the way ircsock sends them.
 */
import { pathToFileURL } from 'node:url';
import zlib from 'node:zlib';
import { Backend } from '../src/backend.js';
import type { Connection } from '../src/connection/connection.js';
import { LinkInflater } from '../src/framing/zlib.js';
import { generateCorpus, type Corpus } from './corpus.js';
import { cpuSeconds, median, spread } from './lib/stats.js';
import { bytes, fmt, printTable, ratio } from './lib/table.js';
import { parseCorpusBenchArgs, type CorpusBenchOptions } from './lib/options.js';

const DEFAULT_LINES = 50_000;
const BATCH = 500;
const LIMITS = { sendQ: 256 * 1024 * 1024, sendQHighWater: 128 * 1024 * 1024 };

interface LinkResult {
  /** Lines crossed per second, both directions together. */
  linesPerSec: number;
  /** Process CPU seconds (user + system) for the whole exchange. */
  cpu: number;
  wall: number;
  /** Bytes that crossed the wire after the switch, both directions. */
  wireBytes: number;
  /** The same lines, plain, both directions. */
  plainBytes: number;
}

function once<T extends unknown[]>(emitter: Backend, event: 'compressed' | 'listenerOpen', timeout = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`bench: timed out waiting for ${event}`));
    }, timeout);
    emitter.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as T);
    });
  });
}

/** A ZIP line each way; B switches on A's, A on B's, as in test/integration/compression.test.ts. */
async function zip(a: Backend, b: Backend, ca: Connection, cb: Connection): Promise<void> {
  const onA = (c: Connection, m: { command: string }): void => {
    if (c !== ca || m.command !== 'ZIP') return;
    a.off('input', onA);
    a.setCompressedLinkNow(c);
  };
  const onB = (c: Connection, m: { command: string }): void => {
    if (c !== cb || m.command !== 'ZIP') return;
    b.off('input', onB);
    b.sendLine('ZIP', c);
    b.setCompressedLinkNow(c);
  };
  a.on('input', onA);
  b.on('input', onB);
  const both = Promise.all([once(a, 'compressed'), once(b, 'compressed')]);
  a.sendLine('ZIP', ca);
  await both;
}

function sendAll(backend: Backend, conn: Connection, lines: readonly string[]): void {
  let i = 0;
  const step = (): void => {
    if (!conn.connected) return;
    const end = Math.min(i + BATCH, lines.length);
    for (; i < end; i++) backend.sendLine(lines[i] as string, conn);
    if (i < lines.length) setImmediate(step);
  };
  step();
}

async function runLink(corpus: Corpus, compressed: boolean): Promise<LinkResult> {
  const a = new Backend({ limits: LIMITS });
  const b = new Backend({ limits: LIMITS });
  try {
    const listener = await b.createListener({ addr: '127.0.0.1', port: 0, idle: 0 });
    const opened = once<[Connection]>(b, 'listenerOpen');
    const ca = await a.createConnector({ addr: '127.0.0.1', port: listener.port });
    const [cb] = await opened;
    if (compressed) await zip(a, b, ca, cb);
    const n = corpus.lines.length;
    let gotA = 0;
    let gotB = 0;
    let failed: string | undefined;
    const done = new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (gotA >= n && gotB >= n) resolve();
      };
      a.on('input', () => {
        gotA++;
        check();
      });
      b.on('input', () => {
        gotB++;
        check();
      });
      const fail = (_c: Connection, reason: string): void => {
        failed ??= reason;
        reject(new Error(`bench: link dropped: ${reason}`));
      };
      a.on('disconnect', fail);
      b.on('disconnect', fail);
    });
    const outBefore = ca.bytesOut + cb.bytesOut;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    sendAll(a, ca, corpus.lines);
    sendAll(b, cb, corpus.lines);
    await done;
    const wall = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(cpu0, process.cpuUsage());
    if (failed !== undefined) throw new Error(failed);
    return {
      linesPerSec: (2 * n) / wall,
      cpu,
      wall,
      wireBytes: ca.bytesOut + cb.bytesOut - outBefore,
      plainBytes: 2 * corpus.buffer.length,
    };
  } finally {
    a.removeAllListeners('disconnect');
    b.removeAllListeners('disconnect');
    await Promise.all([a.shutdown(), b.shutdown()]);
  }
}

// --- the inflater alone: per-line flushes (the Perl original) vs batches ---------

function deflateStream(lines: readonly string[], perLine: boolean): Buffer {
  // Raw deflate pieces, each sync-flushed and independent (no shared window),
  // one per line or per ~64 KiB of lines: the flush markers and block
  // structure a peer flushing that often sends, a little less compressed.
  // Together, behind a zlib header, they are one valid zlib stream.
  const parts: Buffer[] = [Buffer.from([0x78, 0x9c])];
  const flush = (text: string): void => {
    parts.push(zlib.deflateRawSync(text, { finishFlush: zlib.constants.Z_SYNC_FLUSH }));
  };
  if (perLine) {
    for (const l of lines) flush(`${l}\r\n`);
  } else {
    let batch = '';
    for (const l of lines) {
      batch += `${l}\r\n`;
      if (batch.length >= 64 * 1024) {
        flush(batch);
        batch = '';
      }
    }
    if (batch !== '') flush(batch);
  }
  return Buffer.concat(parts);
}

async function inflateAll(stream: Buffer, lines: number): Promise<{ linesPerSec: number; cpu: number }> {
  let out = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const inf = new LinkInflater({
      onData: (c) => {
        out += c.length;
      },
      onError: reject,
      maxInflatedPerChunk: 64 * 1024 * 1024,
      onDrain: () => {
        inf.close();
        resolve();
      },
    });
    // As a socket delivers it: 64 KiB reads.
    for (let o = 0; o < stream.length; o += 64 * 1024) inf.write(stream.subarray(o, o + 64 * 1024));
  });
  const wall = (performance.now() - t0) / 1000;
  if (out === 0) throw new Error('bench: nothing inflated');
  return { linesPerSec: lines / wall, cpu: cpuSeconds(cpu0, process.cpuUsage()) };
}

// --- main --------------------------------------------------------------------

export type CompressionBenchOptions = CorpusBenchOptions;

/** Runs the compression benchmark and prints its tables. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const opts = parseCorpusBenchArgs(argv);
  const runs = Math.max(3, opts.runs ?? 3);
  const corpus = generateCorpus({ lines: opts.lines ?? DEFAULT_LINES, seed: opts.seed });
  console.log(
    `compression bench: ${corpus.lines.length} corpus lines each way (${(corpus.buffer.length / 1e6).toFixed(1)} MB), ` +
      `two backends in one process over loopback; median of ${runs} runs after a warm-up; Node ${process.version}`,
  );

  const cases = [
    { name: 'plain', compressed: false },
    { name: 'compressed', compressed: true },
  ];
  await runLink(corpus, false);
  await runLink(corpus, true);
  const results = new Map<string, LinkResult[]>(cases.map((c) => [c.name, []]));
  for (let r = 0; r < runs; r++) {
    for (const c of cases) results.get(c.name)?.push(await runLink(corpus, c.compressed));
  }
  const plainRate = median((results.get('plain') ?? []).map((x) => x.linesPerSec));
  const rows = cases.map((c) => {
    const rs = results.get(c.name) ?? [];
    const rate = median(rs.map((x) => x.linesPerSec));
    const cpu = median(rs.map((x) => x.cpu));
    const wire = median(rs.map((x) => x.wireBytes));
    const plain = rs[0]?.plainBytes ?? NaN;
    return [
      c.name,
      fmt(rate),
      `±${(spread(rs.map((x) => x.linesPerSec)) * 100).toFixed(0)}%`,
      ratio(rate, plainRate),
      fmt(cpu, 2),
      fmt((cpu / (2 * corpus.lines.length)) * 1e6, 2),
      bytes(wire),
      (wire / plain).toFixed(3),
    ];
  });
  printTable(
    'link throughput, both ways at once',
    [
      'link',
      { title: 'lines/s', right: true },
      { title: 'spread', right: true },
      { title: 'vs plain', right: true },
      { title: 'CPU s', right: true },
      { title: 'CPU µs/line', right: true },
      { title: 'wire bytes', right: true },
      { title: 'wire/plain', right: true },
    ],
    rows,
    [
      'lines/s: lines received by both sides together per wall-clock second; CPU: process.cpuUsage() (user+system, zlib threadpool included).',
      'wire/plain: bytes written to the sockets after the switch / the same lines uncompressed (the compression ratio on the corpus).',
    ],
  );

  // The inflater alone.
  const perLine = deflateStream(corpus.lines, true);
  const batched = deflateStream(corpus.lines, false);
  await inflateAll(batched, corpus.lines.length);
  const inflateRows: (readonly string[])[] = [];
  for (const [name, stream] of [
    ['one flush per ~64 KiB (ircsock peer)', batched],
    ['one flush per line (Perl original)', perLine],
  ] as const) {
    const rs: { linesPerSec: number; cpu: number }[] = [];
    for (let r = 0; r < runs; r++) rs.push(await inflateAll(stream, corpus.lines.length));
    inflateRows.push([
      name,
      bytes(stream.length),
      fmt(median(rs.map((x) => x.linesPerSec))),
      fmt(median(rs.map((x) => x.cpu)), 2),
    ]);
  }
  printTable(
    'LinkInflater alone, fed 64 KiB reads',
    ['peer stream', { title: 'compressed', right: true }, { title: 'lines/s', right: true }, { title: 'CPU s', right: true }],
    inflateRows,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
