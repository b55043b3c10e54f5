import { EventEmitter } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { Admission } from './admission/admission.js';
import { HandshakeBudget } from './admission/handshake-budget.js';
import { Connector, type ConnectorHost, type ConnectorId, type ConnectorInit } from './connect/connector.js';
import { Backoff, resolveReconnect } from './connect/reconnect.js';
import { dial, dialWebSocket } from './connect/dial.js';
import { Connection, type ConnectionHooks, type ConnectionId } from './connection/connection.js';
import { channels } from './diagnostics.js';
import { IrcArgumentError, IrcFormatError, IrcTlsError, type IrcLineTooLongError, type IrcParseError } from './errors.js';
import { encodeText } from './framing/text.js';
import { DEFAULT_LIMITS, type Limits } from './limits.js';
import { Listener, type ListenerConfig, type ListenerId } from './listen/listener.js';
import {
  checkProxy,
  checkWebSocket,
  DEFAULT_IDLE,
  LISTENER_KEYS,
  type ListenerOptions,
} from './listen/options.js';
import {
  checkAttemptDelay,
  checkFamily,
  checkSocks,
  CONNECTOR_KEYS,
  DEFAULT_CONNECT_TIMEOUT,
  type ConnectorOptions,
  type ConnectorPromise,
} from './connect/options.js';
import { InheritedListener } from './listen/inherited.js';
import { StreamTransport } from './transport/stream.js';
import type { ConnectionSnapshot } from './connection/connection.js';
import { AcceptPipeline, type ConnectionRefusal, type PipelineHost, type TlsFailurePeer } from './listen/pipeline.js';
import { formatLine, type FormatOptions } from './message/format.js';
import type { IrcMessage, IrcMessageInit } from './message/message.js';
import { checkDuration, checkFlood, checkKeys, checkPort, resolveLimits } from './options.js';
import { encodeProxyHeader } from './transport/proxy/encode.js';
import type { Transport } from './transport/transport.js';
import {
  clientTlsOptions,
  loadTlsFiles,
  planServerTls,
  SERVER_ONLY_KEYS,
  TlsAcceptor,
  TlsCredentials,
  type ClientTlsOptions,
  type ServerTlsOptions,
  type TlsCertificateFacts,
} from './transport/tls.js';
import { checkSocketMode, clearStaleSocket, setSocketMode } from './transport/unix.js';

export type { ConnectionRefusal, TlsFailurePeer } from './listen/pipeline.js';
export type { ListenerOptions, ProxyListenerOptions } from './listen/options.js';
export type { ConnectorOptions, ConnectorPromise } from './connect/options.js';

/** The events of a {@link Backend}, with their arguments. */
export interface BackendEvents {
  listenerCreated: [listener: Listener];
  listenerOpen: [conn: Connection, listener: Listener];
  /** The listener could not bind (the promise rejects too), or could not accept (it stays open). */
  listenerFailure: [listener: Listener, err: NodeJS.ErrnoException];
  listenerRemoved: [listener: Listener];
  /** A connector made a connection (a reconnecting one, again: each is a new Connection). */
  connectorOpen: [conn: Connection, connector: Connector];
  /** One attempt of a connector failed (refused, timed out, TLS rejected, SOCKS refused, ...). */
  connectorFailure: [connector: Connector, err: Error];
  /** A reconnecting connector will try again in `delay` ms, after `cause` (a failed attempt, or its connection dropped). */
  connectorRetry: [connector: Connector, delay: number, cause: Error];
  /** A connector is done for good: closed by us (`cause` undefined, or `ERR_CONNECTOR_CLOSED` mid-attempt), or it gave up after `cause`. */
  connectorClosed: [connector: Connector, cause: Error | undefined];
  input: [conn: Connection, msg: IrcMessage];
  /** A line that could not be parsed (`ERR_IRC_PARSE`) or was over the limits (`ERR_LINE_TOO_LONG`); the connection stays up. */
  inputError: [conn: Connection, err: IrcParseError | IrcLineTooLongError];
  /** Fired exactly once per connection, however it ended; `err` is the cause when there was one. */
  disconnect: [conn: Connection, reason: string, err: Error | undefined];
  connectionIdle: [conn: Connection];
  /** The write queue passed `limits.sendQHighWater`; fires again only after it fell below half of it. */
  sendQueueHigh: [conn: Connection, queuedBytes: number];
  /** After `sendQueueHigh`, the queue fell below half the high-water mark: the peer is reading again. */
  sendQueueLow: [conn: Connection, queuedBytes: number];
  compressed: [conn: Connection];
  /** A listener turned a peer away (admission limits, lists, or its `check` hook); no connection was made. */
  connectionRefused: [refusal: ConnectionRefusal];
  /** A TLS handshake on a listener failed; no connection was made. */
  tlsClientError: [listener: Listener, err: Error, peer: TlsFailurePeer];
  /**
   * A connection taken over from a predecessor process (a hand-off), with what
   * the predecessor's `serialize(conn)` gave for it. Its input is dispatched
   * once the whole hand-off is done; restore the application's state here.
   */
  connectionAdopted: [conn: Connection, data: unknown];
  /** New certificates are in use (by `reloadTls()` or the file watch); established connections kept theirs. */
  tlsReload: [info: TlsReloadInfo];
  /** A reload failed (`ERR_TLS_RELOAD`, `err.file` names the file): the old certificates stay in use. */
  tlsReloadFailure: [err: IrcTlsError, listener: Listener | undefined];
}

/** What a TLS reload swapped in. */
export interface TlsReloadInfo {
  /** The listener whose own context it was; `undefined` for the backend's (shared by `tls: true` listeners). */
  listener: Listener | undefined;
  /** `api`: `reloadTls()`; `watch`: the files changed on disk. */
  trigger: 'api' | 'watch';
  /** The certificates now served: the default (`name: ''`) and each SNI entry. */
  certificates: readonly TlsCertificateFacts[];
  /** Milliseconds to read and build everything. */
  ms: number;
}

