/**
 * The relay under stress, in its own process: `startRelay()` with the options
 * given as one JSON argument, driven over IPC (bench/lib/child.ts). It
 * answers `stats` (memory, the peak RSS it sampled, active handles by kind,
 * its tables, admission counts, and tallies of the backend's events) and
 * `gc` (collect first; the parent starts it with `--expose-gc`).
 *
 * Started by `RelayProcess.start()` in `harness.ts`, never by `node --test`.
 */
import type { AdmissionOptions, FloodOptions, Limits } from '../../src/index.js';
import { startRelay, type Relay } from '../../src/cli/relay/server.js';
import { emitToParent, serveParent } from '../../bench/lib/child.js';

export interface RelayChildConfig {
  /** Listen for plain TCP on 127.0.0.1 (port 0). Default true. */
  plain?: boolean;
  /** Listen for TLS on 127.0.0.1 (port 0) with these PEM files. */
  tls?: { certPath: string; keyPath: string };
  idle?: number;
  limits?: Partial<Limits>;
  flood?: FloodOptions | false;
  admission?: AdmissionOptions | false;
}

export interface RelayStats {
  pid: number;
  rss: number;
  /** Highest RSS sampled (every 50 ms) since start or the last `resetPeak`. */
  peakRss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** `process.getActiveResourcesInfo()` counted by kind (TCPSocketWrap, Timeout, ...). */
  handles: Record<string, number>;
  connections: number;
  clients: number;
  /** Per listener, in the order plain then TLS: admitted connections counted now, keys, throttle windows. */
  admission: { active: number; keys: number; throttle: number }[];
  opened: number;
  disconnects: number;
  /** Disconnects by the error's `code` (`none` when the peer or the relay ended it without one). */
  disconnectCodes: Record<string, number>;
  /** Disconnects by reason text, digits folded to `#`. */
  disconnectReasons: Record<string, number>;
  refused: Record<string, number>;
  tlsErrors: Record<string, number>;
  inputErrors: Record<string, number>;
  /** Lines dispatched to the relay's command handlers. */
  inputs: number;
}

/** Distinct keys kept per tally; the rest count under `other`, so a fuzzer cannot grow our memory. */
const MAX_KEYS = 40;

function bump(tally: Record<string, number>, key: string): void {
  const k = key in tally || Object.keys(tally).length < MAX_KEYS ? key : 'other';
  tally[k] = (tally[k] ?? 0) + 1;
}

/** A disconnect reason as a tally key: digits folded, a client's own QUIT text dropped. */
function reasonKey(reason: string): string {
  if (reason.startsWith('Quit:')) return 'Quit: …';
  return reason.replace(/\d+/g, '#').slice(0, 40);
}

function handleSummary(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) out[kind] = (out[kind] ?? 0) + 1;
  return out;
}

async function main(): Promise<void> {
  // Node's net.Socket#_destroy compares the socket with `process.stderr`, which creates that stream
  // (a PipeWrap handle when stderr is a pipe, as under node --test) on the first close. Create it now,
  // so the handle baseline does not count it as a leak.
  if (!process.stderr.writable) console.warn('stderr is not writable');
  const config = JSON.parse(process.argv[2] ?? '{}') as RelayChildConfig;
  const relay: Relay = await startRelay({
    listen: config.plain === false ? [] : [{ host: '127.0.0.1', port: 0 }],
    tlsListen: config.tls === undefined ? [] : [{ host: '127.0.0.1', port: 0 }],
    tlsCert: config.tls?.certPath,
    tlsKey: config.tls?.keyPath,
    idle: config.idle,
    limits: config.limits,
    flood: config.flood,
    admission: config.admission,
  });
  const { backend } = relay;

  let opened = 0;
  let disconnects = 0;
  let inputs = 0;
  const disconnectCodes: Record<string, number> = {};
  const disconnectReasons: Record<string, number> = {};
  const refused: Record<string, number> = {};
  const tlsErrors: Record<string, number> = {};
  const inputErrors: Record<string, number> = {};
  backend.on('listenerOpen', () => {
    opened++;
  });
  backend.on('input', () => {
    inputs++;
  });
  backend.on('disconnect', (_conn, reason, err) => {
    disconnects++;
    bump(disconnectCodes, (err as { code?: string } | undefined)?.code ?? 'none');
    bump(disconnectReasons, reasonKey(reason));
  });
  backend.on('connectionRefused', (r) => {
    bump(refused, r.code);
  });
  backend.on('tlsClientError', (_listener, err) => {
    bump(tlsErrors, (err as { code?: string }).code ?? 'none');
  });
  backend.on('inputError', (_conn, err) => {
    bump(inputErrors, err.code);
  });

  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    const rss = process.memoryUsage.rss();
    if (rss > peakRss) peakRss = rss;
  }, 50);

  const stats = (): RelayStats => {
    const mem = process.memoryUsage();
    if (mem.rss > peakRss) peakRss = mem.rss;
    return {
      pid: process.pid,
      rss: mem.rss,
      peakRss,
      heapUsed: mem.heapUsed,
      external: mem.external,
      arrayBuffers: mem.arrayBuffers,
      handles: handleSummary(),
      connections: backend.connections.size,
      clients: relay.clientCount,
      admission: relay.listeners.map((l) => ({
        active: l.admission?.activeCount ?? 0,
        keys: l.admission?.keyCount ?? 0,
        throttle: l.admission?.throttleEntries ?? 0,
      })),
      opened,
      disconnects,
      disconnectCodes: { ...disconnectCodes },
      disconnectReasons: { ...disconnectReasons },
      refused: { ...refused },
      tlsErrors: { ...tlsErrors },
      inputErrors: { ...inputErrors },
      inputs,
    };
  };

  const collect = async (): Promise<void> => {
    const gc = globalThis.gc;
    if (typeof gc !== 'function') return;
    // Twice, with a turn between, so weak callbacks and finalizers run.
    gc();
    await new Promise((r) => setImmediate(r));
    gc();
  };

  serveParent(
    {
      stats: () => stats(),
      gc: async () => {
        await collect();
        return stats();
      },
      resetPeak: () => {
        peakRss = process.memoryUsage.rss();
        return stats();
      },
    },
    async () => {
      clearInterval(sampler);
      await relay.close('stress suite done');
    },
  );
  emitToParent('ready', { pid: process.pid, ports: relay.ports, plain: config.plain !== false, tls: config.tls !== undefined });
}

await main();
