import type { LoadGen, Mark, StartCommand } from './loadgen.js';
import { sleep } from './options.js';
import type { ServerProcess, ServerStats } from './server.js';

/** The counters around one measured window of a load run. */
export interface WindowMarks {
  /** The generator before the run started (its `startRun` answer comes after the first burst). */
  before: Mark;
  s0: ServerStats;
  m0: Mark;
  s1: ServerStats;
  m1: Mark;
  /** The generator once nothing more arrives after the run stopped. */
  end: Mark;
}

/** Starts a load run, lets it warm up, measures `durationMs` of it, stops it and lets it settle. */
export async function measureWindow(
  server: ServerProcess,
  gen: LoadGen,
  run: StartCommand,
  warmupMs: number,
  durationMs: number,
): Promise<WindowMarks> {
  const before = await gen.mark();
  await gen.startRun(run);
  await sleep(warmupMs);
  const [s0, m0] = await Promise.all([server.stats(), gen.mark(true)]);
  await sleep(durationMs);
  const [s1, m1] = await Promise.all([server.stats(), gen.mark()]);
  await gen.stopRun();
  const end = await gen.settle(300, 10_000);
  return { before, s0, m0, s1, m1, end };
}
