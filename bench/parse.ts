/**
 * Parse, format and decode throughput of ircsock beside the IRC parsers on npm
 * (irc-message, irc-framework), Go's irc-go (`ircmsg`, the parser Ergo uses)
 * and a floor that only splits lines at LF and decodes them, on the same
 * generated corpus in the same run.
 *
 *   node build/bench/parse.js [--lines N] [--runs N (rounds, default 5)] [--reps N (default 5)] [--seed N]
 *
 * Every case runs in its own process (`--child CASE`), so no parser's
 * optimised code, inline caches or heap shape colours another's: it builds
 * the corpus, works through it twice to warm up, then `--reps` times, and
 * reports its fastest pass: on a shared machine the fastest pass is the one
 * least disturbed by the neighbours, for every parser alike. The cases take turns over `--runs` rounds, their
 * order rotating each round (the machine is shared and a single round swings
 * by ±30%), and the table shows the median round, and each ratio as the
 * median of the per-round ratios (both rows of a ratio ran in the same round).
 *
 * irc-go runs as its timing program (see `lib/irc-go.ts`) on the corpus
 * written to a file; without Go the rows say why they are missing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseLine } from '../src/message/parse.js';
import { formatLine } from '../src/message/format.js';
import { encodeText } from '../src/framing/text.js';
import type { IrcMessageInit } from '../src/message/message.js';
import { LineDecoder } from '../src/framing/line-decoder.js';
import { DEFAULT_CORPUS_LINES, generateCorpus, type Corpus } from './corpus.js';
import { parseCorpusBenchArgs, type CorpusBenchOptions } from './lib/options.js';
import { ircGoPeer } from './lib/irc-go.js';
import { median as medianOf } from './lib/stats.js';

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

// Each parser gets its own loop function (and its own process), so no call site is shared between parsers.

function parseIrcsock(lines: readonly string[]): number {
  let sum = 0;
  for (const line of lines) {
    const m = parseLine(line);
    sum += m.command.length + m.params.length;
  }
  return sum;
}

/** Every field: command, source, every param and every tag, unescaped (as irc-go's ParseLine gives them). */
function parseIrcsockAll(lines: readonly string[]): number {
  let sum = 0;
  for (const line of lines) {
    const m = parseLine(line);
    sum += m.command.length + (m.source?.length ?? 0);
    for (const p of m.params) sum += p.length;
    const tags = m.tags;
    for (const k in tags) sum += k.length + (tags[k] as string).length;
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

function parseIrcMessageAll(lines: readonly string[]): number {
  let sum = 0;
  for (const line of lines) {
    const m = ircMessageParse(line);
    if (m === null) continue;
    sum += (m.command as string).length + (m.prefix?.length ?? 0);
    for (const p of m.params) sum += p.length;
    const tags = m.tags;
    for (const k in tags) {
      const v = tags[k];
      sum += k.length + (typeof v === 'string' ? v.length : 0);
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

function parseFrameworkAll(lines: readonly string[]): number {
  let sum = 0;
  for (const line of lines) {
    const m = frameworkParse(line);
    sum += m.command.length + m.prefix.length;
    for (const p of m.params) sum += p.length;
    const tags = m.tags;
    for (const k in tags) sum += k.length + (tags[k] as string).length;
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

/** What a send puts on the wire, as irc-go's LineBytes: the line, CRLF, as bytes. */
function formatIrcsockBytes(msgs: readonly IrcMessageInit[]): number {
  let sum = 0;
  for (const m of msgs) sum += encodeText(formatLine(m) + '\r\n').length;
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

const P = 'parse (command + params)';
const E = 'parse, every field read (command, source, params, every tag unescaped)';
const F = 'format';
const D = 'line decoder (16 KiB chunks)';
const IRC_GO_PARSE = 'irc-go ParseLine (always every field)';
const IRC_GO_FORMAT = 'irc-go LineBytes (bytes + CRLF)';

interface CaseSpec {
  section: string;
  name: string;
  /** The row the ratio is taken against (irc-go where it has a row). */
  baseline: string;
  /** Corpus bytes (parse, decode) or formatted bytes (format). */
  bytes: 'corpus' | 'formatted';
  /** Run by the Go program with this operation, rather than a Node child. */
  go?: 'parse' | 'serialise';
}

/** Every row of the table, in order. A case name is also its `--child` argument. */
const CASES: readonly CaseSpec[] = [
  { section: P, name: 'ircsock parseLine', baseline: IRC_GO_PARSE, bytes: 'corpus' },
  { section: P, name: 'irc-message 3', baseline: IRC_GO_PARSE, bytes: 'corpus' },
  { section: P, name: 'irc-framework 4', baseline: IRC_GO_PARSE, bytes: 'corpus' },
  { section: P, name: IRC_GO_PARSE, baseline: IRC_GO_PARSE, bytes: 'corpus', go: 'parse' },
  { section: P, name: 'floor: split at LF + decode', baseline: IRC_GO_PARSE, bytes: 'corpus' },
  { section: E, name: 'ircsock parseLine, every field', baseline: IRC_GO_PARSE, bytes: 'corpus' },
  { section: E, name: 'irc-message 3, every field (no unescaping)', baseline: IRC_GO_PARSE, bytes: 'corpus' },
  { section: E, name: 'irc-framework 4, every field', baseline: IRC_GO_PARSE, bytes: 'corpus' },
  { section: F, name: 'ircsock formatLine', baseline: IRC_GO_FORMAT, bytes: 'formatted' },
  { section: F, name: 'ircsock formatLine + CRLF as bytes', baseline: IRC_GO_FORMAT, bytes: 'formatted' },
  { section: F, name: 'irc-framework to1459', baseline: IRC_GO_FORMAT, bytes: 'formatted' },
  { section: F, name: IRC_GO_FORMAT, baseline: IRC_GO_FORMAT, bytes: 'formatted', go: 'serialise' },
  { section: D, name: 'ircsock LineDecoder', baseline: 'ircsock LineDecoder', bytes: 'corpus' },
  { section: D, name: 'floor: indexOf + toString', baseline: 'ircsock LineDecoder', bytes: 'corpus' },
];

/** The work of one Node case on the corpus (built in the child, outside the timing). */
function workFor(name: string, corpus: Corpus): Work {
  const { lines, buffer } = corpus;
  // The same messages for every formatter, built from the parsed corpus.
  const inits = (): IrcMessageInit[] =>
    lines.map((l) => {
      const m = parseLine(l);
      return { tags: { ...m.tags }, source: m.source, command: m.command, params: [...m.params] };
    });
  switch (name) {
    case 'ircsock parseLine': return () => parseIrcsock(lines);
    case 'irc-message 3': return () => parseIrcMessage(lines);
    case 'irc-framework 4': return () => parseFramework(lines);
    case 'floor: split at LF + decode': return () => floorSplit(buffer);
    case 'ircsock parseLine, every field': return () => parseIrcsockAll(lines);
    case 'irc-message 3, every field (no unescaping)': return () => parseIrcMessageAll(lines);
    case 'irc-framework 4, every field': return () => parseFrameworkAll(lines);
    case 'ircsock formatLine': {
      const msgs = inits();
      return () => formatIrcsock(msgs);
    }
    case 'ircsock formatLine + CRLF as bytes': {
      const msgs = inits();
      return () => formatIrcsockBytes(msgs);
    }
    case 'irc-framework to1459': {
      const msgs = inits().map((m) => {
        const fm = new FrameworkMessageClass(m.command, ...(m.params ?? []));
        fm.tags = { ...m.tags };
        fm.prefix = m.source ?? '';
        return fm;
      });
      return () => formatFramework(msgs);
    }
    case 'ircsock LineDecoder':
    case 'floor: indexOf + toString': {
      const chunks = chunksOf(buffer, 16 * 1024);
      // The decoder and its floor must see the same lines, or the comparison means nothing.
      const expected = floorSplit(buffer);
      if (decodeIrcsock(chunks) !== expected || decodeFloor(chunks) !== expected) {
        throw new Error('the line decoder and the floor disagree on the corpus');
      }
      return name === 'ircsock LineDecoder' ? () => decodeIrcsock(chunks) : () => decodeFloor(chunks);
    }
    default:
      throw new Error(`no parse bench case ${JSON.stringify(name)}`);
  }
}

function formattedBytes(corpus: Corpus): number {
  let n = 0;
  for (const l of corpus.lines) n += Buffer.byteLength(formatLine(parseLine(l))) + 2;
  return n;
}

// --- one case, in its own process --------------------------------------------

/** What a child prints: its fastest pass (the one least disturbed by the neighbours), and every pass. */
interface Sample {
  seconds: number;
  times: number[];
  /** The process's CPU time (user + system, GC threads included) of its cheapest pass: for A/B runs on a loaded machine. */
  cpu: number;
}

function childMain(name: string, opts: CorpusBenchOptions & { reps: number }): void {
  const corpus = generateCorpus({ lines: opts.lines ?? DEFAULT_CORPUS_LINES, seed: opts.seed });
  const work = workFor(name, corpus);
  // Warm-up: two passes, so the loop is optimised before it is timed.
  work();
  const check = work();
  const times: number[] = [];
  const cpus: number[] = [];
  for (let r = 0; r < opts.reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    if (work() !== check) throw new Error(`${name}: the result changed between passes`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / 1e6);
  }
  const sample: Sample = { seconds: Math.min(...times), times, cpu: Math.min(...cpus) };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

const SELF = fileURLToPath(import.meta.url);

function runNode(name: string, opts: CorpusBenchOptions & { reps: number }): number {
  const args = [SELF, '--child', name, '--reps', String(opts.reps)];
  if (opts.lines !== undefined) args.push('--lines', String(opts.lines));
  if (opts.seed !== undefined) args.push('--seed', String(opts.seed));
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20, timeout: 300_000 });
  return (JSON.parse(out.trim().split('\n').pop() ?? '{}') as Sample).seconds;
}

function runGo(binary: string, corpusFile: string, op: 'parse' | 'serialise', reps: number): number {
  const out = execFileSync(binary, [corpusFile, String(reps), op], { encoding: 'utf8', maxBuffer: 1 << 20, timeout: 300_000 });
  // Its fastest pass, as for the Node children (the program prints every pass as `times`).
  return Math.min(...(JSON.parse(out.trim().split('\n').pop() ?? '{}') as { times: number[] }).times);
}

// --- running and reporting -------------------------------------------------

const fmtRate = (x: number): string =>
  !Number.isFinite(x) ? '—' : x >= 1e6 ? `${(x / 1e6).toFixed(2)}M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)}k` : x.toFixed(0);

/** A Markdown table, so it can be pasted into an issue as it is. */
function table(rows: readonly string[][]): string {
  const head = ['case', 'lines/s', 'MB/s', 'vs baseline: medians', 'per round: median (min–max)'];
  const widths = head.map((h, col) => Math.max(h.length, ...rows.map((row) => (row[col] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((c, col) => (col === 0 ? c.padEnd(widths[col] ?? 0) : c.padStart(widths[col] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, col) => (col === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}

export type ParseBenchOptions = CorpusBenchOptions;

/** Runs the parse benchmark and prints its table. */
export function main(argv: readonly string[] = process.argv.slice(2)): void {
  const opts = parseCorpusBenchArgs(argv);
  const { values } = parseArgs({ args: [...argv], options: { reps: { type: 'string' }, child: { type: 'string' } }, strict: false });
  const reps = values.reps === undefined ? 5 : Number(values.reps);
  if (typeof values.reps === 'boolean' || !Number.isSafeInteger(reps) || reps < 1) throw new Error('--reps takes a whole number above 0');
  if (typeof values.child === 'string') {
    childMain(values.child, { ...opts, reps });
    return;
  }
  const runs = Math.max(1, opts.runs ?? 5);
  const corpus = generateCorpus({ lines: opts.lines ?? DEFAULT_CORPUS_LINES, seed: opts.seed });
  const sizes = { corpus: corpus.buffer.length, formatted: formattedBytes(corpus) };
  const go = ircGoPeer();
  if (go.binary === undefined) process.stderr.write(`  parse bench: the irc-go rows are skipped: ${go.why}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'ircsock-parse-'));
  const corpusFile = join(dir, 'corpus.irc');
  writeFileSync(corpusFile, corpus.buffer);
  const cases = CASES.filter((c) => c.go === undefined || go.binary !== undefined);
  const seconds = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  try {
    for (let r = 0; r < runs; r++) {
      // Rotate the order each round, so no case always follows the same neighbour.
      const order = cases.map((_, i) => cases[(i + r * 3) % cases.length] as CaseSpec);
      for (const c of order) {
        const s = c.go !== undefined ? runGo(go.binary as string, corpusFile, c.go, reps) : runNode(c.name, { ...opts, reps });
        seconds.get(c.name)?.push(s);
      }
      process.stderr.write(`  parse bench: round ${r + 1}/${runs} done\n`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const n = corpus.lines.length;
  const rate = (name: string, i: number): number => n / ((seconds.get(name) ?? [])[i] ?? NaN);
  const med = (name: string): number => n / medianOf(seconds.get(name) ?? []);
  const rows: string[][] = [];
  let section = '';
  for (const c of cases) {
    if (c.section !== section) {
      section = c.section;
      rows.push([`**${section}**`, '', '', '', '']);
    }
    const lps = med(c.name);
    const mbps = (sizes[c.bytes] * lps) / n / 1e6;
    let vs = '';
    let perRound = '';
    if (c.baseline !== c.name && seconds.has(c.baseline)) {
      vs = `${(lps / med(c.baseline)).toFixed(2)}×`;
      const ratios = Array.from({ length: runs }, (_, i) => rate(c.name, i) / rate(c.baseline, i));
      perRound = `${medianOf(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
    }
    rows.push([c.name, fmtRate(lps), mbps.toFixed(1), vs, perRound]);
  }
  console.log(
    `parse bench: ${n} lines, ${(corpus.buffer.length / 1e6).toFixed(1)} MB, ${(corpus.nonAsciiShare * 100).toFixed(1)}% non-ASCII lines; ` +
      `each case in its own process, ${runs} rounds (order rotating), fastest of ${reps} passes after warm-up per process; Node ${process.version}` +
      (go.binary === undefined ? `; irc-go skipped: ${go.why}` : ''),
  );
  console.log(table(rows));
  const ratioOf = (a: string, b: string): number => medianOf(Array.from({ length: runs }, (_, i) => rate(a, i) / rate(b, i)));
  const target = (what: string, value: number, goal: number, unit = '×'): string =>
    `  ${what.padEnd(52)} ${Number.isFinite(value) ? value.toFixed(2) : '—'}${unit}  (target ≥ ${goal}${unit}) ${!Number.isFinite(value) ? 'not measured' : value >= goal ? 'met' : 'NOT met'}`;
  console.log(
    [
      'targets (issues 2 and 14; ratios are medians of per-round ratios):',
      target('parse: ircsock / irc-message', ratioOf('ircsock parseLine', 'irc-message 3'), 2.5),
      target('parse: ircsock / irc-framework', ratioOf('ircsock parseLine', 'irc-framework 4'), 4),
      target('every field: ircsock / irc-go ParseLine', ratioOf('ircsock parseLine, every field', IRC_GO_PARSE), 1),
      target('format: ircsock formatLine / irc-go LineBytes', ratioOf('ircsock formatLine', IRC_GO_FORMAT), 1),
      target('format: ircsock / irc-framework to1459', ratioOf('ircsock formatLine', 'irc-framework to1459'), 1.8),
      target('decoder', (sizes.corpus * med('ircsock LineDecoder')) / n / 1e9, 1, ' GB/s'),
    ].join('\n'),
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main();
}
