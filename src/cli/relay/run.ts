/** The `ircsock relay` command: parse, start, log, stop on SIGINT/SIGTERM. */
import { fork } from 'node:child_process';
import { parseRelayArgs, RELAY_USAGE } from './options.js';
import { isHandoffSuccessor, listenFds, notify, receiveHandoff, type HandoffReceiver, type Listener } from '../../index.js';
import { describeListener, endpoint, startRelay, type Relay } from './server.js';

// Clients that do not take their last lines within this are cut off, so a signal ends the process in seconds.
const DRAIN_GRACE = 3_000;

/** Runs the relay until a signal stops it; resolves with the exit code. */
export async function runRelay(argv: readonly string[]): Promise<number> {
  const args = parseRelayArgs(argv);
  if (args.kind === 'help') {
    process.stdout.write(RELAY_USAGE);
    return 0;
  }
  if (args.kind === 'error') {
    process.stderr.write(`ircsock relay: ${args.message} (see ircsock relay --help)\n`);
    return 2;
  }

  let relay: Relay;
  // Taken at once, and out of the environment, so a successor we fork does not see them.
  const fds = listenFds();
  let handoff: HandoffReceiver | undefined;
  try {
    if (isHandoffSuccessor()) handoff = await receiveHandoff();
    relay = await startRelay({ ...args.options, fds, handoff, log });
  } catch (err) {
    process.stderr.write(`ircsock relay: ${describe(err)}\n`);
    return 1;
  }
  // One line naming every listener, port 0 resolved: scripts and tests read it to find the relay.
  log(`listening on ${relay.listeners.map(describeListener).join(', ')}`);
  // The fingerprint operators pin (server links, bouncers) and compare after a renewal.
  const served = relay.listeners.find((l) => l.tls)?.tlsCertificates ?? [];
  if (served.length > 0) log(`tls certificates: ${served.map((c) => `${c.name === '' ? 'default' : c.name} sha256:${c.sha256} (until ${c.validTo})`).join('; ')}`);
  const pages = relay.listeners.filter((l) => l.kind === 'ws' || l.kind === 'wss').map(pageUrl);
  if (pages.length > 0) log(`web chat page: ${pages.join(', ')}`);
  if (handoff !== undefined) log(`took over from pid ${process.ppid}: ${relay.clientCount} clients`);
  void notify({ READY: 1, STATUS: `serving ${relay.clientCount} clients` });
  return stopOnSignal(relay, argv);
}

function stopOnSignal(relay: Relay, argv: readonly string[]): Promise<number> {
  let stopHangup = noop;
  return new Promise((resolve) => {
    let guard: NodeJS.Timeout | undefined;
    let handingOff = false;
    // After a hand-off the service goes on in the successor: no STOPPING=1 from here.
    let handedOver = false;
    // Kept until the end: SIGUSR2 with no handler would kill the process, and the clients it still serves.
    const onHandoff = (): void => {
      if (handingOff || guard !== undefined) return;
      handingOff = true;
      // The installed code: the entry this process was started from, run by the same node.
      const entry = process.argv[1] as string;
      const child = fork(entry, ['relay', ...argv], { env: { ...process.env, IRCSOCK_HANDOFF: '1' }, stdio: 'inherit' });
      child.once('error', () => {
        // Reported by handOff() as the successor gone.
      });
      relay.handOff(child).then(
        ({ result, drained }) => {
          log(
            `hand-off to pid ${child.pid ?? '?'}: ${result.moved} moved, ${result.staying.length} draining, ${result.listeners} listeners, ${result.elapsed.toFixed(1)} ms`,
          );
          handedOver = true;
          void notify({ MAINPID: child.pid ?? 0, STATUS: 'handed over' });
          void drained.then(() => {
            process.off('SIGINT', onSignal);
            process.off('SIGTERM', onSignal);
            process.off('SIGUSR2', onHandoff);
            stopHangup();
            log('drained; exiting');
            if (child.connected) child.disconnect();
            child.unref();
            resolve(0);
          });
        },
        (err: unknown) => {
          handingOff = false;
          log(`hand-off failed: ${describe(err)}; still serving ${relay.clientCount} clients`);
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        },
      );
    };
    process.on('SIGUSR2', onHandoff);
    const cutOff = (): void => {
      for (const conn of [...relay.backend.connections.values()]) relay.backend.disconnectNow(conn, 'Server shutting down');
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      if (guard !== undefined) {
        // A second signal: the operator is not waiting for slow readers.
        cutOff();
        return;
      }
      log(`${signal}: closing every link`);
      if (!handedOver) void notify({ STOPPING: 1 });
      guard = setTimeout(cutOff, DRAIN_GRACE);
      void relay.close().then(() => {
        clearTimeout(guard);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        process.off('SIGUSR2', onHandoff);
        stopHangup();
        log('stopped');
        resolve(0);
      });
    };
    // SIGHUP: read the certificates again (a renewal hook's `kill -HUP`); the events log the outcome.
    const onHangup = (): void => {
      void relay.backend.reloadTls().then(
        (infos) => {
          if (infos.length === 0) log('SIGHUP: no TLS certificates to reload');
        },
        noop,
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onHangup);
    stopHangup = () => process.off('SIGHUP', onHangup);
  });
}

/** Where a browser finds the page of a WebSocket listener; a wildcard address is reached as localhost. */
function pageUrl(l: Listener): string {
  const host = l.addr === '0.0.0.0' || l.addr === '::' || l.addr === '' ? 'localhost' : l.addr;
  return `${l.kind === 'wss' ? 'https' : 'http'}://${endpoint(host, l.port)}/`;
}

function noop(): void {
  // The failure was logged by the tlsReloadFailure handler.
}

function log(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e.syscall === 'listen' && e.address !== undefined) {
    // A Unix socket's error names its path, with no port (or -1).
    if (e.port === undefined || e.port < 0) {
      // A stale socket is replaced and a live one reported before the bind: what is left is some other file.
      const hint = e.code === 'EADDRINUSE' ? ' (a file that is not a socket is in the way)' : '';
      return `cannot listen on unix:${e.address}: ${e.code ?? e.message}${hint}`;
    }
    return `cannot listen on ${endpoint(e.address, e.port)}: ${e.code ?? e.message}`;
  }
  return e.message;
}