/**
 * Key and certificate: PEM text, Buffers, or file paths, in Node's own option
 * names; plus `sni` (more certificates by server name), `watch` (reload when
 * the files change) and `clientCert` (request, require or verify client
 * certificates). The minimum TLS version is 1.2 unless `minVersion` says otherwise.
 */
export type BackendTlsOptions = ServerTlsOptions;

export interface BackendOptions {
  /** Always write the last parameter with a `:`. Default false: only when it needs one. */
  colonify?: boolean;
  /** The TLS context of `tls: true` listeners: one per backend. */
  tls?: BackendTlsOptions;
  /** Defaults for every connection; listeners and connectors may override. */
  limits?: Partial<Limits>;
}

/** A target of `send`/`disconnect`: a connection or its id. */
export type ConnectionTarget = ConnectionId | Connection;

/** What `closeListener` accepts: an id, the listener, or the seed's address/port match. */
export type ListenerTarget = ListenerId | Listener | { addr: string; port?: number } | { addr?: string; port: number };

const BACKEND_KEYS = ['colonify', 'tls', 'limits'];


/**
 * The IRC socket backend: listeners, connectors and live connections, and the
 * events that tell the application about them (the seed's POEx::IRC::Backend).
 */
export class Backend extends EventEmitter<BackendEvents> {
  readonly #listeners = new Map<ListenerId, Listener>();
  readonly #connectors = new Map<ConnectorId, Connector>();
  // Every connector not yet closed, open ones included (shutdown closes them).
  readonly #liveConnectors = new Set<Connector>();
  // Connector connections the application (or shutdown) closed: they never reconnect.
  readonly #closedByUs = new WeakSet<Connection>();
  readonly #connectorHost: ConnectorHost;
  readonly #connections = new Map<ConnectionId, Connection>();
  // The accept pipelines of open listeners, and of closed ones still holding sockets.
  readonly #pipelines = new Map<Listener, AcceptPipeline>();
  #inPipelines = 0;
  readonly #formatOpts: FormatOptions;
  readonly #limits: Limits;
  readonly #tls: BackendTlsOptions | undefined;
  // The backend's context (`tls: true` listeners), and every context by who owns it (undefined: the backend).
  readonly #credentials: TlsCredentials | undefined;
  readonly #contexts = new Map<TlsCredentials, { owner: Listener | undefined }>();
  readonly #hooks: ConnectionHooks;
  readonly #pipelineHost: PipelineHost;
  #nextListenerId = 1;
  #nextConnectorId = 1;
  #nextConnectionId = 1;
  #dirty: Connection[] = [];
  #spare: Connection[] = [];
  #flushScheduled = false;
  #openServers = 0;
  #closing = false;
  // During a hand-off: sockets accepted by our listeners, unread, for the successor (or for us if it fails).
  #held: [Listener, Socket][] | undefined = undefined;
  #shutdown: Promise<void> | undefined;
  #settle: (() => void) | undefined;

