import { EventEmitter } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import tls, { TLSSocket, type ConnectionOptions, type SecureContextOptions, type TlsOptions } from 'node:tls';
import { Connection, type ConnectionHooks, type ConnectionId } from './connection.js';
import { Connector, type ConnectorId } from './connector.js';
import { channels } from './diagnostics.js';
import { IrcArgumentError, IrcFormatError, IrcTimeoutError, IrcTlsError, type IrcLineTooLongError, type IrcParseError } from './errors.js';
import { DEFAULT_LIMITS, type FloodOptions, type Limits } from './limits.js';
import { Admission, type AdmissionOptions } from './admission/admission.js';
import { Listener, type AdmissionCheck, type ListenerId } from './listener.js';
import { formatLine, type FormatOptions } from './message/format.js';
import type { IrcMessage, IrcMessageInit } from './message/message.js';
import { checkDuration, checkKeys, checkPort, resolveLimits } from './options.js';
import { loadTlsFiles, tlsInfo } from './transport/tls.js';

/** The events of a {@link Backend}, with their arguments. */
export interface BackendEvents {
  listenerCreated: [listener: Listener];
  listenerOpen: [conn: Connection, listener: Listener];
  /** The listener could not bind (the promise rejects too), or could not accept (it stays open). */
  listenerFailure: [listener: Listener, err: NodeJS.ErrnoException];
  listenerRemoved: [listener: Listener];
  connectorOpen: [conn: Connection];
  connectorFailure: [connector: Connector, err: Error];
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
  tlsClientError: [listener: Listener, err: Error, peer: { addr: string | undefined; port: number | undefined }];
}

/** Why a listener turned a peer away. */
export interface ConnectionRefusal {
  listener: Listener;
  addr: string;
  port: number;
  /** `ERR_DENIED`, `ERR_NOT_ALLOWED`, `ERR_THROTTLED`, `ERR_TOO_MANY_PER_IP`, `ERR_TOO_MANY_TOTAL`, `ERR_INVALID_ADDRESS`, `ERR_CHECK_REFUSED` or `ERR_CHECK_FAILED`. */
  code: string;
  reason: string;
}

/** Key and certificate: PEM text, Buffers, or file paths, in Node's own option names. */
export type BackendTlsOptions = SecureContextOptions & Pick<TlsOptions, 'requestCert' | 'rejectUnauthorized' | 'handshakeTimeout' | 'ALPNProtocols'>;

export interface BackendOptions {
  /** Always write the last parameter with a `:`. Default false: only when it needs one. */
  colonify?: boolean;
  /** The TLS context of `tls: true` listeners: one per backend. */
  tls?: BackendTlsOptions;
  /** Defaults for every connection; listeners and connectors may override. */
  limits?: Partial<Limits>;
}

export interface ListenerOptions {
  /** Address to bind. Default `'0.0.0.0'`, or `'::'` with `ipv6: true`. */
  addr?: string;
  /** Port to bind; 0 (the default) picks a free one, see `listener.port`. */
  port?: number;
  /** Bind an IPv6 socket (implied by an IPv6 `addr`). */
  ipv6?: boolean;
  /** `true`: the backend's TLS context; an object: Node TLS server options over it. */
  tls?: boolean | BackendTlsOptions;
  /** Milliseconds without input before `connectionIdle` (repeating). Default 180 000; 0 disables. */
  idle?: number;
  /** Handed to every connection the listener accepts. */
  args?: unknown;
  limits?: Partial<Limits>;
  backlog?: number;
  /**
   * Who may connect: CIDR allow/deny lists, connections per IP (IPv6 by /64)
   * and in total, an accept-rate throttle per IP. On by default with
   * protective limits (see `ADMISSION_DEFAULTS`; loopback is exempt from the
   * per-IP ones). An `Admission` instance may be shared by several listeners;
   * `false` turns it off.
   */
  admission?: AdmissionOptions | Admission | false;
  /** An async hook that admits or refuses each peer before `listenerOpen` (e.g. a DNS blocklist). */
  check?: AdmissionCheck;
  /** Per-connection flood control (off by default). */
  flood?: FloodOptions | false;
}

