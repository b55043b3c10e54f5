/** Small statistics helpers for benchmark runs: no dependencies, no I/O. */

/** The value at quantile `q` (0..1) of `values`, interpolating between ranks; NaN when empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const pos = Math.min(Math.max(q, 0), 1) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** The p-th percentile (0..100). */
export function percentile(values: readonly number[], p: number): number {
  return quantile(values, p / 100);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

export function min(values: readonly number[]): number {
  return values.length === 0 ? NaN : Math.min(...values);
}

export function max(values: readonly number[]): number {
  return values.length === 0 ? NaN : Math.max(...values);
}

/** Half the max−min spread relative to the median, as a fraction: a quick noise gauge for few runs. */
export function spread(values: readonly number[]): number {
  const m = median(values);
  if (values.length < 2 || !Number.isFinite(m) || m === 0) return 0;
  return (max(values) - min(values)) / 2 / Math.abs(m);
}

/** CPU seconds (user + system) between two `process.cpuUsage()` readings. */
export function cpuSeconds(before: NodeJS.CpuUsage, after: NodeJS.CpuUsage): number {
  return (after.user - before.user + after.system - before.system) / 1e6;
}
