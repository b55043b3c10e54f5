/**
 * The parent side of the load generator: starts `loadgen-child.js` in its own
 * process and drives it. Used by the backend benchmarks (fan-out, idle) and
 * meant for the relay benchmark too (greeting lines, ready marker, fixed-rate
 * mode, tracking of latency and lost/reordered lines).
 */
import { fileURLToPath } from 'node:url';
import { startChild, type BenchChild } from './child.js';
import type { Mark, OpenCommand, StartCommand } from './loadgen-child.js';

export type { Mark, OpenCommand, StartCommand } from './loadgen-child.js';

const CHILD = fileURLToPath(new URL('./loadgen-child.js', import.meta.url));

export interface LoadGenOptions {
  /** Open-file limit for the generator process (it holds one fd per client). */
  fdLimit?: number;
  execArgv?: string[];
  maxLifetime?: number;
}

export class LoadGen {
  readonly child: BenchChild;

  private constructor(child: BenchChild) {
    this.child = child;
  }

  static async start(opts: LoadGenOptions = {}): Promise<LoadGen> {
    const { child } = await startChild('loadgen', CHILD, [], opts);
    return new LoadGen(child);
  }

  get pid(): number {
    return this.child.pid;
  }

  open(cmd: OpenCommand): Promise<{ opened: number; failed: number; firstError?: string; ms: number }> {
    return this.child.request('open', cmd, (cmd.timeout ?? 60_000) + 10_000);
  }

  startRun(cmd: StartCommand): Promise<Mark> {
    return this.child.request('start', cmd);
  }

  /** Counters now; `reset` restarts the latency histogram (tracking mode). */
  mark(reset = false): Promise<Mark> {
    return this.child.request('mark', { reset });
  }

  stopRun(): Promise<Mark> {
    return this.child.request('stop');
  }

  /** Waits until nothing has arrived for `quietMs` (bounded by `timeout`). */
  settle(quietMs = 200, timeout = 10_000): Promise<Mark> {
    return this.child.request('settle', { quietMs, timeout }, timeout + 5_000);
  }

  close(): Promise<{ closed: number }> {
    return this.child.request('close');
  }

  stop(): Promise<void> {
    return this.child.stop();
  }
}
