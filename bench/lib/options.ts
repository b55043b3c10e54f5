/** Shared command-line handling for the socket benchmarks (unknown options are left to other steps). */
import { parseArgs } from 'node:util';

export interface SocketBenchOptions {
  runs: number | undefined;
  /** Measured seconds. */
  duration: number | undefined;
  /** Warm-up seconds. */
  warmup: number | undefined;
  clients: number | undefined;
  senders: number | undefined;
  /** Idle connections. */
  conns: number | undefined;
  /** Comma-separated server labels to run (default: all of the step's). */
  servers: string[] | undefined;
  /** Write V8 CPU profiles of the server processes into this directory. */
  profile: string | undefined;
  /** Flood mode: lines in flight per sender (the flow window, in lines). */
  inflight: number | undefined;
  /** Flood mode: lines per write. */
  batch: number | undefined;
  /** Tracking mode: latency and lost/reordered lines (costlier generator). */
  track: boolean;
  /**
   * Another checkout of the project, built (`npm ci && npx tsc -p tsconfig.json`):
   * the fan-out and idle benches also run its ircsock server, side by side.
   */
  baseline: string | undefined;
}

export function parseSocketBenchArgs(argv: readonly string[]): SocketBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      runs: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      clients: { type: 'string' },
      senders: { type: 'string' },
      conns: { type: 'string' },
      servers: { type: 'string' },
      profile: { type: 'string' },
      inflight: { type: 'string' },
      batch: { type: 'string' },
      track: { type: 'boolean' },
      baseline: { type: 'string' },
    },
    strict: false,
  });
  const num = (name: string, int: boolean): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (typeof v !== 'string' || !Number.isFinite(n) || n < 0 || (int && !Number.isSafeInteger(n))) {
      throw new Error(`--${name} takes a ${int ? 'whole ' : ''}number`);
    }
    return n;
  };
  const str = (name: string): string | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new Error(`--${name} takes a value`);
    return v;
  };
  return {
    runs: num('runs', true),
    duration: num('duration', false),
    warmup: num('warmup', false),
    clients: num('clients', true),
    senders: num('senders', true),
    conns: num('conns', true),
    servers: str('servers')?.split(',').filter((s) => s !== ''),
    profile: str('profile'),
    inflight: num('inflight', true),
    batch: num('batch', true),
    track: values.track === true,
    baseline: str('baseline'),
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** `--lines`, `--runs`, `--seed`: the options of the benches that run on the corpus. */
export interface CorpusBenchOptions {
  lines?: number;
  runs?: number;
  seed?: number;
}

export function parseCorpusBenchArgs(argv: readonly string[]): CorpusBenchOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: { lines: { type: 'string' }, runs: { type: 'string' }, seed: { type: 'string' } },
    strict: false,
  });
  const num = (v: string | boolean | undefined, name: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (typeof v !== 'string' || !Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} takes a whole number`);
    return n;
  };
  return { lines: num(values.lines, 'lines'), runs: num(values.runs, 'runs'), seed: num(values.seed, 'seed') };
}