  constructor(opts: BackendOptions = {}) {
    super();
    checkKeys('new Backend()', opts, BACKEND_KEYS);
    this.#formatOpts = { colonify: opts.colonify ?? false };
    this.#limits = resolveLimits('new Backend()', DEFAULT_LIMITS, opts.limits);
    this.#tls = opts.tls;
    if (opts.tls !== undefined) {
      const plan = planServerTls('new Backend()', opts.tls);
      if (plan.hasKey) this.#credentials = this.#newContext('new Backend()', plan, { owner: undefined });
    }
    this.#hooks = {
      input: (c, m) => this.emit('input', c, m),
      inputError: (c, e) => {
        if (channels.inputError.hasSubscribers) channels.inputError.publish({ connection: c, error: e });
        this.emit('inputError', c, e);
      },
      idle: (c) => this.emit('connectionIdle', c),
      sendQueueHigh: (c, n) => this.emit('sendQueueHigh', c, n),
      sendQueueLow: (c, n) => this.emit('sendQueueLow', c, n),
      compressed: (c) => this.emit('compressed', c),
      closed: (c, reason, err) => {
        this.#connections.delete(c.id);
        try {
          if (channels.close.hasSubscribers) channels.close.publish({ connection: c, reason, error: err });
          this.emit('disconnect', c, reason, err);
        } finally {
          // After 'disconnect', so the application hears of the drop before the retry.
          c.connector?.connectionClosed(c, this.#closing || this.#closedByUs.has(c), reason, err);
          this.#maybeSettled();
        }
      },
      scheduleFlush: (c) => {
        this.#dirty.push(c);
        if (!this.#flushScheduled) {
          this.#flushScheduled = true;
          setImmediate(this.#flushAll);
        }
      },
    };
    this.#connectorHost = {
      pending: (c, pending) => {
        if (pending) {
          this.#connectors.set(c.id, c);
        } else if (this.#connectors.delete(c.id)) {
          this.#maybeSettled();
        }
      },
      opened: (c, conn) => {
        if (channels.open.hasSubscribers) channels.open.publish({ connection: conn });
        this.emit('connectorOpen', conn, c);
      },
      failed: (c, err) => this.emit('connectorFailure', c, err),
      retrying: (c, delay, cause) => this.emit('connectorRetry', c, delay, cause),
      closed: (c, cause) => {
        this.#liveConnectors.delete(c);
        this.emit('connectorClosed', c, cause);
      },
      disconnect: (conn, reason) => {
        this.#closedByUs.add(conn);
        conn.disconnect(reason);
      },
      drop: (conn, reason) => {
        conn.disconnect(reason);
      },
    };
    const isClosing = (): boolean => this.#closing;
    this.#pipelineHost = {
      get closing() {
        return isClosing();
      },
      refused: (refusal) => {
        if (channels.refused.hasSubscribers) channels.refused.publish({ refusal });
        this.emit('connectionRefused', refusal);
      },
      tlsFailed: (listener, err, peer) => this.emit('tlsClientError', listener, err, peer),
      checkFailed: (listener, err) => this.emit('listenerFailure', listener, err as NodeJS.ErrnoException),
      open: (listener, transport, key) => {
        this.#open(listener, transport, key);
      },
      entered: () => {
        this.#inPipelines++;
      },
      left: () => {
        this.#inPipelines--;
        this.#maybeSettled();
      },
    };
  }

  /** Live connections by id (the seed's `wheels`). */
  get connections(): ReadonlyMap<ConnectionId, Connection> {
    return this.#connections;
  }

  /** Open listeners by id (the seed's `listeners`). */
  get activeListeners(): ReadonlyMap<ListenerId, Listener> {
    return this.#listeners;
  }

  /** Connectors with an attempt under way or waiting to retry, by id (the seed's `connectors`); an open one is in `connections` through its connection. */
  get pendingConnectors(): ReadonlyMap<ConnectorId, Connector> {
    return this.#connectors;
  }

  /**
   * Opens a listening socket: TCP (IPv4 or IPv6) or a Unix socket, plain or
   * TLS, with or without a required PROXY header. Resolves with the listener
   * once it is bound; rejects (and emits `listenerFailure`) when it cannot
   * bind. Nobody has to handle the rejection for the process to go on: event
   * users may ignore it.
   */
  createListener(opts: ListenerOptions = {}): Promise<Listener> {
    const where = 'createListener()';
    this.#assertOpen(where);
    checkKeys(where, opts, LISTENER_KEYS);
    const inherited = opts.fd !== undefined || opts.inherit !== undefined;
    if (inherited) {
      for (const key of ['addr', 'port', 'ipv6', 'path', 'mode', 'backlog'] as const) {
        if (opts[key] !== undefined) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: '${key}' does not go with 'fd' or 'inherit' (the socket is bound already)`);
      }
      if (opts.fd !== undefined && opts.inherit !== undefined) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: give 'fd' or 'inherit', not both`);
      if (opts.fd !== undefined && (!Number.isInteger(opts.fd) || opts.fd < 0)) {
        throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'fd' must be a file descriptor number (3 and up under systemd), got ${String(opts.fd)}`);
      }
      if (opts.inherit !== undefined && (!(opts.inherit instanceof InheritedListener) || opts.inherit.claimed)) {
        throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'inherit' must be an InheritedListener from the hand-off, not yet taken up`);
      }
    }
    const path = opts.path;
    if (path !== undefined) {
      if (typeof path !== 'string' || path === '') throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'path' must be a socket file path`);
      if (opts.addr !== undefined || opts.port !== undefined || opts.ipv6 !== undefined) {
        throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: give 'path' (a Unix socket) or 'addr'/'port', not both`);
      }
    } else if (opts.mode !== undefined) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'mode' is for Unix sockets (with 'path')`);
    }
    const mode = checkSocketMode(where, opts.mode);
    const family: 4 | 6 | undefined =
      path !== undefined ? undefined : opts.ipv6 === true || (opts.addr !== undefined && net.isIPv6(opts.addr)) ? 6 : 4;
    const addr = path !== undefined ? '' : opts.addr ?? (family === 6 ? '::' : '0.0.0.0');
    const port = path !== undefined ? 0 : checkPort(where, opts.port ?? 0);
    const limits = resolveLimits(where, this.#limits, opts.limits);
    const secure = opts.tls !== undefined && opts.tls !== false;
    const admission =
      opts.admission === false ? undefined : opts.admission instanceof Admission ? opts.admission : new Admission(opts.admission ?? {});
    if (opts.check !== undefined && typeof opts.check !== 'function') {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'check' must be a function (req) => boolean | string | Promise<…>`);
    }
    let tlsAcceptor: TlsAcceptor | undefined;
    let handshakeBudget: HandshakeBudget | undefined;
    // Its own context's events name the listener, made below.
    const holder: { owner: Listener | undefined } = { owner: undefined };
    if (secure) {
      tlsAcceptor = this.#acceptorFor(where, typeof opts.tls === 'object' ? opts.tls : undefined, limits, holder);
      const budget = opts.handshakeBudget;
      handshakeBudget = budget === false ? undefined : budget instanceof HandshakeBudget ? budget : new HandshakeBudget(budget ?? {});
    } else if (opts.handshakeBudget !== undefined && opts.handshakeBudget !== false) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'handshakeBudget' is for TLS listeners (with 'tls')`);
    }
    const config: ListenerConfig = {
      limits,
      idle: checkDuration(where, 'idle', opts.idle ?? DEFAULT_IDLE, true),
      args: opts.args,
      admission,
      check: opts.check,
      flood: opts.flood === undefined || opts.flood === false ? undefined : checkFlood(where, opts.flood),
      tlsAcceptor,
      handshakeBudget,
      proxy: checkProxy(where, opts.proxy),
      websocket: checkWebSocket(where, opts.websocket, limits),
    };
    if (inherited) return this.#listenInherited(opts, config, holder);
    const server = net.createServer();
    const { listener, pipeline } = this.#newListener({ addr, port, path, family }, config, server, holder);
    server.on('connection', (socket: Socket) => {
      this.#accept(listener, pipeline, socket);
    });

    const p = this.#bind(listener, server, path === undefined ? { host: addr, port, backlog: opts.backlog } : { path, backlog: opts.backlog }, mode);
    p.catch(noop);
    return p;
  }

  /** The Listener over `server` and its accept pipeline, in the tables; `holder` learns it for TLS events. */
  #newListener(
    where: { addr: string; port: number; path: string | undefined; family: 4 | 6 | undefined },
    config: ListenerConfig,
    server: net.Server,
    holder: { owner: Listener | undefined },
  ): { listener: Listener; pipeline: AcceptPipeline } {
    const listener: Listener = new Listener({
      id: this.#nextListenerId++,
      ...where,
      config,
      server,
      close: (l) => this.closeListener(l) > 0,
      reloadTls: (l) => this.#reloadListenerTls(l),
    });
    holder.owner = listener;
    const pipeline = new AcceptPipeline(listener, this.#pipelineHost);
    this.#pipelines.set(listener, pipeline);
    return { listener, pipeline };
  }

  #accept(listener: Listener, pipeline: AcceptPipeline, socket: Socket): void {
    if (this.#held !== undefined) {
      this.#held.push([listener, socket]);
      return;
    }
    pipeline.accept(socket);
  }

  /** A listener on a socket bound by someone else: systemd (`fd`) or a predecessor (`inherit`). */
  async #listenInherited(opts: ListenerOptions, config: ListenerConfig, holder: { owner: Listener | undefined }): Promise<Listener> {
    let server: net.Server;
    const inherit = opts.inherit;
    if (inherit !== undefined) {
      server = inherit.server;
    } else {
      server = net.createServer();
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ fd: opts.fd }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        // No listener was made: its TLS context (and any file watch) goes now.
        this.#dropAcceptor(config);
        throw err;
      }
    }
    const address = server.address();
    const unix = typeof address === 'string';
    const info: AddressInfo | null | undefined = unix ? undefined : address;
    const where = {
      addr: info?.address ?? '',
      port: info?.port ?? 0,
      path: unix ? address : undefined,
      family: info === undefined ? undefined : info?.family === 'IPv6' ? (6 as const) : (4 as const),
    };
    const { listener, pipeline } = this.#newListener(where, config, server, holder);
    const accept = (socket: Socket): void => {
      this.#accept(listener, pipeline, socket);
    };
    if (inherit !== undefined) {
      inherit.listener = listener;
      inherit.claim(accept);
    } else {
      server.on('connection', accept);
    }
    server.on('error', (err: NodeJS.ErrnoException) => this.emit('listenerFailure', listener, err));
    this.#openServers++;
    if (this.#closing) {
      this.#closeServer(listener, server);
      throw closedError('createListener()');
    }
    this.#listeners.set(listener.id, listener);
    this.emit('listenerCreated', listener);
    return listener;
  }

  /**
   * @internal Hand-off: from now on sockets our listeners accept are kept
   * unread (`true`), or (`false`) the ones kept are returned, and accepting
   * goes on as usual.
   */
  holdAccepts(on: boolean): [Listener, Socket][] {
    for (const l of this.#listeners.values()) (l.server as net.Server & { pauseOnConnect: boolean }).pauseOnConnect = on;
    if (on) {
      this.#held ??= [];
      return [];
    }
    const held = this.#held ?? [];
    this.#held = undefined;
    return held;
  }

  /**
   * @internal Hand-off done: the listener leaves this backend without its
   * socket being closed (a Unix socket's file would be unlinked); what it
   * still accepts goes to `forward`. The handle is unref'd: it closes at exit.
   */
  releaseListener(listener: Listener, forward: (listener: Listener, socket: Socket) => void): void {
    if (this.#listeners.get(listener.id) !== listener) return;
    this.#listeners.delete(listener.id);
    const server = listener.server;
    server.removeAllListeners('connection');
    (server as net.Server & { pauseOnConnect: boolean }).pauseOnConnect = true;
    server.on('connection', (socket: Socket) => {
      forward(listener, socket);
    });
    server.unref();
    this.#openServers--;
    if (this.#pipelines.get(listener)?.size === 0) this.#pipelines.delete(listener);
    this.emit('listenerRemoved', listener);
    this.#maybeSettled();
  }

  /** @internal Hand-off gave up: the sockets kept go through our own pipelines. */
  acceptHeld(held: readonly [Listener, Socket][]): void {
    for (const [listener, socket] of held) {
      const pipeline = this.#pipelines.get(listener);
      if (pipeline === undefined || this.#closing) socket.destroy();
      else pipeline.accept(socket);
    }
  }

  /** @internal Hand-off, the old side: the successor has the connection; drop it here without a close. */
  releaseConnection(conn: Connection): void {
    if (this.#connections.get(conn.id) !== conn) return;
    this.#connections.delete(conn.id);
    conn.release();
    this.#maybeSettled();
  }

  /**
   * @internal Hand-off, the new side: a connection from a predecessor. Frozen
   * (nothing dispatched) until `thaw()`; `connectionAdopted` tells the application.
   */
  adoptConnection(socket: Socket, snap: ConnectionSnapshot, listener: Listener | undefined, data: unknown): Connection {
    this.#assertOpen('adoptConnection()');
    const config = listener?.config;
    const limits = config?.limits ?? this.#limits;
    const transport = new StreamTransport({
      socket,
      kind: snap.kind,
      peer: snap.peer,
      local: snap.local,
      tls: undefined,
      proxy: snap.proxy,
      maxTagBytes: limits.maxTagBytes,
      maxBodyBytes: limits.maxBodyBytes,
      maxOverlongBytes: limits.readQ,
      maxInflatePerRead: limits.maxInflatePerRead,
    });
    const conn = new Connection({
      id: this.#nextConnectionId++,
      transport,
      origin: snap.origin,
      originId: listener?.id ?? 0,
      args: 'args' in snap ? snap.args : config?.args,
      idle: config?.idle ?? snap.idle,
      limits,
      hooks: this.#hooks,
      firstLineDeadline: snap.firstLineSince !== undefined,
      flood: config?.flood,
      admission: undefined,
      admissionKey: undefined,
      restore: snap,
    });
    this.#connections.set(conn.id, conn);
    if (channels.open.hasSubscribers) channels.open.publish({ connection: conn });
    this.emit('connectionAdopted', conn, data);
    return conn;
  }

  async #bind(listener: Listener, server: net.Server, target: net.ListenOptions, mode: number | undefined): Promise<Listener> {
    const where = 'createListener()';
    try {
      if (target.path !== undefined) await clearStaleSocket(target.path);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(target, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      this.#pipelines.delete(listener);
      this.#dropAcceptor(listener);
      this.emit('listenerFailure', listener, err as NodeJS.ErrnoException);
      throw err;
    }
    // Accept errors (EMFILE…) are passing: report them, keep listening.
    server.on('error', (err: NodeJS.ErrnoException) => this.emit('listenerFailure', listener, err));
    this.#openServers++;
    if (target.path === undefined) listener.port = (server.address() as AddressInfo).port;
    if (this.#closing) {
      this.#closeServer(listener, server);
      throw closedError(where);
    }
    if (mode !== undefined && target.path !== undefined) {
      try {
        await setSocketMode(target.path, mode);
      } catch (err) {
        this.#closeServer(listener, server);
        this.#dropAcceptor(listener);
        this.emit('listenerFailure', listener, err as NodeJS.ErrnoException);
        throw err;
      }
    }
    this.#listeners.set(listener.id, listener);
    this.emit('listenerCreated', listener);
    return listener;
  }

  /**
   * Stops listeners: by id, by object, or as the seed's `remove_listener` did
   * by `{ addr }`, `{ port }` or both. Their connections stay up. Returns how
   * many were closed.
   */
  closeListener(target: ListenerTarget): number {
    const matched: Listener[] = [];
    if (typeof target === 'number') {
      const l = this.#listeners.get(target);
      if (l !== undefined) matched.push(l);
    } else if (target instanceof Listener) {
      if (this.#listeners.get(target.id) === target) matched.push(target);
    } else if (typeof target === 'object' && (target as unknown) !== null) {
      const { addr, port } = target;
      if (addr === undefined && port === undefined) {
        throw new IrcArgumentError('ERR_INVALID_ARG', 'closeListener(): give an id, a Listener, { addr }, { port } or { addr, port }');
      }
      for (const l of this.#listeners.values()) {
        if ((addr === undefined || l.addr === addr) && (port === undefined || l.port === port)) matched.push(l);
      }
    }
    for (const l of matched) {
      this.#listeners.delete(l.id);
      this.#dropAcceptor(l);
      this.#closeServer(l, l.server);
      this.emit('listenerRemoved', l);
    }
    return matched.length;
  }

  /**
   * Connects out, over TCP (through a SOCKS proxy if asked), a Unix socket or
   * WebSocket, plain or TLS, optionally announcing a PROXY header first.
   * Resolves with the first connection once it is up (TLS handshake done and
   * verified); rejects when the connector ends without one (its attempt
   * failed and it does not reconnect, it gave up, or it was closed). Each
   * failed attempt emits `connectorFailure`. The promise carries the
   * `Connector` itself (`createConnector(...).connector`): with `reconnect`,
   * it lives on, making a new connection each time the last one drops,
   * until `connector.close()`. Nobody has to handle the rejection for the
   * process to go on.
   */
  createConnector(opts: ConnectorOptions): ConnectorPromise {
    const where = 'createConnector()';
    this.#assertOpen(where);
    if (typeof opts !== 'object' || (opts as unknown) === null) {
      throw new IrcArgumentError('ERR_INVALID_ARG', `${where}: give { addr, port, ... } or { path, ... }`);
    }
    checkKeys(where, opts, CONNECTOR_KEYS);
    const reconnect = resolveReconnect(where, opts.reconnect);
    const backoff = reconnect === undefined ? undefined : new Backoff(reconnect);
    if (opts.url !== undefined) return this.#connectWebSocket(where, opts, backoff);
    if (opts.protocols !== undefined || opts.origin !== undefined) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'protocols' and 'origin' are for WebSocket connectors (with 'url')`);
    }
    const { path, bindAddr } = opts;
    if (bindAddr !== undefined && net.isIP(bindAddr) === 0) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'bindAddr' must be an IPv4 or IPv6 address, got ${JSON.stringify(bindAddr)}`);
    }
    let addr = '';
    let port = 0;
    if (path !== undefined) {
      if (typeof path !== 'string' || path === '') throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'path' must be a socket file path`);
      for (const key of ['addr', 'port', 'ipv6', 'family', 'bindAddr', 'socks', 'lookup', 'attemptDelay'] as const) {
        if (opts[key] !== undefined) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: give 'path' (a Unix socket) or 'addr'/'port', not both ('${key}' does not go with 'path')`);
      }
    } else {
      if (typeof opts.addr !== 'string' || opts.addr === '') {
        throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'addr' (host name or address to connect to) or 'path' is required`);
      }
      addr = opts.addr;
      port = checkPort(where, opts.port);
      if (port === 0) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'port' must be 1 to 65535`);
    }
    const timeout = checkDuration(where, 'timeout', opts.timeout ?? DEFAULT_CONNECT_TIMEOUT);
    const idle = checkDuration(where, 'idle', opts.idle ?? 0, true);
    const limits = resolveLimits(where, this.#limits, opts.limits);
    const pinned = checkFamily(where, opts);
    // What the connector reports: a pinned family, or the family of an address literal.
    const family: 4 | 6 | undefined =
      path !== undefined ? undefined : pinned ?? (net.isIPv6(addr) ? 6 : net.isIPv4(addr) ? 4 : undefined);
    const socks = opts.socks === undefined ? undefined : checkSocks(where, opts.socks);
    if (opts.lookup !== undefined && typeof opts.lookup !== 'function') {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'lookup' must be a function like dns.lookup`);
    }
    const attemptDelay = opts.attemptDelay === undefined ? undefined : checkAttemptDelay(where, opts.attemptDelay);
    const secure = opts.tls !== undefined && opts.tls !== false;
    if (opts.proxyHeader !== undefined && (typeof opts.proxyHeader !== 'object' || (opts.proxyHeader as unknown) === null)) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'proxyHeader' must be { version: 1 | 2, source, destination, ... }`);
    }
    // Loaded and encoded now, so a file that cannot be read or a header that cannot be written throws at the call.
    const clientTls = secure ? clientTlsOptions(where, opts.tls === true ? {} : loadTlsFiles(where, opts.tls as ClientTlsOptions)) : undefined;
    const proxyHeader = opts.proxyHeader === undefined ? undefined : encodeProxyHeader(opts.proxyHeader);
    const target = {
      host: path === undefined ? addr : undefined,
      port,
      path,
      bindAddr,
      // A bind address of one family pins it too: the other could never connect from it.
      family: pinned ?? (bindAddr !== undefined && path === undefined ? (net.isIPv6(bindAddr) ? 6 as const : 4 as const) : undefined),
      tls: clientTls,
      proxyHeader,
      limits,
      socks,
      lookup: opts.lookup,
      attemptDelay,
    };
    return this.#launch(
      {
        addr,
        port,
        path,
        url: undefined,
        bindAddr,
        family,
        tls: secure,
        proxy: opts.proxyHeader !== undefined,
        socks: socks === undefined ? undefined : { host: socks.host, port: socks.port, version: socks.version ?? 5 },
        args: opts.args,
        timeout,
        backoff,
      },
      idle,
      limits,
      (done) => dial(target, done),
    );
  }

  /**
   * Makes the connector, puts it in the tables and starts its first attempt.
   * Each wire it opens becomes a Connection named after it (`connectorOpen`).
   */
  #launch(
    init: Omit<ConnectorInit, 'id' | 'host' | 'dial' | 'open'>,
    idle: number,
    limits: Limits,
    start: ConnectorInit['dial'],
  ): ConnectorPromise {
    const connector = new Connector({
      ...init,
      id: this.#nextConnectorId++,
      host: this.#connectorHost,
      dial: start,
      open: (c, transport) => {
        const conn = new Connection({
          id: this.#nextConnectionId++,
          transport,
          origin: 'connector',
          originId: c.id,
          connector: c,
          args: c.args,
          idle,
          limits,
          hooks: this.#hooks,
          firstLineDeadline: false,
          flood: undefined,
          admission: undefined,
          admissionKey: undefined,
        });
        this.#connections.set(conn.id, conn);
        return conn;
      },
    });
    this.#liveConnectors.add(connector);
    const p = connector.firstConnection;
    p.catch(noop);
    connector.start();
    return Object.assign(p, { connector });
  }

  #connectWebSocket(where: string, opts: ConnectorOptions, backoff: Backoff | undefined): ConnectorPromise {
    let url: URL;
    try {
      url = new URL(opts.url as string);
    } catch {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'url' must be a ws:// or wss:// URL, got ${String(opts.url)}`);
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'url' must be a ws:// or wss:// URL, got ${url.protocol}`);
    }
    for (const key of ['addr', 'port', 'path', 'bindAddr', 'ipv6', 'family', 'proxyHeader', 'socks', 'lookup', 'attemptDelay'] as const) {
      if (opts[key] !== undefined) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: '${key}' does not go with 'url'`);
    }
    const secure = url.protocol === 'wss:';
    if (!secure && opts.tls !== undefined && opts.tls !== false) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'tls' options need a wss:// url`);
    }
    const protocols = opts.protocols ?? ['binary.ircv3.net', 'text.ircv3.net'];
    const timeout = checkDuration(where, 'timeout', opts.timeout ?? DEFAULT_CONNECT_TIMEOUT);
    const idle = checkDuration(where, 'idle', opts.idle ?? 0, true);
    const limits = resolveLimits(where, this.#limits, opts.limits);
    const clientTls = secure ? clientTlsOptions(where, typeof opts.tls === 'object' ? loadTlsFiles(where, opts.tls) : {}) : undefined;
    const host = url.hostname.replace(/^\[|\]$/g, '');
    return this.#launch(
      {
        addr: host,
        port: Number(url.port === '' ? (secure ? 443 : 80) : url.port),
        path: undefined,
        url: url.href,
        bindAddr: undefined,
        family: net.isIPv6(host) ? 6 : net.isIPv4(host) ? 4 : undefined,
        tls: secure,
        proxy: false,
        socks: undefined,
        args: opts.args,
        timeout,
        backoff,
      },
      idle,
      limits,
      (done) => dialWebSocket({ url, protocols, origin: opts.origin, tls: clientTls, timeout, limits }, done),
    );
  }

  /**
   * Formats the message once and queues the same bytes to every target.
   * Unknown ids and closed or closing connections are skipped, as the seed
   * documents. Targets may also come as arrays (`send(msg, members)`), so a
   * channel of any size needs no spread. Returns how many connections it was
   * queued to.
   *
   * @throws IrcFormatError when the message cannot be written safely.
   */
  send(message: IrcMessage | IrcMessageInit, ...targets: (ConnectionTarget | readonly ConnectionTarget[])[]): number {
    const line = formatLine(message, this.#formatOpts) + '\r\n';
    // One connection (a private message, a reply): its queue takes the text and
    // encodes every line of the turn at once, rather than one Buffer per line.
    if (targets.length === 1) {
      const t = targets[0] as ConnectionTarget | readonly ConnectionTarget[];
      if (!isTargetList(t)) return this.#enqueue(line, t);
      if (t.length === 1) return this.#enqueue(line, t[0] as ConnectionTarget);
    }
    return this.#sendBuffer(encodeText(line), targets);
  }

  /**
   * Sends a line as it is (CRLF added). For consoles and proxies that relay
   * text they did not build; it must not hold CR, LF or NUL.
   *
   * @throws IrcFormatError for CR, LF or NUL in the line.
   */
  sendLine(line: string, ...targets: (ConnectionTarget | readonly ConnectionTarget[])[]): number {
    // Three native scans cost less than one regular expression on a short line.
    if (line.indexOf('\r') >= 0 || line.indexOf('\n') >= 0 || line.indexOf('\0') >= 0) {
      throw new IrcFormatError('sendLine(): the line holds CR, LF or NUL', 'line');
    }
    // One connection: its queue encodes every line of the turn at once, as with send.
    if (targets.length === 1) {
      const t = targets[0] as ConnectionTarget | readonly ConnectionTarget[];
      if (!isTargetList(t)) return this.#enqueue(line + '\r\n', t);
      if (t.length === 1) return this.#enqueue(line + '\r\n', t[0] as ConnectionTarget);
    }
    return this.#sendBuffer(encodeText(line + '\r\n'), targets);
  }

  #encode(message: IrcMessage | IrcMessageInit): Buffer {
    // encodeText gives back the exact bytes a peer sent, legacy 8-bit text included.
    return encodeText(formatLine(message, this.#formatOpts) + '\r\n');
  }

  #sendBuffer(buf: Buffer, targets: readonly (ConnectionTarget | readonly ConnectionTarget[])[]): number {
    let n = 0;
    for (const t of targets) {
      if (isTargetList(t)) {
        for (const u of t) n += this.#enqueue(buf, u);
      } else {
        n += this.#enqueue(buf, t);
      }
    }
    return n;
  }

  #enqueue(buf: Buffer | string, target: ConnectionTarget): number {
    // Unknown targets of any type (a string id from a JavaScript caller included) are dropped.
    const conn = typeof target === 'number' ? this.#connections.get(target) : target instanceof Connection ? target : undefined;
    // enqueue refuses connections of another backend and closed ones.
    return conn !== undefined && conn.enqueue(buf, this.#hooks) ? 1 : 0;
  }

  /**
   * `send` to every live connection, or every one but `except`: no target
   * list to build for the commonest fan-out. Returns how many it was queued to.
   */
  broadcast(message: IrcMessage | IrcMessageInit, except?: ConnectionTarget): number {
    const buf = this.#encode(message);
    const skip = this.#find(except);
    const hooks = this.#hooks;
    let n = 0;
    for (const conn of this.#connections.values()) {
      if (conn !== skip && conn.enqueue(buf, hooks)) n++;
    }
    return n;
  }

  /**
   * Closes a connection once what is queued for it has been written: at once
   * when nothing is queued, by force after `limits.disconnectTimeout`. Input
   * that arrives meanwhile is still dispatched. False for an unknown target.
   */
  disconnect(target: ConnectionTarget, reason = 'Client disconnect'): boolean {
    const conn = this.#find(target);
    if (conn === undefined) return false;
    if (conn.connector !== undefined) this.#closedByUs.add(conn);
    conn.disconnect(reason);
    return true;
  }

  /** Drops what is queued and closes at once. False for an unknown target. */
  disconnectNow(target: ConnectionTarget, reason = 'Client disconnect'): boolean {
    const conn = this.#find(target);
    if (conn === undefined) return false;
    if (conn.connector !== undefined) this.#closedByUs.add(conn);
    conn.disconnectNow(reason);
    return true;
  }

  /**
   * Compresses the link (zlib stream per direction, as the seed's
   * POE::Filter::Zlib::Stream) once everything queued now has been written
   * out — the seed's "next flush" switch. Sends made meanwhile wait and go
   * out compressed. False for an unknown target.
   */
  setCompressedLink(target: ConnectionTarget): boolean {
    const conn = this.#find(target);
    if (conn === undefined) return false;
    conn.compressAfterDrain();
    return true;
  }

  /**
   * Compresses the link from this exact point: what is already queued goes
   * out plain, every later send compressed; every received byte not yet
   * dispatched — called from an `input` handler, everything after that line,
   * even within the same socket read — is inflated. False for an unknown target.
   */
  setCompressedLinkNow(target: ConnectionTarget): boolean {
    const conn = this.#find(target);
    if (conn === undefined) return false;
    conn.compressNow();
    return true;
  }

  /**
   * Back to plain: compressed bytes already received are still inflated and
   * dispatched first; what is queued goes out compressed, later sends plain.
   * The peer must switch at the same point of the protocol. False for an
   * unknown target.
   */
  unsetCompressedLink(target: ConnectionTarget): boolean {
    const conn = this.#find(target);
    if (conn === undefined) return false;
    conn.uncompress();
    return true;
  }

  /**
   * Closes every listener, abandons pending connectors, disconnects every
   * connection after its queue drains (each with its deadline), closes every
   * socket still in an accept pipeline, and resolves when every socket and
   * listening handle is closed. Afterwards no ircsock handle or timer is left.
   */
  shutdown(reason = 'Server shutdown', opts: { timeout?: number } = {}): Promise<void> {
    if (this.#shutdown !== undefined) return this.#shutdown;
    const timeout = opts.timeout === undefined ? undefined : checkDuration('shutdown()', 'timeout', opts.timeout, true);
    this.#closing = true;
    this.#shutdown = new Promise<void>((resolve) => {
      this.#settle = resolve;
    });
    if (timeout !== undefined) {
      // Past the deadline, peers still not drained are cut off.
      const timer = setTimeout(() => {
        for (const conn of [...this.#connections.values()]) conn.disconnectNow(reason);
      }, timeout);
      timer.unref();
      void this.#shutdown.then(() => {
        clearTimeout(timer);
      });
    }
    for (const l of [...this.#listeners.values()]) this.closeListener(l);
    // No file watch outlives the backend.
    for (const creds of this.#contexts.keys()) creds.close();
    this.#contexts.clear();
    for (const connector of [...this.#liveConnectors]) connector.abandon(reason, closedError('createConnector()'));
    for (const conn of [...this.#connections.values()]) conn.disconnect(reason);
    // Each leaves its pipeline on its 'close' (its admission count released), then shutdown may settle.
    for (const pipeline of this.#pipelines.values()) pipeline.closeAll();
    this.#maybeSettled();
    return this.#shutdown;
  }

  /** A connection, from an id or a Connection of this backend; anything else is unknown. */
  #find(target: unknown): Connection | undefined {
    if (typeof target === 'number') return this.#connections.get(target);
    if (target instanceof Connection && this.#connections.get(target.id) === target) return target;
    return undefined;
  }

  #open(listener: Listener, transport: Transport, admissionKey: string | undefined): void {
    const config = listener.config;
    const conn = new Connection({
      id: this.#nextConnectionId++,
      transport,
      origin: 'listener',
      originId: listener.id,
      args: config.args,
      idle: config.idle,
      limits: config.limits,
      hooks: this.#hooks,
      firstLineDeadline: true,
      flood: config.flood,
      admission: config.admission,
      admissionKey,
    });
    this.#connections.set(conn.id, conn);
    if (channels.open.hasSubscribers) channels.open.publish({ connection: conn });
    this.emit('listenerOpen', conn, listener);
  }

  readonly #flushAll = (): void => {
    this.#flushScheduled = false;
    const dirty = this.#dirty;
    this.#dirty = this.#spare;
    for (const conn of dirty) conn.flush();
    dirty.length = 0;
    this.#spare = dirty;
  };

  /**
   * A TLS listener's acceptor: on the backend's context when the listener
   * gives none of its own (only server options such as `clientCert` or
   * `handshakeTimeout`), else on a context of its own built over the backend's options.
   */
  #acceptorFor(where: string, own: BackendTlsOptions | undefined, limits: Limits, holder: { owner: Listener | undefined }): TlsAcceptor {
    const merged: BackendTlsOptions = { ...this.#tls, ...own };
    const plan = planServerTls(where, merged);
    if (!plan.hasKey) {
      throw new IrcTlsError(
        `${where}: a TLS listener needs a key and certificate: new Backend({ tls: { key, cert } }) or the listener's own tls option`,
      );
    }
    const shared = this.#credentials !== undefined && (own === undefined || Object.keys(own).every((k) => SERVER_ONLY_KEYS.has(k)));
    const credentials = shared ? (this.#credentials) : this.#newContext(where, plan, holder);
    const acceptorOpts = { ...plan.acceptor };
    if (Number.isFinite(limits.tlsHandshakeTimeout)) acceptorOpts.handshakeTimeout = limits.tlsHandshakeTimeout;
    return new TlsAcceptor(credentials, acceptorOpts, plan.requireCert);
  }

  #newContext(where: string, plan: ReturnType<typeof planServerTls>, holder: { owner: Listener | undefined }): TlsCredentials {
    const credentials: TlsCredentials = new TlsCredentials(where, plan.spec, plan.watch, {
      reloaded: (built, ms) => {
        this.emit('tlsReload', { listener: holder.owner, trigger: 'watch', certificates: built.certificates, ms });
      },
      failed: (err) => this.emit('tlsReloadFailure', err, holder.owner),
    });
    this.#contexts.set(credentials, holder);
    return credentials;
  }

  /** A listener stops: its acceptor no longer follows reloads, and a context of its own stops watching. */
  #dropAcceptor(l: Listener | ListenerConfig): void {
    const acceptor = 'config' in l ? l.config.tlsAcceptor : l.tlsAcceptor;
    if (acceptor === undefined) return;
    acceptor.close();
    if (acceptor.credentials !== this.#credentials) {
      acceptor.credentials.close();
      this.#contexts.delete(acceptor.credentials);
    }
  }

  /**
   * Reads every key and certificate file again and swaps in new contexts:
   * the backend's and every open listener's own. Every context is built
   * first; only when all succeeded are they swapped, so either every
   * listener serves the new certificates or all keep the old ones.
   * Established connections keep their session; the next handshakes get the
   * new certificates. Resolves with one `tlsReload` info per context (each is
   * also emitted); on failure emits `tlsReloadFailure` and rejects with the
   * `IrcTlsError` (`ERR_TLS_RELOAD`, naming the file). Nobody has to handle the
   * rejection for the process to go on.
   */
  reloadTls(): Promise<TlsReloadInfo[]> {
    this.#assertOpen('reloadTls()');
    const p = this.#reload([...this.#contexts.keys()]);
    p.catch(noop);
    return p;
  }

  #reloadListenerTls(l: Listener): Promise<TlsReloadInfo[]> {
    this.#assertOpen('listener.reloadTls()');
    const acceptor = l.config.tlsAcceptor;
    if (acceptor === undefined) throw new IrcArgumentError('ERR_INVALID_ARG', 'listener.reloadTls(): this listener does not speak TLS');
    const p = this.#reload([acceptor.credentials]);
    p.catch(noop);
    return p;
  }

  async #reload(contexts: readonly TlsCredentials[]): Promise<TlsReloadInfo[]> {
    const started = performance.now();
    const settled = await Promise.allSettled(contexts.map((c) => c.prepare()));
    const failedAt = settled.findIndex((r) => r.status === 'rejected');
    if (failedAt >= 0) {
      const err = (settled[failedAt] as PromiseRejectedResult).reason as IrcTlsError;
      const failed = contexts[failedAt] as TlsCredentials;
      this.emit('tlsReloadFailure', err, this.#contexts.get(failed)?.owner);
      throw err;
    }
    const ms = performance.now() - started;
    const infos: TlsReloadInfo[] = [];
    contexts.forEach((c, i) => {
      const built = (settled[i] as PromiseFulfilledResult<Awaited<ReturnType<TlsCredentials['prepare']>>>).value;
      c.commit(built);
      infos.push({ listener: this.#contexts.get(c)?.owner, trigger: 'api', certificates: built.certificates, ms });
    });
    for (const info of infos) this.emit('tlsReload', info);
    return infos;
  }

  #closeServer(listener: Listener, server: net.Server): void {
    server.close(() => {
      // 'close' comes before libuv has closed the handle (and, for a Unix
      // socket, removed its file): two turns later it has.
      setImmediate(() => {
        setImmediate(() => {
          this.#openServers--;
          if (this.#pipelines.get(listener)?.size === 0) this.#pipelines.delete(listener);
          this.#maybeSettled();
        });
      });
    });
  }

  #assertOpen(where: string): void {
    if (this.#closing) throw closedError(where);
  }

  #maybeSettled(): void {
    if (
      this.#settle !== undefined &&
      this.#connections.size === 0 &&
      this.#connectors.size === 0 &&
      this.#inPipelines === 0 &&
      this.#openServers === 0
    ) {
      const settle = this.#settle;
      this.#settle = undefined;
      settle();
    }
  }
}

// Array.isArray does not narrow a readonly array type.
function isTargetList(t: ConnectionTarget | readonly ConnectionTarget[]): t is readonly ConnectionTarget[] {
  return Array.isArray(t);
}

function closedError(where: string): IrcArgumentError {
  return new IrcArgumentError('ERR_BACKEND_CLOSED', `${where}: the backend has been shut down`);
}

function noop(): void {
  // Marks a promise as handled: callers who use the events need not catch it.
}
