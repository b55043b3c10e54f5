/** Plain-text tables for benchmark results, with a ratio column between two named variants. */

export type Cell = string | number;

export interface Column {
  title: string;
  /** Right-align (the default for numbers). */
  right?: boolean;
}

/** Formats a number for a table: thousands separators, fixed decimals. */
export function fmt(n: number, decimals = 0): string {
  if (!Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** `a / b` written as `0.87×`; `—` when it cannot be computed. */
export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '—';
  return `${(a / b).toFixed(2)}×`;
}

/** Bytes as KiB or MiB. */
export function bytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const abs = Math.abs(n);
  if (abs >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (abs >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

/** Renders rows under a title; numbers are right-aligned, strings left-aligned unless the column says. */
export function renderTable(title: string, columns: readonly (string | Column)[], rows: readonly (readonly Cell[])[], notes: readonly string[] = []): string {
  const cols: Column[] = columns.map((c) => (typeof c === 'string' ? { title: c } : c));
  const text = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)));
  const rightAligned = cols.map((c, i) => c.right ?? rows.some((r) => typeof r[i] === 'number'));
  const widths = cols.map((c, i) => Math.max(c.title.length, ...text.map((r) => (r[i] ?? '').length)));
  const pad = (s: string, i: number): string => ((rightAligned[i] ?? false) ? s.padStart(widths[i] ?? 0) : s.padEnd(widths[i] ?? 0));
  const line = (cells: readonly string[]): string => `| ${cells.map((s, i) => pad(s, i)).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => ((rightAligned[i] ?? false) ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  const out = [`\n${title}\n`, line(cols.map((c) => c.title)), rule, ...text.map((r) => line(cols.map((_, i) => r[i] ?? '')))];
  if (notes.length > 0) out.push('', ...notes.map((n) => `  ${n}`));
  return out.join('\n');
}

export function printTable(title: string, columns: readonly (string | Column)[], rows: readonly (readonly Cell[])[], notes: readonly string[] = []): void {
  console.log(renderTable(title, columns, rows, notes));
}
