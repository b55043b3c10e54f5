/**
 * Parse, format and decode throughput of ircsock beside the IRC parsers on npm
 * (irc-message, irc-framework) and a floor that only splits lines at LF and
 * decodes them, on the same generated corpus in the same run.
 *
 *   node build/bench/parse.js [--lines N] [--runs N] [--seed N]
 *
 * Every case runs once to warm up, then the cases take turns for `--runs`
 * rounds (so a noisy neighbour hurts them all alike) and the median round counts.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { parseLine } from '../src/message/parse.js';
import { formatLine } from '../src/message/format.js';
import type { IrcMessageInit } from '../src/message/message.js';
import { LineDecoder } from '../src/framing/line-decoder.js';
import { DEFAULT_CORPUS_LINES, generateCorpus, type Corpus } from './corpus.js';
import { parseCorpusBenchArgs, type CorpusBenchOptions } from './lib/options.js';

// --- the npm parsers (CommonJS, untyped) -----------------------------------

interface IrcMessageParsed {
  tags: Record<string, string | true>;
  prefix: string | null;
  command: string | null;
  params: string[];
}

interface FrameworkMessage {
  tags: Record<string, string>;
  prefix: string;
  command: string;
  params: string[];
  to1459(): string;
}

const require = createRequire(import.meta.url);
// irc-message's own export; irc-framework's package has no `exports` map and
// its main entry loads the whole client, so its parser and message class are
// taken from the files its index re-exports (`ircLineParser`, `Message`).
const ircMessageParse = (require('irc-message') as { parse: (line: string) => IrcMessageParsed | null }).parse;
const frameworkParse = require('irc-framework/src/irclineparser.js') as (line: string) => FrameworkMessage;
const FrameworkMessageClass = require('irc-framework/src/ircmessage.js') as new (
  command: string,
  ...params: string[]
) => FrameworkMessage;

// --- cases -----------------------------------------------------------------

/** One unit of work: processes the whole corpus once; returns a checksum so nothing is optimised away. */
type Work = () => number;

interface Case {
  section: string;
  name: string;
  /** The row the ratio is taken against. */
  baseline: string;
  lines: number;
  bytes: number;
  work: Work;
}

// Each parser gets its own loop function, so no call site is shared between parsers.

function parseIrcsock(lines: readonly string[]): number {
  let sum = 0;
  for (const line of lines) {
    const m = parseLine(line);
    sum += m.command.length + m.params.length;
  }
  return sum;
}

function parseIrcsockTags(lines: readonly string[]): number {
  let sum = 0;
  for (const line of lines) {
    const m = parseLine(line);
    sum += m.command.length + m.params.length;
    const tags = m.tags;
    for (const k in tags) sum += (tags[k] as string).length;
  }
  return sum;
}

function parseIrcMessage(lines: readonly string[]): number {
  let sum = 0;
  for (const line of lines) {
    const m = ircMessageParse(line);
    if (m === null) continue;
    sum += (m.command as string).length + m.params.length;
  }
  return sum;
}

function parseIrcMessageTags(lines: readonly string[]): number {
  let sum = 0;
  for (const line of lines) {
    const m = ircMessageParse(line);
    if (m === null) continue;
    sum += (m.command as string).length + m.params.length;
    const tags = m.tags;
    for (const k in tags) {
      const v = tags[k];
      sum += typeof v === 'string' ? v.length : 0;
    }
  }
  return sum;
}

function parseFramework(lines: readonly string[]): number {
  let sum = 0;
  for (const line of lines) {
    const m = frameworkParse(line);
    sum += m.command.length + m.params.length;
  }
  return sum;
}

function parseFrameworkTags(lines: readonly string[]): number {
  let sum = 0;
  for (const line of lines) {
    const m = frameworkParse(line);
    sum += m.command.length + m.params.length;
    const tags = m.tags;
    for (const k in tags) sum += (tags[k] as string).length;
  }
  return sum;
}

/** The floor: split the bytes at LF and decode each line, nothing more. */
function floorSplit(buf: Buffer): number {
  let sum = 0;
  let start = 0;
  for (let lf = buf.indexOf(0x0a); lf >= 0; lf = buf.indexOf(0x0a, start)) {
    const end = lf > start && buf[lf - 1] === 0x0d ? lf - 1 : lf;
    if (end > start) sum += buf.toString('utf8', start, end).length;
    start = lf + 1;
  }
  return sum;
}

