/**
 * The relay: a Backend, its listeners, and the wiring from backend events to
 * the command handlers. `startRelay` runs it in-process (tests, benchmark);
 * `run.ts` wraps it as the `ircsock relay` command.
 */
import type { ChildProcess } from 'node:child_process';
import {
  Backend,
  casefold,
  handOff,
  type HandoffReceiver,
  type HandoffResult,
  type InheritedKind,
  type AdmissionOptions,
  type ClientTlsOptions,
  type Connection,
  type ConnectionRefusal,
  type FloodOptions,
  type Limits,
  type Listener,
  type ListenerOptions,
  type TokenBucketOptions,
} from '../../index.js';
import { startDialer, type Dialer, type LinkSpec } from './link/dialer.js';
import { Network } from './link/network.js';
import { dispatch } from './commands.js';
import { RelayContext } from './context.js';
import { Client, RelayState } from './state.js';
import { forgetMoved, restoreChannels, restoreClient, serializeChannels, serializeClient } from './handoff.js';
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
  /** Servers to link to (outgoing links, dialled again whenever they drop). Needs `linkPassword`. */
  links?: readonly LinkSpec[];
  /** Server names allowed to link in on the relay's listeners. Needs `linkPassword`. */
  acceptLinks?: readonly string[];
  /** The link password, both ways (ngIRCd's `MyPassword` and `PeerPassword`, set equal). */
  linkPassword?: string;
  /** TLS for outgoing links: true (system CAs, host name checked) or Node's `tls.ConnectionOptions` (`ca`, `servername`, ...). */
  linkTls?: boolean | ClientTlsOptions;
  /** Offer zlib on links (ngIRCd's `Z`); used when the peer offers it too. Default true. */
  linkCompress?: boolean;
  /** Lines a second a peer server may send after a burst of `burst`; past that it is dropped (`Excess Flood`). False: no bound. */
  linkFlood?: TokenBucketOptions | false;
  /** Milliseconds between attempts of an outgoing link: from `min`, doubling to `max`. Default 2 000 to 60 000. */
  linkRetry?: { min: number; max: number };
  /** The SERVER info text. Default `ircsock relay`. */
  info?: string;
  /**
   * Listening sockets from systemd (`listenFds()`), by name: served instead
   * of every listener option. `irc` (or any other name) is plain IRC, `ircs`
   * and `tls` TLS, `ws` WebSocket, `wss` WebSocket over TLS.
   */
  fds?: ReadonlyMap<string, readonly number[]>;
  /** This process is a successor: serve the predecessor's listeners and clients instead of binding. */
  handoff?: HandoffReceiver;
  /** After a hand-off, how long (ms) the links that stayed are served before they are closed. Default 60 000. */
  drainTimeout?: number;
}

export type { LinkSpec };

/** A peer may burst 50 000 lines, then send 10 000 a second: far past any burst or chat, short of a flood. */
export const DEFAULT_LINK_FLOOD: Readonly<TokenBucketOptions> = Object.freeze({ rate: 10_000, burst: 50_000 });
export const DEFAULT_LINK_RETRY = Object.freeze({ min: 2_000, max: 60_000 });

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
  /**
   * Hands listeners and plain clients to `child` (forked with
   * `IRCSOCK_HANDOFF=1`, running the relay). Clients that stay (TLS,
   * WebSocket, compressed) get a NOTICE to reconnect and are served until
   * they leave or `drainTimeout`; `drained` settles then.
   */
  handOff(child: ChildProcess): Promise<{ result: HandoffResult; drained: Promise<void> }>;
}

