/**
 * The relay under test (issue 4): `startRelay()` — the `ircsock relay` demo
 * server, full IRC semantics (registration, channels, casemapping, tags for
 * those who asked) — in its own process, on 127.0.0.1 with an ephemeral port.
 *
 * Flood control is off (the benchmark measures the relay, not its fakelag);
 * the idle timer is on but long (`--idle MS`, default 600 s), so every
 * connection carries its timer as in real use and no PING comes during a run.
 * Limits are the backend's defaults (1 MiB SendQ). It answers the harness's
 * `stats`/`gc` requests with its own `process.cpuUsage()` and memory.
 *
 * Admission keeps its default `maxTotal` (10,000 connections): the idle step
 * opens at most that many.
 */
import { startRelay } from '../../src/cli/relay/server.js';
import { runServer } from './harness.js';

const idleArg = process.argv.indexOf('--idle');
const idle = idleArg >= 0 ? Number(process.argv[idleArg + 1]) : 600_000;
if (!Number.isFinite(idle) || idle < 0) throw new Error(`--idle MS, not ${String(process.argv[idleArg + 1])}`);

await runServer(async () => {
  const relay = await startRelay({
    listen: [{ host: '127.0.0.1', port: 0 }],
    name: 'bench.relay',
    idle,
    flood: false,
    limits: {},
  });
  return {
    port: relay.ports[0] as number,
    connections: () => relay.clientCount,
    close: () => relay.close('benchmark over'),
  };
});
