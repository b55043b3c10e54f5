/** The "rows against each other" table of the socket benches: paired ratios between rows of one run. */
import { median } from './stats.js';
import { printTable, ratio } from './table.js';

/** `row / reference`, shown when both ran. */
export interface Pair {
  row: string;
  reference: string;
  what: string;
}

export interface PairMetric<R> {
  title: string;
  value: (r: R) => number;
}

/**
 * Each pair of rows that both ran, per metric: the ratio of their medians,
 * and the median and range of the per-round ratios. The two servers of a pair
 * ran in the same round (runs alternate their order), so a per-round ratio
 * cancels drift between rounds.
 */
export function printPairs<R>(title: string, pairs: readonly Pair[], results: ReadonlyMap<string, readonly R[]>, metrics: readonly PairMetric<R>[], notes: readonly string[] = []): void {
  const rows: string[][] = [];
  for (const p of pairs) {
    const a = results.get(p.row);
    const b = results.get(p.reference);
    if (a === undefined || b === undefined || a.length === 0 || b.length === 0) continue;
    const cells = [`${p.row} / ${p.reference}`];
    for (const m of metrics) {
      const rounds = Math.min(a.length, b.length);
      const paired: number[] = [];
      for (let i = 0; i < rounds; i++) paired.push(m.value(a[i] as R) / m.value(b[i] as R));
      const finite = paired.filter(Number.isFinite);
      cells.push(
        ratio(median(a.map(m.value)), median(b.map(m.value))),
        finite.length === 0 ? '—' : `${ratio(median(finite), 1)} (${ratio(Math.min(...finite), 1)}–${ratio(Math.max(...finite), 1)})`,
      );
    }
    cells.push(p.what);
    rows.push(cells);
  }
  if (rows.length === 0) return;
  const columns = ['pair', ...metrics.flatMap((m) => [`${m.title}: medians`, `${m.title}: per round, median (min–max)`]), 'what'];
  printTable(title, columns, rows, notes);
}