export interface ConnectorOptions {
  /** Host name or address to connect to. */
  addr: string;
  port: number;
  /** Local address to connect from. */
  bindAddr?: string;
  /** Resolve and connect over IPv6 only. */
  ipv6?: boolean;
  /**
   * `true`: TLS with the system CAs, verifying the certificate and the host
   * name (with SNI). An object: Node's `tls.ConnectionOptions` — `ca`, `cert`,
   * `key`, `servername`, `rejectUnauthorized: false` to accept any certificate.
   */
  tls?: boolean | ConnectionOptions;
  /** Milliseconds to wait for the connection (and TLS handshake). Default 30 000. */
  timeout?: number;
  /** Milliseconds without input before `connectionIdle` (repeating). Default 0: none. */
  idle?: number;
  /** Handed to the connection. */
  args?: unknown;
  limits?: Partial<Limits>;
}

/** A target of `send`/`disconnect`: a connection or its id. */
export type ConnectionTarget = ConnectionId | Connection;

/** What `closeListener` accepts: an id, the listener, or the seed's address/port match. */
export type ListenerTarget = ListenerId | Listener | { addr: string; port?: number } | { addr?: string; port: number };

const LISTENER_KEYS = ['addr', 'port', 'ipv6', 'tls', 'idle', 'args', 'limits', 'backlog', 'admission', 'check', 'flood'];
const FLOOD_KEYS = ['rate', 'burst', 'mode', 'maxDelay'];
const CONNECTOR_KEYS = ['addr', 'port', 'bindAddr', 'ipv6', 'tls', 'timeout', 'idle', 'args', 'limits'];
const BACKEND_KEYS = ['colonify', 'tls', 'limits'];
const DEFAULT_IDLE = 180_000;
const DEFAULT_CONNECT_TIMEOUT = 30_000;

/**
 * The IRC socket backend: listeners, connectors and live connections, and the
 * events that tell the application about them (the seed's POEx::IRC::Backend).
 */
export class Backend extends EventEmitter<BackendEvents> {
  readonly #listeners = new Map<ListenerId, Listener>();
  readonly #connectors = new Map<ConnectorId, Connector>();
  // How to give up each pending attempt (shutdown does).
  readonly #aborts = new WeakMap<Connector, (err: Error) => void>();
  readonly #connections = new Map<ConnectionId, Connection>();
  // TLS peers still in their handshake: no Connection owns them yet, but shutdown must close them.
  readonly #handshaking = new Set<Socket>();
  // Peers waiting on a listener's `check` hook: shutdown must not wait for a hook that never settles.
  readonly #checking = new Set<Socket>();
  // Raw sockets refused on a TLS listener: Node still wraps them and reports a handshake
  // failure (ECONNRESET) that is only the echo of the refusal.
  readonly #refusedTls = new WeakSet<Socket>();
  readonly #formatOpts: FormatOptions;
  readonly #limits: Limits;
  readonly #tls: BackendTlsOptions | undefined;
  readonly #hooks: ConnectionHooks;
  #nextListenerId = 1;
  #nextConnectorId = 1;
  #nextConnectionId = 1;
  #dirty: Connection[] = [];
  #spare: Connection[] = [];
  #flushScheduled = false;
  #openServers = 0;
  #closing = false;
  #shutdown: Promise<void> | undefined;
  #settle: (() => void) | undefined;

  constructor(opts: BackendOptions = {}) {
    super();
    checkKeys('new Backend()', opts, BACKEND_KEYS);
    this.#formatOpts = { colonify: opts.colonify ?? false };
    this.#limits = resolveLimits('new Backend()', DEFAULT_LIMITS, opts.limits);
    this.#tls = opts.tls === undefined ? undefined : loadTlsFiles('new Backend()', opts.tls);
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
  }

  /** Live connections by id (the seed's `wheels`). */
  get connections(): ReadonlyMap<ConnectionId, Connection> {
    return this.#connections;
  }

  /** Open listeners by id (the seed's `listeners`). */
  get activeListeners(): ReadonlyMap<ListenerId, Listener> {
    return this.#listeners;
  }

  /** Connection attempts still under way, by id (the seed's `connectors`). */
  get pendingConnectors(): ReadonlyMap<ConnectorId, Connector> {
    return this.#connectors;
  }

