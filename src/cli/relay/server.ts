/**
 * The relay: a Backend, its listeners, and the wiring from backend events to
 * the command handlers. `startRelay` runs it in-process (tests, benchmark);
 * `run.ts` wraps it as the `ircsock relay` command.
 */
import { Backend, type AdmissionOptions, type Connection, type FloodOptions, type Limits, type Listener } from '../../index.js';
import { dispatch } from './commands.js';
import { RelayContext } from './context.js';
import { Client, RelayState } from './state.js';

export interface Endpoint {
  host: string;
  port: number;
}

export interface RelayOptions {
  /** Plain TCP endpoints. Default: 127.0.0.1:6667, unless `tlsListen` is given. */
  listen?: readonly Endpoint[];
  /** TLS endpoints; they need `tlsCert` and `tlsKey`. */
  tlsListen?: readonly Endpoint[];
  /** Certificate and key: file paths or PEM text. */
  tlsCert?: string;
  tlsKey?: string;
  /** Server name, the source of numerics. Default `ircsock.relay`. */
  name?: string;
  /** `NETWORK=` in 005. Default `ircsock`. */
  network?: string;
  /** Milliseconds of silence before the relay PINGs a client; as long again without answer drops it. Default 120 000; 0: never. */
  idle?: number;
  /** Connection limits for the backend (SendQ, line length, ...). */
  limits?: Partial<Limits>;
  /**
   * Per-client flood control (fakelag, then `Excess Flood`). Default off here,
   * so tests and benchmarks see the relay's own speed; the CLI turns it on.
   */
  flood?: FloodOptions | false;
  /** Admission control of every listener (see `ListenerOptions.admission`). Default: the backend's defaults. */
  admission?: AdmissionOptions | false;
  /** Where the one-line connect/disconnect records go. Default: nowhere. */
  log?: (line: string) => void;
}

export interface Relay {
  readonly backend: Backend;
  /** In the order given: plain endpoints first, then TLS ones. */
  readonly listeners: readonly Listener[];
  /** The bound ports, as `listeners` (port 0 resolved). */
  readonly ports: readonly number[];
  /** Clients currently connected (registered or not). */
  readonly clientCount: number;
  /** Sends every client `ERROR :Closing link (...)`, then shuts the backend down once queues drain. */
  close(reason?: string): Promise<void>;
}

export const DEFAULT_ENDPOINT: Readonly<Endpoint> = Object.freeze({ host: '127.0.0.1', port: 6667 });
export const DEFAULT_IDLE = 120_000;

export async function startRelay(opts: RelayOptions = {}): Promise<Relay> {
  const tlsListen = opts.tlsListen ?? [];
  const listen = opts.listen ?? (tlsListen.length > 0 ? [] : [DEFAULT_ENDPOINT]);
  const secure = tlsListen.length > 0;
  if (secure && (opts.tlsCert === undefined || opts.tlsKey === undefined)) {
    throw new Error('a TLS listener needs tlsCert and tlsKey');
  }
  const backend = new Backend({
    limits: opts.limits,
    tls: secure ? { cert: opts.tlsCert, key: opts.tlsKey } : undefined,
  });
  const log = opts.log ?? noop;
  const idle = opts.idle ?? DEFAULT_IDLE;
  const ctx = new RelayContext(backend, new RelayState(), {
    name: opts.name ?? 'ircsock.relay',
    network: opts.network ?? 'ircsock',
    idle,
    log,
  });
  wire(ctx);

  const listeners: Listener[] = [];
  const flood = opts.flood ?? false;
  const admission = opts.admission;
  try {
    for (const ep of listen) listeners.push(await backend.createListener({ addr: ep.host, port: ep.port, idle, flood, admission }));
    for (const ep of tlsListen) {
      listeners.push(await backend.createListener({ addr: ep.host, port: ep.port, idle, flood, admission, tls: true }));
    }
  } catch (err) {
    await backend.shutdown();
    throw err;
  }
  // Only now: a failure to bind is the caller's error (the rejection), not a log line.
  backend.on('listenerFailure', (listener, err) => {
    log(`listener ${endpoint(listener.addr, listener.port)}: ${err.message}`);
  });

  let closing: Promise<void> | undefined;
  return {
    backend,
    listeners,
    ports: listeners.map((l) => l.port),
    get clientCount() {
      return ctx.state.clients.size;
    },
    close(reason = 'Server shutting down') {
      closing ??= shutdown(ctx, reason);
      return closing;
    },
  };
}

async function shutdown(ctx: RelayContext, reason: string): Promise<void> {
  const { backend, state } = ctx;
  const conns = [...backend.connections.values()];
  // One line for everyone, formatted once; no QUITs: every peer is leaving too.
  if (conns.length > 0) backend.send({ command: 'ERROR', params: [`Closing link (${ctx.config.name}) [${reason}]`] }, ...conns);
  for (const client of [...state.clients.values()]) state.remove(client);
  await backend.shutdown(reason);
}

function wire(ctx: RelayContext): void {
  const { backend, state, config } = ctx;
  const { log } = config;
  const clientOf = (conn: Connection): Client | undefined => {
    const client = state.clients.get(conn.id);
    return client?.removed === false ? client : undefined;
  };

  backend.on('listenerOpen', (conn, listener) => {
    conn.isClient = true;
    state.clients.set(conn.id, new Client(conn));
    log(`connect #${conn.id} from ${endpoint(conn.peerAddr, conn.peerPort)} on ${endpoint(listener.addr, listener.port)}${listener.tls ? ' (tls)' : ''}`);
  });

  backend.on('input', (conn, msg) => {
    const client = clientOf(conn);
    if (client === undefined) return; // It sent QUIT; what trails it is dropped.
    // Any line proves the client alive, not only a PONG.
    conn.pingPending = false;
    try {
      dispatch(ctx, client, msg);
    } catch (err) {
      // A bug in one handler must cost one line, never the relay.
      log(`error #${conn.id} ${msg.command}: ${err instanceof Error ? err.message : String(err)}`);
    }
  });

  backend.on('inputError', (conn, err) => {
    const client = clientOf(conn);
    // Over-long lines get 417 (IRCv3 message-tags); an unparsable one is ignored, as ircds do.
    if (client !== undefined && err.code === 'ERR_LINE_TOO_LONG') ctx.reply(client, '417', 'Input line was too long');
  });

  backend.on('connectionIdle', (conn) => {
    const client = clientOf(conn);
    if (client === undefined) return;
    if (conn.pingPending) {
      ctx.closeLink(client, `Ping timeout: ${Math.round((Date.now() - conn.seen) / 1000)} seconds`);
      return;
    }
    conn.pingPending = true;
    ctx.sendTo(client, { command: 'PING', params: [config.name] });
  });

  backend.on('disconnect', (conn, reason) => {
    const client = state.clients.get(conn.id);
    const who = client?.nick === undefined ? '' : ` ${client.nick}`;
    if (client !== undefined) ctx.relayQuit(client, reason);
    state.clients.delete(conn.id);
    log(`disconnect #${conn.id}${who} from ${endpoint(conn.peerAddr, conn.peerPort)}: ${reason}`);
  });

  backend.on('tlsClientError', (listener, err, peer) => {
    // OpenSSL's messages end with a newline: one log record, one line.
    const why = err.message.trim().replace(/\s*\n\s*/g, ' ');
    log(`tls handshake failed from ${endpoint(peer.addr ?? '?', peer.port ?? 0)} on ${endpoint(listener.addr, listener.port)} (tls): ${why}`);
  });

}

export function endpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function noop(): void {
  // No log wanted.
}