function formatIrcsock(msgs: readonly IrcMessageInit[]): number {
  let sum = 0;
  for (const m of msgs) sum += formatLine(m).length;
  return sum;
}

function formatFramework(msgs: readonly FrameworkMessage[]): number {
  let sum = 0;
  for (const m of msgs) sum += m.to1459().length;
  return sum;
}

function chunksOf(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

function decodeIrcsock(chunks: readonly Buffer[]): number {
  const dec = new LineDecoder();
  let sum = 0;
  for (const c of chunks) {
    dec.write(c);
    for (let x = dec.next(); x !== undefined; x = dec.next()) sum += typeof x === 'string' ? x.length : 1;
  }
  return sum;
}

/** The decoder's floor on the same chunks: indexOf + toString, a partial line carried over. */
function decodeFloor(chunks: readonly Buffer[]): number {
  let sum = 0;
  let carry: Buffer | undefined;
  for (const c of chunks) {
    let start = 0;
    let lf = c.indexOf(0x0a);
    if (carry !== undefined) {
      if (lf < 0) {
        carry = Buffer.concat([carry, c]);
        continue;
      }
      const line = Buffer.concat([carry, c.subarray(0, lf)]);
      const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
      if (end > 0) sum += line.toString('utf8', 0, end).length;
      carry = undefined;
      start = lf + 1;
      lf = c.indexOf(0x0a, start);
    }
    for (; lf >= 0; lf = c.indexOf(0x0a, start)) {
      const end = lf > start && c[lf - 1] === 0x0d ? lf - 1 : lf;
      if (end > start) sum += c.toString('utf8', start, end).length;
      start = lf + 1;
    }
    if (start < c.length) carry = c.subarray(start);
  }
  return sum;
}

function buildCases(corpus: Corpus): Case[] {
  const { lines, buffer } = corpus;
  const n = lines.length;
  const bytes = buffer.length;

  // The same messages for both formatters, built from the parsed corpus.
  const inits: IrcMessageInit[] = lines.map((l) => {
    const m = parseLine(l);
    return { tags: { ...m.tags }, source: m.source, command: m.command, params: [...m.params] };
  });
  const frameworkMsgs = inits.map((m) => {
    const fm = new FrameworkMessageClass(m.command, ...(m.params ?? []));
    fm.tags = { ...m.tags };
    fm.prefix = m.source ?? '';
    return fm;
  });
  const formattedBytes = inits.reduce((s, m) => s + Buffer.byteLength(formatLine(m)) + 2, 0);
  const chunks = chunksOf(buffer, 16 * 1024);
  // The decoder and its floors must see the same lines, or the comparison means nothing.
  const expected = floorSplit(buffer);
  if (decodeIrcsock(chunks) !== expected || decodeFloor(chunks) !== expected) {
    throw new Error('the line decoder and the floor disagree on the corpus');
  }

  const P = 'parse (command + params)';
  const T = 'parse + read tags';
  const F = 'format';
  const D = 'line decoder (16 KiB chunks)';
  return [
    { section: P, name: 'ircsock parseLine', baseline: 'ircsock parseLine', lines: n, bytes, work: () => parseIrcsock(lines) },
    { section: P, name: 'irc-message 3', baseline: 'ircsock parseLine', lines: n, bytes, work: () => parseIrcMessage(lines) },
    { section: P, name: 'irc-framework 4', baseline: 'ircsock parseLine', lines: n, bytes, work: () => parseFramework(lines) },
    { section: P, name: 'floor: split at LF + decode', baseline: 'ircsock parseLine', lines: n, bytes, work: () => floorSplit(buffer) },
    { section: T, name: 'ircsock parseLine + tags', baseline: 'ircsock parseLine + tags', lines: n, bytes, work: () => parseIrcsockTags(lines) },
    { section: T, name: 'irc-message 3 (no unescaping)', baseline: 'ircsock parseLine + tags', lines: n, bytes, work: () => parseIrcMessageTags(lines) },
    { section: T, name: 'irc-framework 4', baseline: 'ircsock parseLine + tags', lines: n, bytes, work: () => parseFrameworkTags(lines) },
    { section: F, name: 'ircsock formatLine', baseline: 'ircsock formatLine', lines: n, bytes: formattedBytes, work: () => formatIrcsock(inits) },
    { section: F, name: 'irc-framework to1459', baseline: 'ircsock formatLine', lines: n, bytes: formattedBytes, work: () => formatFramework(frameworkMsgs) },
    { section: D, name: 'ircsock LineDecoder', baseline: 'ircsock LineDecoder', lines: n, bytes, work: () => decodeIrcsock(chunks) },
    { section: D, name: 'floor: indexOf + toString', baseline: 'ircsock LineDecoder', lines: n, bytes, work: () => decodeFloor(chunks) },
  ];
}

// --- running and reporting -------------------------------------------------

interface Result {
  case: Case;
  seconds: number;
  linesPerSec: number;
  mbPerSec: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function time(work: Work): { seconds: number; check: number } {
  const t0 = process.hrtime.bigint();
  const check = work();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, check };
}

function measure(cases: readonly Case[], runs: number): Result[] {
  const samples = cases.map(() => [] as number[]);
  const checks = cases.map((c) => {
    // Warm-up: two passes, so every loop is optimised before it is timed.
    c.work();
    return c.work();
  });
  for (let r = 0; r < runs; r++) {
    for (const [i, c] of cases.entries()) {
      const { seconds, check } = time(c.work);
      if (check !== checks[i]) throw new Error(`${c.name}: the result changed between runs`);
      (samples[i] as number[]).push(seconds);
    }
  }
  return cases.map((c, i) => {
    const seconds = median(samples[i] as number[]);
    return { case: c, seconds, linesPerSec: c.lines / seconds, mbPerSec: c.bytes / seconds / 1e6 };
  });
}

const fmtRate = (x: number): string =>
  x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0);