export const DEFAULT_ENDPOINT: Readonly<Endpoint> = Object.freeze({ host: '127.0.0.1', port: 6667 });
/** The WebSocket listener (and web page) opened beside `DEFAULT_ENDPOINT` when no listener is given. */
export const DEFAULT_WS_ENDPOINT: Readonly<Endpoint> = Object.freeze({ host: '127.0.0.1', port: 8067 });
export const DEFAULT_IDLE = 120_000;
export const DEFAULT_DRAIN = 60_000;

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
  const inheritedKinds: InheritedKind[] = opts.handoff !== undefined
    ? [...opts.handoff.listeners.values()].map((l) => l.kind)
    : [...(opts.fds?.keys() ?? [])].map(fdKind);
  const secure =
    tlsListen.length > 0 || proxyTlsListen.length > 0 || wssListen.length > 0 || inheritedKinds.some((k) => k === 'tls' || k === 'wss');
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
  const links = opts.links ?? [];
  const acceptLinks = opts.acceptLinks ?? [];
  const linked = links.length + acceptLinks.length > 0;
  if (linked && (opts.linkPassword === undefined || opts.linkPassword === '' || /\s/.test(opts.linkPassword))) {
    throw new Error('server links need linkPassword (one word)');
  }
  const network = linked
    ? new Network(ctx, {
        password: opts.linkPassword as string,
        accept: new Set(acceptLinks.map((n) => casefold(n))),
        compress: opts.linkCompress ?? true,
        flood: opts.linkFlood ?? DEFAULT_LINK_FLOOD,
        info: opts.info ?? 'ircsock relay',
      })
    : undefined;
  ctx.network = network;
  wire(ctx, network);

  const listeners: Listener[] = [];
  const common: ListenerOptions = { idle, flood: opts.flood ?? false, admission: opts.admission };
  // `true` is the backend's default, loopback only.
  const proxy = opts.proxyFrom === undefined ? true : { from: opts.proxyFrom };
  const open = async (o: ListenerOptions): Promise<void> => {
    listeners.push(await backend.createListener({ ...common, ...o }));
  };
  const page = { onRequest: createPageHandler() };
  const byKind = (kind: InheritedKind): ListenerOptions =>
    kind === 'tls' ? { tls: true } : kind === 'ws' ? { websocket: page } : kind === 'wss' ? { websocket: page, tls: true } : {};
  try {
    if (opts.handoff !== undefined || (opts.fds !== undefined && opts.fds.size > 0)) {
      // Inherited sockets replace every listener option: they are what the operator bound.
      for (const inh of opts.handoff?.listeners.values() ?? []) await open({ ...byKind(inh.kind), ...(inh.proxy ? { proxy } : {}), inherit: inh });
      for (const [name, fds] of opts.fds ?? []) for (const fd of fds) await open({ ...byKind(fdKind(name)), fd });
      return await finish();
    }
    for (const ep of listen) await open({ addr: ep.host, port: ep.port });
    for (const ep of tlsListen) await open({ addr: ep.host, port: ep.port, tls: true });
    for (const path of unixListen) await open({ path, mode: opts.unixMode });
    for (const ep of proxyListen) await open({ addr: ep.host, port: ep.port, proxy });
    for (const ep of proxyTlsListen) await open({ addr: ep.host, port: ep.port, proxy, tls: true });
    if (wsListen.length + wssListen.length > 0) {
      // Plain HTTP requests to a WebSocket listener get the chat page.
      const websocket = page;
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
  return finish();

  // The rest, once the listeners are open (or inherited).
  async function finish(): Promise<Relay> {
    if (opts.handoff !== undefined) {
      backend.on('connectionAdopted', (conn, data) => {
        restoreClient(ctx, conn, data);
      });
      await opts.handoff.adopt(backend, {
        state: (data) => {
          restoreChannels(ctx.state, data);
        },
      });
    }
    const dialers: Dialer[] = [];
    if (network !== undefined) {
      for (const spec of links) {
        dialers.push(
          startDialer(backend, spec, {
            tls: opts.linkTls,
            idle,
            retry: opts.linkRetry ?? DEFAULT_LINK_RETRY,
            log,
            open: (conn, name) => network.outgoing(conn, name),
          }),
        );
      }
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
        for (const d of dialers) d.stop();
        closing ??= shutdown(ctx, reason);
        return closing;
      },
      async handOff(child) {
        const result = await handOff(backend, child, {
          serialize: (conn) => serializeClient(ctx.state, conn),
          state: () => serializeChannels(ctx.state),
          // Server links are not carried over: they leave now, and link again to the successor.
          keep: (conn) => conn.isPeer,
        });
        forgetMoved(ctx.state, new Set(result.staying));
        for (const d of dialers) d.stop();
        for (const conn of result.staying) if (conn.isPeer) backend.disconnect(conn, 'Server restarting');
        return { result, drained: drainStaying(ctx, result.staying, opts.drainTimeout ?? DEFAULT_DRAIN) };
      },
    };
  }
}

/** Serves the links that could not move until they leave or `timeout` passes, then closes the rest. */
function drainStaying(ctx: RelayContext, staying: readonly Connection[], timeout: number): Promise<void> {
  const { backend, config } = ctx;
  for (const conn of staying) {
    const client = ctx.state.clients.get(conn.id);
    if (client === undefined) continue;
    ctx.sendTo(client, {
      source: config.name,
      command: 'NOTICE',
      params: [client.target, 'This server is restarting: please reconnect to carry on with the new one'],
    });
  }
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      backend.off('disconnect', check);
      void shutdown(ctx, 'Server restarting').then(resolve);
    };
    const check = (): void => {
      if (backend.connections.size === 0) done();
    };
    const timer = setTimeout(done, timeout);
    backend.on('disconnect', check);
    check();
  });
}

/** What systemd's FileDescriptorName asks for. */
function fdKind(name: string): InheritedKind {
  switch (name) {
    case 'ircs':
    case 'tls':
      return 'tls';
    case 'ws':
      return 'ws';
    case 'wss':
      return 'wss';
    default:
      return 'tcp';
  }
}

async function shutdown(ctx: RelayContext, reason: string): Promise<void> {
  const { backend, state } = ctx;
  const conns = [...backend.connections.values()];
  // One line for everyone, formatted once; no QUITs: every peer is leaving too.
  if (conns.length > 0) backend.send({ command: 'ERROR', params: [`Closing link (${ctx.config.name}) [${reason}]`] }, ...conns);
  for (const client of [...state.clients.values()]) state.remove(client);
  await backend.shutdown(reason);
}

function wire(ctx: RelayContext, network: Network | undefined): void {
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
    const link = conn.isPeer ? network?.linkOf(conn) : undefined;
    if (link !== undefined && network !== undefined) {
      try {
        network.input(link, msg);
      } catch (err) {
        log(`error on link #${conn.id} ${msg.command}: ${err instanceof Error ? err.message : String(err)}`);
      }
      return;
    }
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
    const link = conn.isPeer ? network?.linkOf(conn) : undefined;
    if (link !== undefined) {
      network?.idle(link);
      return;
    }
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
    if (conn.isPeer && network?.lost(conn, reason) === true) return;
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
