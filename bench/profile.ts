/**
 * Reads what `--profile DIR` (fan-out: V8 CPU profiles of the server
 * processes) and `--heap-snapshot DIR` (idle: V8 heap snapshots) wrote, and
 * prints the top entries — or, given two files (this checkout's and the
 * baseline's), the top differences between them.
 *
 *   node build/bench/profile.js cpu A.cpuprofile [B.cpuprofile] [--top 25]
 *     self time per function (name, file:line), % of the profile's samples
 *     without (idle); with B: A's % beside B's, sorted by the difference.
 *   node build/bench/profile.js heap A.heapsnapshot [B.heapsnapshot] [--per N] [--top 25]
 *     self bytes and objects per constructor (as the DevTools summary groups
 *     them), divided by N (e.g. the idle connections); with B: the differences.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { fmt, printTable } from './lib/table.js';

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Self time (µs) per function, keyed `name file:line`; `(idle)` apart. */
export function cpuSelf(file: string): { self: Map<string, number>; total: number; idle: number } {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const key = new Map<number, string>();
  for (const n of p.nodes) {
    const f = n.callFrame;
    const where = f.url === '' ? '' : ` ${basename(f.url)}:${f.lineNumber + 1}`;
    key.set(n.id, `${f.functionName === '' ? '(anonymous)' : f.functionName}${where}`);
  }
  const self = new Map<string, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  // Each sample's time is the delta to the next one.
  for (let i = 0; i < samples.length; i++) {
    const k = key.get(samples[i] as number) ?? '?';
    const dt = (deltas[i + 1]) ?? 0;
    self.set(k, (self.get(k) ?? 0) + Math.max(0, dt));
  }
  const idle = self.get('(idle)') ?? 0;
  self.delete('(idle)');
  let total = 0;
  for (const v of self.values()) total += v;
  return { self, total, idle };
}

interface HeapSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: unknown[] }; node_count: number };
  nodes: number[];
  strings: string[];
}

/** Self size and count per constructor, grouped as the DevTools summary does (roughly). */
export function heapByConstructor(file: string): { bytes: Map<string, number>; count: Map<string, number>; total: number } {
  const h = JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot;
  const fields = h.snapshot.meta.node_fields;
  const types = h.snapshot.meta.node_types[0] as string[];
  const stride = fields.length;
  const TYPE = fields.indexOf('type');
  const NAME = fields.indexOf('name');
  const SIZE = fields.indexOf('self_size');
  const bytes = new Map<string, number>();
  const count = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < h.nodes.length; i += stride) {
    const type = types[h.nodes[i + TYPE] as number] ?? '?';
    const name = h.strings[h.nodes[i + NAME] as number] ?? '?';
    const size = h.nodes[i + SIZE] as number;
    let k: string;
    switch (type) {
      case 'object':
      case 'native':
        k = name;
        break;
      case 'closure':
        k = `(closure) ${name === '' ? '(anonymous)' : name}`;
        break;
      case 'string':
      case 'concatenated string':
      case 'sliced string':
        k = '(string)';
        break;
      case 'array':
        k = `(array) ${name}`;
        break;
      case 'code':
        k = '(compiled code)';
        break;
      case 'hidden':
        k = `(system) ${name}`;
        break;
      default:
        k = `(${type})`;
    }
    bytes.set(k, (bytes.get(k) ?? 0) + size);
    count.set(k, (count.get(k) ?? 0) + 1);
    total += size;
  }
  return { bytes, count, total };
}

