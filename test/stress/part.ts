/**
 * One part of the stress suite: start the relay in its own process, connect
 * the healthy watchdog and pair, take the baseline (after GC), run the attack,
 * then check the invariants every part shares — the relay answers, every PING
 * was answered within 2 s, the pair lost nothing, the peak RSS stayed under
 * the part's bound — plus the part's own. Figures go into one table.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { renderTable } from '../../bench/lib/table.js';
import { HealthyPair, IrcClient, MiB, RelayProcess, SCALE, Watchdog, mib, type RelayChildConfig, type RelayStats } from './harness.js';

export interface PartEnv {
  readonly relay: RelayProcess;
  /** The port the healthy clients use (the TLS one when the part says `tls`). */
  readonly port: number;
  /** Stats after GC, healthy clients connected, before the attack. */
  readonly base: RelayStats;
  readonly failures: string[];
  /** Attack figures for the table (`key=value`). */
  readonly figures: Record<string, string | number>;
  check(cond: boolean, failure: string): void;
}

export interface PartSpec {
  name: string;
  relay: RelayChildConfig;
  /** The healthy clients connect over TLS. */
  tls?: boolean;
  /** The peak RSS allowed during the part, from the baseline; `text` states it for the table. */
  rssBound: { bytes: (base: RelayStats) => number; text: string };
  attack(env: PartEnv): Promise<void>;
  /** Checks after the attack, the healthy clients still connected; `final` is taken after GC. */
  after?(env: PartEnv, final: RelayStats): Promise<void> | void;
}

interface Row {
  part: string;
  seconds: number;
  pings: string;
  pair: string;
  rss: string;
  bound: string;
  figures: string;
  ok: boolean;
}

const rows: Row[] = [];

export async function runPart(spec: PartSpec): Promise<void> {
  const started = performance.now();
  const failures: string[] = [];
  const figures: Record<string, string | number> = {};
  const check = (cond: boolean, failure: string): void => {
    if (!cond) failures.push(failure);
  };
  const relay = await RelayProcess.start(spec.name, spec.relay);
  let watchdog: Watchdog | undefined;
  let pair: HealthyPair | undefined;
  let base: RelayStats | undefined;
  let peak = NaN;
  let final: RelayStats | undefined;
  try {
    const port = spec.tls === true ? relay.tlsPort : relay.plainPort;
    const wd = await IrcClient.connect('wdog', { port, tls: spec.tls });
    await wd.register('wdog');
    watchdog = new Watchdog(wd);
    pair = await HealthyPair.start(port, `#healthy-${randomBytes(4).toString('hex')}`, { tls: spec.tls });
    base = await relay.gc();
    await relay.resetPeak();
    watchdog.start();
    pair.start();

    const env: PartEnv = { relay, port, base, failures, figures, check };
    try {
      await spec.attack(env);
    } catch (err) {
      failures.push(`attack failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
    await pair.stop();
    await watchdog.stop();
    failures.push(...watchdog.failures, ...pair.failures);

    // No crash: the relay process is alive and answers.
    try {
      const now = await relay.stats();
      peak = now.peakRss;
      const bound = spec.rssBound.bytes(base);
      check(peak <= bound, `RSS: peak ${mib(peak)} MiB above the bound of ${mib(bound)} MiB (${spec.rssBound.text})`);
      final = await relay.gc();
      await spec.after?.(env, final);
    } catch (err) {
      failures.push(`relay (pid ${relay.pid}) did not answer: ${err instanceof Error ? err.message : String(err)}`);
    }
  } catch (err) {
    // Setting up the healthy clients failed: still a row in the table, and a failure.
    failures.push(`setup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    watchdog?.client.destroy();
    pair?.destroy();
    await relay.stop();
  }

  const b = base;
  rows.push({
    part: spec.name,
    seconds: (performance.now() - started) / 1000,
    pings: watchdog === undefined ? '—' : `${watchdog.answered}/${watchdog.sent} max ${Math.round(watchdog.maxMs)} ms`,
    pair: pair === undefined ? '—' : `${(pair.sent[0] ?? 0) + (pair.sent[1] ?? 0)} sent, ${pair.lost} lost, ${pair.reordered} out of order`,
    rss: b === undefined ? '—' : `${mib(b.rss)} → ${mib(peak)} → ${final === undefined ? '—' : mib(final.rss)}`,
    bound: b === undefined ? '—' : `${mib(spec.rssBound.bytes(b))} (${spec.rssBound.text})`,
    figures: Object.entries(figures)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(' '),
    ok: failures.length === 0,
  });
  console.log(`[stress] ${spec.name}: ${failures.length === 0 ? 'ok' : 'FAILED'} in ${((performance.now() - started) / 1000).toFixed(1)} s; ${rows.at(-1)?.figures ?? ''}`);
  assert.deepEqual(failures, [], `${spec.name}: ${failures.length} invariant(s) failed`);
}

/** The figures of every part run so far, as one table. */
export function renderRows(): string {
  const table = renderTable(
    `Stress suite (STRESS_SCALE=${SCALE}; relay RSS in MiB: baseline after GC → peak → after GC)`,
    ['part', 's', 'watchdog PINGs answered (≤ 2 s)', 'healthy pair', 'RSS MiB', 'peak bound MiB', 'result'],
    rows.map((r) => [r.part, r.seconds.toFixed(1), r.pings, r.pair, r.rss, r.bound, r.ok ? 'ok' : 'FAILED']),
  );
  const figures = rows.map((r) => `  ${r.part}: ${r.figures}`).join('\n');
  return `${table}\n\nFigures:\n${figures}\n`;
}

export { MiB };