  /**
   * Opens a listening socket. Resolves with the listener once it is bound;
   * rejects (and emits `listenerFailure`) when it cannot bind. Nobody has to
   * handle the rejection for the process to go on: event users may ignore it.
   */
  createListener(opts: ListenerOptions = {}): Promise<Listener> {
    const where = 'createListener()';
    this.#assertOpen(where);
    checkKeys(where, opts, LISTENER_KEYS);
    const protocol: 4 | 6 = opts.ipv6 === true || (opts.addr !== undefined && net.isIPv6(opts.addr)) ? 6 : 4;
    const addr = opts.addr ?? (protocol === 6 ? '::' : '0.0.0.0');
    const port = checkPort(where, opts.port ?? 0);
    const idle = checkDuration(where, 'idle', opts.idle ?? DEFAULT_IDLE, true);
    const limits = resolveLimits(where, this.#limits, opts.limits);
    const secure = opts.tls !== undefined && opts.tls !== false;

    const admission =
      opts.admission === false ? undefined : opts.admission instanceof Admission ? opts.admission : new Admission(opts.admission ?? {});
    const flood = opts.flood === undefined || opts.flood === false ? undefined : checkFlood(where, opts.flood);
    if (opts.check !== undefined && typeof opts.check !== 'function') {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'check' must be a function (req) => boolean | string | Promise<…>`);
    }

    let server: net.Server;
    if (secure) {
      const tlsOpts = this.#serverTlsOptions(where, typeof opts.tls === 'object' ? opts.tls : undefined);
      if (Number.isFinite(limits.tlsHandshakeTimeout)) tlsOpts.handshakeTimeout = limits.tlsHandshakeTimeout;
      server = tls.createServer(tlsOpts);
    } else {
      server = net.createServer();
    }
    const listener: Listener = new Listener({
      id: this.#nextListenerId++,
      addr,
      port,
      protocol,
      tls: secure,
      idle,
      args: opts.args,
      limits,
      server,
      admission,
      check: opts.check,
      flood,
      close: (l) => this.closeListener(l) > 0,
    });
    if (secure) {
      // Before the TLS server's own handler: a refused peer costs no handshake.
      server.prependListener('connection', (socket: Socket) => {
        if (this.#gate(socket, listener) === false || socket.destroyed) return;
        this.#handshaking.add(socket);
        socket.once('close', () => this.#handshaking.delete(socket));
      });
      server.on('secureConnection', (socket: TLSSocket) => {
        const parent = parentOf(socket);
        if (parent !== undefined) this.#handshaking.delete(parent);
        this.#check(socket, listener, undefined);
      });
      server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
        // The raw socket keeps the peer's address after a hang-up, when the TLSSocket has lost it.
        const parent = parentOf(socket);
        const peer = {
          addr: socket.remoteAddress ?? parent?.remoteAddress,
          port: socket.remotePort ?? parent?.remotePort,
        };
        socket.destroy();
        if (parent !== undefined && this.#refusedTls.has(parent)) return;
        // During shutdown the failed handshakes are the ones shutdown cut short.
        if (!this.#closing) this.emit('tlsClientError', listener, err, peer);
      });
    } else {
      server.on('connection', (socket: Socket) => {
        const key = this.#gate(socket, listener);
        if (key !== false) this.#check(socket, listener, key);
      });
    }

    const p = new Promise<Listener>((resolve, reject) => {
      const onBindError = (err: NodeJS.ErrnoException): void => {
        this.emit('listenerFailure', listener, err);
        reject(err);
      };
      server.once('error', onBindError);
      server.listen({ host: addr, port, backlog: opts.backlog }, () => {
        server.off('error', onBindError);
        // Accept errors (EMFILE…) are passing: report them, keep listening.
        server.on('error', (err: NodeJS.ErrnoException) => this.emit('listenerFailure', listener, err));
        this.#openServers++;
        listener.port = (server.address() as AddressInfo).port;
        if (this.#closing) {
          this.#closeServer(server);
          reject(closedError(where));
          return;
        }
        this.#listeners.set(listener.id, listener);
        this.emit('listenerCreated', listener);
        resolve(listener);
      });
    });
    p.catch(noop);
    return p;
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
    } else {
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
      this.#closeServer(l.server);
      this.emit('listenerRemoved', l);
    }
    return matched.length;
  }

  /**
   * Connects out. Resolves with the connection once it is up (TLS handshake
   * done and verified); rejects (and emits `connectorFailure`) when it fails or
   * times out. Nobody has to handle the rejection for the process to go on.
   */
  createConnector(opts: ConnectorOptions): Promise<Connection> {
    const where = 'createConnector()';
    this.#assertOpen(where);
    if (typeof opts !== 'object') throw new IrcArgumentError('ERR_INVALID_ARG', `${where}: give { addr, port, ... }`);
    checkKeys(where, opts, CONNECTOR_KEYS);
    if (typeof opts.addr !== 'string' || opts.addr === '') {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'addr' (host name or address to connect to) is required`);
    }
    const port = checkPort(where, opts.port);
    if (port === 0) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'port' must be 1 to 65535`);
    const timeout = checkDuration(where, 'timeout', opts.timeout ?? DEFAULT_CONNECT_TIMEOUT);
    const idle = checkDuration(where, 'idle', opts.idle ?? 0, true);
    const limits = resolveLimits(where, this.#limits, opts.limits);
    const { addr, bindAddr } = opts;
    const protocol: 4 | 6 =
      opts.ipv6 === true || net.isIPv6(addr) || (bindAddr !== undefined && net.isIPv6(bindAddr)) ? 6 : 4;
    const secure = opts.tls !== undefined && opts.tls !== false;
    const connector = new Connector({ id: this.#nextConnectorId++, addr, port, bindAddr, protocol, tls: secure, args: opts.args });

    const base: net.TcpNetConnectOpts = { host: addr, port };
    if (bindAddr !== undefined) base.localAddress = bindAddr;
    if (opts.ipv6 === true) base.family = 6;
    let socket: Socket;
    if (secure) {
      const own = opts.tls === true ? {} : loadTlsFiles(where, opts.tls as ConnectionOptions);
      // SNI carries host names only (RFC 6066): never an address literal.
      const servername = net.isIP(addr) === 0 ? addr : undefined;
      socket = tls.connect({ ...base, servername, ...own });
    } else {
      socket = net.connect(base);
    }

    const p = new Promise<Connection>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#connectors.delete(connector.id);
        socket.destroy();
        this.emit('connectorFailure', connector, err);
        reject(err);
        this.#maybeSettled();
      };
      const timer = setTimeout(() => {
        fail(new IrcTimeoutError('ERR_CONNECT_TIMEOUT', `${where}: no connection to ${addr}:${port} within ${timeout} ms`, timeout));
      }, timeout);
      timer.unref();
      socket.once('error', fail);
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off('error', fail);
        this.#connectors.delete(connector.id);
        const conn = new Connection({
          id: this.#nextConnectionId++,
          socket,
          origin: 'connector',
          originId: connector.id,
          args: opts.args,
          idle,
          limits,
          tls: socket instanceof TLSSocket ? tlsInfo(socket) : undefined,
          hooks: this.#hooks,
          firstLineDeadline: false,
          flood: undefined,
          admission: undefined,
          admissionKey: undefined,
        });
        this.#connections.set(conn.id, conn);
        if (channels.open.hasSubscribers) channels.open.publish({ connection: conn });
        this.emit('connectorOpen', conn);
        resolve(conn);
      });
      this.#connectors.set(connector.id, connector);
      this.#aborts.set(connector, fail);
    });
    p.catch(noop);
    return p;
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
    return this.#sendBuffer(this.#encode(message), targets);
  }

  /**
   * Sends a line as it is (CRLF added). For consoles and proxies that relay
   * text they did not build; it must not hold CR, LF or NUL.
   *
   * @throws IrcFormatError for CR, LF or NUL in the line.
   */
  sendLine(line: string, ...targets: (ConnectionTarget | readonly ConnectionTarget[])[]): number {
    if (/[\0\r\n]/.test(line)) throw new IrcFormatError('sendLine(): the line holds CR, LF or NUL', 'line');
    return this.#sendBuffer(Buffer.from(line + '\r\n'), targets);
  }

  #encode(message: IrcMessage | IrcMessageInit): Buffer {
    return Buffer.from(formatLine(message, this.#formatOpts) + '\r\n');
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

  #enqueue(buf: Buffer, target: ConnectionTarget): number {
    const conn = typeof target === 'number' ? this.#connections.get(target) : target;
    // enqueue refuses connections of another backend and closed ones.
    return conn !== undefined && conn.enqueue(buf, this.#hooks) ? 1 : 0;
  }

  /**
   * `send` to every live connection, or every one but `except`: no target
   * list to build for the commonest fan-out. Returns how many it was queued to.
   */
  broadcast(message: IrcMessage | IrcMessageInit, except?: ConnectionTarget): number {
    const buf = this.#encode(message);
    const skip = typeof except === 'number' ? this.#connections.get(except) : except;
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
    conn.disconnect(reason);
    return true;
  }

  /** Drops what is queued and closes at once. False for an unknown target. */
  disconnectNow(target: ConnectionTarget, reason = 'Client disconnect'): boolean {
    const conn = this.#find(target);
    if (conn === undefined) return false;
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
   * connection after its queue drains (each with its deadline), and resolves
   * when every socket is closed. Afterwards no ircsock handle or timer is left.
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
    for (const connector of [...this.#connectors.values()]) this.#aborts.get(connector)?.(closedError('createConnector()'));
    for (const conn of [...this.#connections.values()]) conn.disconnect(reason);
    for (const socket of [...this.#handshaking]) socket.destroy();
    this.#handshaking.clear();
    // Each leaves #checking on its 'close' (its admission count released), then shutdown may settle.
    for (const socket of [...this.#checking]) socket.destroy();
    this.#maybeSettled();
    return this.#shutdown;
  }

  #find(target: ConnectionTarget): Connection | undefined {
    const conn = typeof target === 'number' ? this.#connections.get(target) : target;
    return conn !== undefined && this.#connections.get(conn.id) === conn ? conn : undefined;
  }

  /** The built-in admission limits, on the raw socket; false when the peer was turned away. */
  /**
   * The built-in admission limits, on the raw socket. Returns false when the
   * peer was turned away, else the admission key the connection must release
   * when it ends (undefined when there is none to carry).
   */
  #gate(socket: Socket, listener: Listener): string | false | undefined {
    if (this.#closing) {
      socket.destroy();
      return false;
    }
    const admission = listener.admission;
    if (admission === undefined) return undefined;
    const verdict = admission.admit(socket.remoteAddress ?? '');
    if (!verdict.ok) {
      this.#refuse(socket, listener, verdict.code, verdict.reason);
      return false;
    }
    if (listener.tls) {
      // The raw socket closes however a TLS connection ends, handshake failures included.
      socket.once('close', () => admission.release(verdict.key));
      return undefined;
    }
    // A plain connection carries its key, saving a closure per connection.
    return verdict.key;
  }

  /** Runs the listener's `check` hook, if any, then accepts. */
  #check(socket: Socket, listener: Listener, key: string | undefined): void {
    const check = listener.check;
    if (check === undefined) {
      this.#accept(socket, listener, key);
      return;
    }
    const release = (): void => {
      if (key !== undefined) listener.admission?.release(key);
    };
    const req = { addr: socket.remoteAddress ?? '', port: socket.remotePort ?? 0, listener };
    // Until a Connection owns the socket, an error on it must not go unhandled.
    socket.on('error', noop);
    // Tracked so that shutdown can close it, and if it closes first (the peer
    // left, or shutdown) its count is released at once: a hook may never settle.
    this.#checking.add(socket);
    let pending = true;
    const settle = (): boolean => {
      if (!pending) return false;
      pending = false;
      socket.off('error', noop);
      socket.off('close', onClose);
      this.#checking.delete(socket);
      return true;
    };
    const onClose = (): void => {
      if (!settle()) return;
      release();
      this.#maybeSettled();
    };
    socket.once('close', onClose);
    const decide = (verdict: boolean | string): void => {
      if (!settle()) return;
      if (verdict === true && !socket.destroyed) {
        this.#accept(socket, listener, key);
        return;
      }
      release();
      if (!socket.destroyed) {
        this.#refuse(socket, listener, 'ERR_CHECK_REFUSED', typeof verdict === 'string' ? verdict : 'Access denied');
      }
    };
    const failed = (err: unknown): void => {
      if (settle()) {
        release();
        this.#refuse(socket, listener, 'ERR_CHECK_FAILED', 'Access check failed');
      }
      this.emit('listenerFailure', listener, err as NodeJS.ErrnoException);
    };
    let verdict: boolean | string | Promise<boolean | string>;
    try {
      verdict = check(req);
    } catch (err) {
      failed(err);
      return;
    }
    // Any thenable is awaited; anything else (`null` from a JavaScript hook included) is a verdict.
    if (typeof (verdict as Partial<PromiseLike<unknown>> | null)?.then === 'function') {
      (verdict as Promise<boolean | string>).then(decide, failed);
    } else {
      decide(verdict as boolean | string);
    }
  }

  /**
   * Turns a peer away: one `ERROR` line when that needs no waiting (plain
   * TCP; a TLS peer has no session yet), then the socket is closed.
   */
  #refuse(socket: Socket, listener: Listener, code: string, reason: string): void {
    const addr = socket.remoteAddress ?? '';
    const port = socket.remotePort ?? 0;
    if (!socket.destroyed) {
      if (socket instanceof TLSSocket || listener.tls) {
        if (!(socket instanceof TLSSocket)) this.#refusedTls.add(socket);
        socket.destroy();
      } else {
        socket.on('error', noop);
        socket.end(`ERROR :Closing link: ${addr} (${reason})\r\n`);
        socket.once('finish', () => socket.destroy());
      }
    }
    const refusal = { listener, addr, port, code, reason };
    if (channels.refused.hasSubscribers) channels.refused.publish({ refusal });
    this.emit('connectionRefused', refusal);
  }

  #accept(socket: Socket, listener: Listener, admissionKey: string | undefined): void {
    if (socket.destroyed || this.#closing) {
      if (admissionKey !== undefined) listener.admission?.release(admissionKey);
      socket.destroy();
      return;
    }
    const conn = new Connection({
      id: this.#nextConnectionId++,
      socket,
      origin: 'listener',
      originId: listener.id,
      args: listener.args,
      idle: listener.idle,
      limits: listener.limits,
      tls: socket instanceof TLSSocket ? tlsInfo(socket) : undefined,
      hooks: this.#hooks,
      firstLineDeadline: true,
      flood: listener.flood,
      admission: listener.admission,
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

  #serverTlsOptions(where: string, own: BackendTlsOptions | undefined): TlsOptions {
    const base = this.#tls;
    const merged: TlsOptions = {
      // IRC servers ask for a client certificate (CertFP, SASL EXTERNAL) but do not require one.
      requestCert: true,
      rejectUnauthorized: false,
      ...base,
      ...(own === undefined ? {} : loadTlsFiles(where, own)),
    };
    if (merged.key === undefined && merged.pfx === undefined && merged.SNICallback === undefined) {
      throw new IrcTlsError(
        `${where}: a TLS listener needs a key and certificate: new Backend({ tls: { key, cert } }) or the listener's own tls option`,
      );
    }
    return merged;
  }

  #closeServer(server: net.Server): void {
    server.close(() => {
      this.#openServers--;
      this.#maybeSettled();
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
      this.#checking.size === 0 &&
      this.#openServers === 0
    ) {
      const settle = this.#settle;
      this.#settle = undefined;
      settle();
    }
  }
}

function checkFlood(where: string, flood: FloodOptions): FloodOptions {
  checkKeys(`${where} flood`, flood, FLOOD_KEYS);
  for (const key of ['rate', 'burst'] as const) {
    const v = flood[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: flood.${key} must be a positive number, got ${String(v)}`);
    }
  }
  // JavaScript callers get no type check: look at the value itself.
  const mode: unknown = flood.mode;
  if (mode !== undefined && mode !== 'delay' && mode !== 'disconnect') {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: flood.mode must be 'delay' or 'disconnect'`);
  }
  if (flood.maxDelay !== undefined) checkDuration(where, 'flood.maxDelay', flood.maxDelay);
  return { ...flood };
}

/**
 * The raw TCP socket under a server-side TLSSocket (`_parent`, Node's own
 * field; no public API gives it). Without it, refusal echoes and lost peer
 * addresses come back, nothing worse.
 */
function parentOf(socket: TLSSocket): Socket | undefined {
  const raw = (socket as unknown as { _parent?: unknown })._parent;
  return raw instanceof net.Socket ? raw : undefined;
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