function cpuReport(a: string, b: string | undefined, top: number): void {
  const A = cpuSelf(a);
  const pct = (x: { self: Map<string, number>; total: number }, k: string): number => ((x.self.get(k) ?? 0) / x.total) * 100;
  if (b === undefined) {
    const rows = [...A.self.keys()].sort((x, y) => (A.self.get(y) ?? 0) - (A.self.get(x) ?? 0)).slice(0, top);
    printTable(
      `Self time, ${basename(a)}: ${fmt(A.total / 1000)} ms sampled without (idle) (${fmt(A.idle / 1000)} ms idle)`,
      ['function', 'self ms', 'self %'],
      rows.map((k) => [k, fmt((A.self.get(k) ?? 0) / 1000), `${pct(A, k).toFixed(2)}%`]),
    );
    return;
  }
  const B = cpuSelf(b);
  const keys = new Set([...A.self.keys(), ...B.self.keys()]);
  const rows = [...keys].sort((x, y) => Math.abs(pct(A, y) - pct(B, y)) - Math.abs(pct(A, x) - pct(B, x))).slice(0, top);
  printTable(
    `Self time, ${basename(a)} (A: ${fmt(A.total / 1000)} ms) against ${basename(b)} (B: ${fmt(B.total / 1000)} ms), without (idle), by |A% − B%|`,
    ['function', 'A self %', 'B self %', 'A − B'],
    rows.map((k) => [k, `${pct(A, k).toFixed(2)}%`, `${pct(B, k).toFixed(2)}%`, (pct(A, k) - pct(B, k)).toFixed(2)]),
  );
}

function heapReport(a: string, b: string | undefined, per: number, top: number): void {
  const A = heapByConstructor(a);
  if (b === undefined) {
    const rows = [...A.bytes.keys()].sort((x, y) => (A.bytes.get(y) ?? 0) - (A.bytes.get(x) ?? 0)).slice(0, top);
    printTable(
      `Heap self size by constructor, ${basename(a)}: ${fmt(A.total)} B${per === 1 ? '' : `, per ${fmt(per)}`}`,
      ['constructor', `bytes${per === 1 ? '' : '/N'}`, `objects${per === 1 ? '' : '/N'}`],
      rows.map((k) => [k, fmt((A.bytes.get(k) ?? 0) / per, per === 1 ? 0 : 1), fmt((A.count.get(k) ?? 0) / per, per === 1 ? 0 : 2)]),
    );
    return;
  }
  const B = heapByConstructor(b);
  const keys = new Set([...A.bytes.keys(), ...B.bytes.keys()]);
  const d = (k: string): number => (A.bytes.get(k) ?? 0) - (B.bytes.get(k) ?? 0);
  const rows = [...keys].sort((x, y) => Math.abs(d(y)) - Math.abs(d(x))).slice(0, top);
  const n = (m: Map<string, number>, k: string, dec: number): string => fmt((m.get(k) ?? 0) / per, dec);
  printTable(
    `Heap self size by constructor, ${basename(a)} (A: ${fmt(A.total)} B) against ${basename(b)} (B: ${fmt(B.total)} B)${per === 1 ? '' : `, per ${fmt(per)}`}, by |A − B|`,
    ['constructor', 'A bytes', 'B bytes', 'A − B bytes', 'A objects', 'B objects'],
    rows.map((k) => [k, n(A.bytes, k, 1), n(B.bytes, k, 1), fmt(d(k) / per, 1), n(A.count, k, 2), n(B.count, k, 2)]),
    [`total A − B: ${fmt((A.total - B.total) / per, 1)} B${per === 1 ? '' : ' per N'}`],
  );
}

export function main(argv: readonly string[] = process.argv.slice(2)): void {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: { top: { type: 'string' }, per: { type: 'string' } },
    allowPositionals: true,
  });
  const [what, a, b] = positionals;
  const top = Number(values.top ?? 25);
  const per = Number(values.per ?? 1);
  if (a === undefined || !Number.isSafeInteger(top) || !(per > 0)) {
    throw new Error('usage: profile.js cpu A.cpuprofile [B.cpuprofile] [--top N] | heap A.heapsnapshot [B.heapsnapshot] [--per N] [--top N]');
  }
  if (what === 'cpu') cpuReport(a, b, top);
  else if (what === 'heap') heapReport(a, b, per, top);
  else throw new Error(`profile.js cpu|heap, not ${String(what)}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    main();
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  }
}
