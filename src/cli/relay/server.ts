/**
 * The relay: a Backend, its listeners, and the wiring from backend events to
 * the command handlers. `startRelay` runs it in-process (tests, benchmark);
 * `run.ts` wraps it as the `ircsock relay` command.
 */
import {
  Backend,
  type AdmissionOptions,
  type Connection,
  type ConnectionRefusal,
  type FloodOptions,
  type Limits,
  type Listener,
  type ListenerOptions,
} from '../../index.js';
import { dispatch } from './commands.js';
import { RelayContext } from './context.js';
import { Client, RelayState } from './state.js';
import { createPageHandler } from './web.js';

export interface Endpoint {
  host: string;
  port: number;
}

export interface RelayOptions {
  /**
   * Plain TCP endpoints. With no listener of any kind given, the relay opens
   * 127.0.0.1:6667 here and 127.0.0.1:8067 for WebSocket (`wsListen`).
   */
  listen?: readonly Endpoint[];
  /** TLS endpoints; they need `tlsCert` and `tlsKey`. */
  tlsListen?: readonly Endpoint[];
  /** Unix-domain socket paths (plain). Their clients have no IP: their host is `localhost`. */
  unixListen?: readonly string[];
  /** The mode of every `unixListen` socket file, e.g. `0o660`. Default: what the umask gives. */
  unixMode?: number;
  /** Plain TCP endpoints that require a PROXY protocol header (v1 or v2) from a trusted proxy first. */
  proxyListen?: readonly Endpoint[];
  /** As `proxyListen`, with TLS after the header; they need `tlsCert` and `tlsKey`. */
  proxyTlsListen?: readonly Endpoint[];
  /** Addresses or CIDR blocks the PROXY listeners take headers from. Default: loopback only. */
  proxyFrom?: readonly string[];
  /**
   * WebSocket endpoints (IRCv3 WebSocket, plain HTTP). They also serve the
   * web chat page at `/`. Default: 127.0.0.1:8067 when no listener of any
   * kind is given.
   */
  wsListen?: readonly Endpoint[];
  /** As `wsListen`, over TLS (https and wss://); they need `tlsCert` and `tlsKey`. */
  wssListen?: readonly Endpoint[];
  /** Certificate and key: file paths or PEM text. */
  tlsCert?: string;
  tlsKey?: string;
  /** More certificates by server name (SNI): exact names or `*.example.net`. */
  tlsSni?: readonly { name: string; cert: string; key: string }[];
  /** Reload the certificates when their files change on disk. Default true when they are files. */
  tlsWatch?: boolean;
  /** Milliseconds the file watch waits for a renewal to settle. Default 1000. */
  tlsWatchDebounce?: number;
  /** Advertise IRCv3 STS for this many seconds (needs a TLS listener; 0 withdraws the policy). */
  stsDuration?: number;
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
  /**
   * In the order given within each kind: plain endpoints first, then TLS,
   * Unix, PROXY, PROXY+TLS, WebSocket and WebSocket+TLS ones.
   */
  readonly listeners: readonly Listener[];
  /** The bound ports, as `listeners` (port 0 resolved; 0 for a Unix socket). */
  readonly ports: readonly number[];
  /** Clients currently connected (registered or not). */
  readonly clientCount: number;
  /** Sends every client `ERROR :Closing link (...)`, then shuts the backend down once queues drain. */
  close(reason?: string): Promise<void>;
}

export const DEFAULT_ENDPOINT: Readonly<Endpoint> = Object.freeze({ host: '127.0.0.1', port: 6667 });
/** The WebSocket listener (and web page) opened beside `DEFAULT_ENDPOINT` when no listener is given. */
export const DEFAULT_WS_ENDPOINT: Readonly<Endpoint> = Object.freeze({ host: '127.0.0.1', port: 8067 });
export const DEFAULT_IDLE = 120_000;