/** A Markdown table, so it can be pasted into an issue as it is. */
function table(results: readonly Result[]): string {
  const byName = new Map(results.map((r) => [r.case.name, r]));
  const rows: string[][] = [];
  let section = '';
  for (const r of results) {
    if (r.case.section !== section) {
      section = r.case.section;
      rows.push([`**${section}**`, '', '', '']);
    }
    const base = byName.get(r.case.baseline);
    const ratio = base === undefined ? '' : `${(r.linesPerSec / base.linesPerSec).toFixed(2)}×`;
    rows.push([r.case.name, fmtRate(r.linesPerSec), r.mbPerSec.toFixed(1), ratio]);
  }
  const head = ['case', 'lines/s', 'MB/s', 'vs ircsock'];
  const widths = head.map((h, col) => Math.max(h.length, ...rows.map((row) => (row[col] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, col) => (col === 0 ? c.padEnd(widths[col] ?? 0) : c.padStart(widths[col] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, col) => (col === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

function targets(results: readonly Result[]): string {
  const rate = (name: string): number => results.find((r) => r.case.name === name)?.linesPerSec ?? NaN;
  const mb = (name: string): number => results.find((r) => r.case.name === name)?.mbPerSec ?? NaN;
  const line = (what: string, value: number, target: number, unit = '×'): string =>
    `  ${what.padEnd(44)} ${value.toFixed(2)}${unit}  (target ≥ ${target}${unit}) ${value >= target ? 'met' : 'NOT met'}`;
  return [
    'targets (issue 2):',
    line('parse: ircsock / irc-message', rate('ircsock parseLine') / rate('irc-message 3'), 2.5),
    line('parse: ircsock / irc-framework', rate('ircsock parseLine') / rate('irc-framework 4'), 4),
    line('format: ircsock / irc-framework to1459', rate('ircsock formatLine') / rate('irc-framework to1459'), 1.8),
    line('decoder MB/s', mb('ircsock LineDecoder') / 1000, 1, ' GB/s'),
  ].join('\n');
}

export type ParseBenchOptions = CorpusBenchOptions;

/** Runs the parse benchmark and prints its table. */
export function main(argv: readonly string[] = process.argv.slice(2)): void {
  const opts = parseCorpusBenchArgs(argv);
  const runs = Math.max(5, opts.runs ?? 7);
  const corpus = generateCorpus({ lines: opts.lines ?? DEFAULT_CORPUS_LINES, seed: opts.seed });
  const cases = buildCases(corpus);
  const results = measure(cases, runs);
  console.log(
    `parse bench: ${corpus.lines.length} lines, ${(corpus.buffer.length / 1e6).toFixed(1)} MB, ` +
      `${(corpus.nonAsciiShare * 100).toFixed(1)}% non-ASCII lines; median of ${runs} runs after warm-up; ` +
      `Node ${process.version}`,
  );
  console.log(table(results));
  console.log(targets(results));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main();
}
