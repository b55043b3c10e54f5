/**
 * TLS handshakes per second: an ircsock TLS listener beside a plain
 * `node:tls` server in the same run, same key (EC P-256), TLS 1.3, new
 * connections with full handshakes (no session resumption), each server one
 * process (one core). Rounds alternate the two servers. Then reloads under
 * load: how long `reloadTls()` takes, and whether any handshake failed.
 *
 *   node build/bench/index.js --only tls [--duration 5] [--runs 3] [--concurrency 8]
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startChild, type BenchChild } from './lib/child.js';
import { cpuSeconds, median, spread } from './lib/stats.js';
import { fmt, printTable, ratio } from './lib/table.js';

interface Stats {
  handshakes: number;
  failures: number;
  cpu: NodeJS.CpuUsage;
}

function makePair(dir: string): void {
  mkdirSync(dir, { recursive: true });
  // prettier-ignore
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'),
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Full handshakes back to back on `concurrency` lanes for `seconds`; each waits for the server's first line. */
async function hammer(port: number, seconds: number, concurrency: number): Promise<{ done: number; errors: number }> {
  const until = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
      let ok = false;
      s.once('data', () => {
        ok = true;
        done++;
        s.destroy();
      });
      s.on('error', () => undefined);
      s.once('close', () => {
        if (!ok) errors++;
        resolve();
      });
    });
  const lane = async (): Promise<void> => {
    while (performance.now() < until) await one();
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { done, errors };
}

interface Side {
  label: string;
  child: BenchChild;
  port: number;
  rates: number[];
  perCpu: number[];
}

export async function main(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: { duration: { type: 'string' }, runs: { type: 'string' }, concurrency: { type: 'string' } },
    strict: false,
  });
  const seconds = Number(values.duration ?? 5);
  const runs = Number(values.runs ?? 3);
  const concurrency = Number(values.concurrency ?? 8);
  const dir = mkdtempSync(path.join(tmpdir(), 'ircsock-bench-tls-'));
  const script = fileURLToPath(new URL('./servers/tls-handshake.js', import.meta.url));
  const sides: Side[] = [];
  try {
    makePair(path.join(dir, 'orig'));
    makePair(path.join(dir, 'alt'));
    mkdirSync(path.join(dir, 'live'));
    for (const name of ['key.pem', 'cert.pem']) copyFileSync(path.join(dir, 'orig', name), path.join(dir, 'live', name));
    const files = ['--key', path.join(dir, 'live', 'key.pem'), '--cert', path.join(dir, 'live', 'cert.pem'), '--orig', path.join(dir, 'orig'), '--alt', path.join(dir, 'alt')];
    for (const [label, kind] of [['ircsock', 'ircsock'], ['node:tls', 'node']] as const) {
      const { child, ready } = await startChild(label, script, ['--kind', kind, ...files]);
      sides.push({ label, child, port: ready.port as number, rates: [], perCpu: [] });
    }
    // A short warm-up of each (JIT, TLS contexts), not measured.
    for (const side of sides) await hammer(side.port, 0.5, concurrency);
    let clientErrors = 0;
    for (let r = 0; r < runs; r++) {
      for (const side of r % 2 === 0 ? sides : [...sides].reverse()) {
        const before = await side.child.request<Stats>('stats');
        const t0 = performance.now();
        const { done, errors } = await hammer(side.port, seconds, concurrency);
        const wall = (performance.now() - t0) / 1000;
        const after = await side.child.request<Stats>('stats');
        clientErrors += errors;
        side.rates.push(done / wall);
        side.perCpu.push((after.handshakes - before.handshakes) / cpuSeconds(before.cpu, after.cpu));
      }
    }
    const [ours, node] = sides as [Side, Side];
    printTable(
      `TLS 1.3 full handshakes, EC P-256, ${concurrency} client lanes, ${runs} × ${seconds} s per server, alternating (medians)`,
      ['server', 'handshakes/s', 'spread', 'per server CPU-second', 'vs node:tls (per CPU-s)'],
      sides.map((s) => [s.label, fmt(median(s.rates)), `±${(spread(s.rates) * 100).toFixed(0)}%`, fmt(median(s.perCpu)), ratio(median(s.perCpu), median(node.perCpu))]),
      [
        `handshakes/s ratio: ${ratio(median(ours.rates), median(node.rates))}; handshakes that failed on the client side: ${clientErrors}`,
        'the client (this process) and each server share 2 cores with other work: per server CPU-second is the steadier figure',
      ],
    );

    // Reloads under load: one every 200 ms while the clients keep handshaking.
    const before = await ours.child.request<Stats>('stats');
    await ours.child.request('startReloads', { every: 200 });
    const { done, errors } = await hammer(ours.port, seconds, concurrency);
    const reloads = await ours.child.request<{ times: number[]; failed: number }>('stopReloads');
    const after = await ours.child.request<Stats>('stats');
    printTable(
      `reloadTls() under load: every 200 ms for ${seconds} s, alternating two certificates`,
      ['reloads', 'failed reloads', 'median ms', 'max ms', 'handshakes', 'failed handshakes (client)', 'failed (server)'],
      [[reloads.times.length, reloads.failed, fmt(median(reloads.times), 2), fmt(Math.max(...reloads.times), 2), done, errors, after.failures - before.failures]],
    );
  } finally {
    await Promise.all(sides.map((s) => s.child.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}