export async function startRelay(opts: RelayOptions = {}): Promise<Relay> {
  const tlsListen = opts.tlsListen ?? [];
  const unixListen = opts.unixListen ?? [];
  const proxyListen = opts.proxyListen ?? [];
  const proxyTlsListen = opts.proxyTlsListen ?? [];
  const wssListen = opts.wssListen ?? [];
  const kinds = [opts.listen, tlsListen, unixListen, proxyListen, proxyTlsListen, opts.wsListen, wssListen];
  // No listener at all: what `npm start` opens, IRC clients on 6667 and browsers on 8067.
  const none = kinds.every((l) => l === undefined || l.length === 0);
  const listen = opts.listen ?? (none ? [DEFAULT_ENDPOINT] : []);
  const wsListen = opts.wsListen ?? (none ? [DEFAULT_WS_ENDPOINT] : []);
  const secure = tlsListen.length > 0 || proxyTlsListen.length > 0 || wssListen.length > 0;
  if (secure && (opts.tlsCert === undefined || opts.tlsKey === undefined)) {
    throw new Error('a TLS listener needs tlsCert and tlsKey');
  }
  if (opts.unixMode !== undefined && unixListen.length === 0) throw new Error('unixMode goes with unixListen');
  if (opts.proxyFrom !== undefined && proxyListen.length + proxyTlsListen.length === 0) {
    throw new Error('proxyFrom goes with proxyListen or proxyTlsListen');
  }
  if (opts.stsDuration !== undefined && tlsListen.length === 0) throw new Error('stsDuration needs a TLS listener (tlsListen)');
  const sni = Object.fromEntries((opts.tlsSni ?? []).map((e) => [e.name, { cert: e.cert, key: e.key }]));
  const backend = new Backend({
    limits: opts.limits,
    tls: secure
      ? {
          cert: opts.tlsCert,
          key: opts.tlsKey,
          ...(opts.tlsSni === undefined ? {} : { sni }),
          ...(opts.tlsWatch === false ? {} : { watch: { debounce: opts.tlsWatchDebounce ?? 1_000 } }),
        }
      : undefined,
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
  const common: ListenerOptions = { idle, flood: opts.flood ?? false, admission: opts.admission };
  // `true` is the backend's default, loopback only.
  const proxy = opts.proxyFrom === undefined ? true : { from: opts.proxyFrom };
  const open = async (o: ListenerOptions): Promise<void> => {
    listeners.push(await backend.createListener({ ...common, ...o }));
  };
  try {
    for (const ep of listen) await open({ addr: ep.host, port: ep.port });
    for (const ep of tlsListen) await open({ addr: ep.host, port: ep.port, tls: true });
    for (const path of unixListen) await open({ path, mode: opts.unixMode });
    for (const ep of proxyListen) await open({ addr: ep.host, port: ep.port, proxy });
    for (const ep of proxyTlsListen) await open({ addr: ep.host, port: ep.port, proxy, tls: true });
    if (wsListen.length + wssListen.length > 0) {
      // Plain HTTP requests to a WebSocket listener get the chat page.
      const websocket = { onRequest: createPageHandler() };
      for (const ep of wsListen) await open({ addr: ep.host, port: ep.port, websocket });
      for (const ep of wssListen) await open({ addr: ep.host, port: ep.port, websocket, tls: true });
    }
  } catch (err) {
    await backend.shutdown();
    throw err;
  }
  if (opts.stsDuration !== undefined) {
    const tlsPort = listeners.find((l) => l.kind === 'tls' && !l.proxy)?.port;
    ctx.config.sts = { port: tlsPort, duration: opts.stsDuration };
  }
  // Only now: a failure to bind is the caller's error (the rejection), not a log line.
  backend.on('listenerFailure', (listener, err) => {
    log(`listener ${describeListener(listener)}: ${err.message}`);
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
    log(`connect #${conn.id} from ${describePeer(conn)} on ${describeListener(listener)}`);
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
    log(`disconnect #${conn.id}${who} from ${describePeer(conn)}: ${reason}`);
  });

  backend.on('tlsClientError', (listener, err, peer) => {
    // OpenSSL's messages end with a newline: one log record, one line.
    const why = err.message.trim().replace(/\s*\n\s*/g, ' ');
    log(`tls handshake failed from ${endpoint(peer.addr ?? '?', peer.port ?? 0)} on ${describeListener(listener)}: ${why}`);
  });

  backend.on('tlsReload', (info) => {
    const certs = info.certificates.map((c) => `${c.name === '' ? 'default' : c.name} sha256:${c.sha256} (${c.subject}, until ${c.validTo})`);
    const whose = info.listener === undefined ? '' : ` on ${describeListener(info.listener)}`;
    log(`tls reloaded (${info.trigger})${whose} in ${info.ms.toFixed(1)} ms: ${certs.join('; ')}`);
  });

  backend.on('tlsReloadFailure', (err, listener) => {
    const whose = listener === undefined ? '' : ` on ${describeListener(listener)}`;
    log(`tls reload failed${whose}: ${err.message.trim().replace(/\s*\n\s*/g, ' ')} (${err.code})`);
  });

  backend.on('connectionRefused', (refusal) => {
    log(`refused ${describeRefused(refusal)} on ${describeListener(refusal.listener)}: ${refusal.reason} (${refusal.code})`);
  });

}

export function endpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * A listener as the log writes it: `127.0.0.1:6667`, `127.0.0.1:6697 (tls)`,
 * `unix:/run/ircsock.sock`, `127.0.0.1:7000 (proxy)`, `127.0.0.1:7001 (proxy, tls)`,
 * `127.0.0.1:8067 (ws)`, `127.0.0.1:8097 (wss)`.
 */
export function describeListener(l: Listener): string {
  const where = l.path !== undefined ? `unix:${l.path}` : endpoint(l.addr, l.port);
  const transport = l.kind === 'ws' || l.kind === 'wss' ? l.kind : l.tls ? 'tls' : '';
  const traits = [l.proxy ? 'proxy' : '', transport].filter((t) => t !== '');
  return traits.length === 0 ? where : `${where} (${traits.join(', ')})`;
}

/**
 * The client as the log writes it: its real address (the one a PROXY header
 * named) and, behind a proxy, `via` the proxy's own endpoint; `localhost` for
 * a peer on a Unix socket, which has no address.
 */
export function describePeer(conn: Connection): string {
  const who = endpointText(conn.peer);
  const proxy = conn.proxy;
  if (proxy === undefined) return who;
  const via = endpointText(proxy.peer);
  // A LOCAL header (a health check) names nobody: the proxy is the peer.
  return via === who ? who : `${who} via ${via}`;
}

function describeRefused(r: ConnectionRefusal): string {
  return r.addr === '' ? 'localhost' : endpoint(r.addr, r.port);
}

function endpointText(e: Connection['peer']): string {
  return 'address' in e ? endpoint(e.address, e.port) : 'localhost';
}

function noop(): void {
  // No log wanted.
}
