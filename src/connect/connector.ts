import type { Connection } from '../connection/connection.js';
import { IrcConnectorError, IrcTimeoutError } from '../errors.js';
import type { Transport } from '../transport/transport.js';
import type { Dial } from './dial.js';
import { Backoff } from './reconnect.js';

export type ConnectorId = number;

/**
 * Where a connector is in its life: an attempt under way, a connection up,
 * waiting before the next attempt, or done for good.
 */
export type ConnectorState = 'connecting' | 'open' | 'waiting' | 'closed';

/** @internal What a connector asks of the backend that made it. */
export interface ConnectorHost {
  /** A connection was made (`connectorOpen`); the connector already knows it, so a handler may close either. */
  opened(connector: Connector, conn: Connection): void;
  /** The connector entered or left `connecting`/`waiting` (the pending table). */
  pending(connector: Connector, pending: boolean): void;
  failed(connector: Connector, err: Error): void;
  retrying(connector: Connector, delay: number, cause: Error): void;
  closed(connector: Connector, cause: Error | undefined): void;
  /** Closes the connector's connection as ours (it must not retry). */
  disconnect(conn: Connection, reason: string): void;
  /** Closes the connector's connection so that the connector dials again (`retry()`). */
  drop(conn: Connection, reason: string): void;
}

/** @internal */
export interface ConnectorInit {
  id: ConnectorId;
  addr: string;
  port: number;
  path: string | undefined;
  url: string | undefined;
  bindAddr: string | undefined;
  family: 4 | 6 | undefined;
  tls: boolean;
  proxy: boolean;
  socks: { host: string; port: number; version: 4 | 5 } | undefined;
  args: unknown;
  timeout: number;
  backoff: Backoff | undefined;
  host: ConnectorHost;
  /** Opens the wire once; `done` is called exactly once. */
  dial: (done: (err: Error | undefined, transport: Transport | undefined) => void) => Dial;
  /** Wraps an opened wire in a Connection (in the backend's tables, not yet announced). */
  open: (connector: Connector, transport: Transport) => Connection;
}

/**
 * An outgoing connection and its life (the seed's
 * POEx::IRC::Backend::Connector, which was one attempt): it dials, and with
 * `reconnect` it dials again after the connection drops or an attempt fails,
 * until it gives up or is closed. Each connection it makes is a new
 * `Connection` whose `connector` is this object.
 */
export class Connector {
  readonly id: ConnectorId;
  /** `tcp`, `tls`, `unix` (TLS over a Unix socket is `unix` with `tls: true`), `ws` or `wss`. */
  readonly kind: 'tcp' | 'tls' | 'unix' | 'ws' | 'wss';
  /** Host name or address it connects to (`''` for a Unix socket). */
  readonly addr: string;
  /** 0 for a Unix socket. */
  readonly port: number;
  /** The socket file it connects to, for a Unix socket. */
  readonly path: string | undefined;
  /** The URL of a WebSocket connector. */
  readonly url: string | undefined;
  readonly bindAddr: string | undefined;
  /** 6 when asked for IPv6 or given an IPv6 address, 4 for an IPv4 address; `undefined` when either may do (a host name) or for a Unix socket. */
  readonly family: 4 | 6 | undefined;
  readonly tls: boolean;
  /** Whether it sends a PROXY header before anything else. */
  readonly proxy: boolean;
  /** The SOCKS proxy it goes through (its password is not kept here). */
  readonly socks: { readonly host: string; readonly port: number; readonly version: 4 | 5 } | undefined;
  /** Handed to each connection it makes. */
  readonly args: unknown;

  #state: ConnectorState = 'connecting';
  #connection: Connection | undefined;
  #attempts = 0;
  #openedAt = 0;
  #closing: string | undefined;
  #dial: Dial | undefined;
  #timer: NodeJS.Timeout | undefined;
  readonly #timeout: number;
  readonly #backoff: Backoff | undefined;
  readonly #host: ConnectorHost;
  readonly #dialWire: ConnectorInit['dial'];
  readonly #open: ConnectorInit['open'];
  /** Set by `retry()` until the connection it drops has closed. */
  #retryCause: Error | undefined;
  #first: { resolve(c: Connection): void; reject(e: Error): void } | undefined;
  /** @internal The promise of the first connection. */
  readonly firstConnection: Promise<Connection>;

  /** @internal */
  constructor(init: ConnectorInit) {
    this.id = init.id;
    this.addr = init.addr;
    this.port = init.port;
    this.path = init.path;
    this.url = init.url;
    this.bindAddr = init.bindAddr;
    this.family = init.family;
    this.tls = init.tls;
    this.kind = init.url !== undefined ? (init.tls ? 'wss' : 'ws') : init.path !== undefined ? 'unix' : init.tls ? 'tls' : 'tcp';
    this.proxy = init.proxy;
    this.socks = init.socks;
    this.args = init.args;
    this.#timeout = init.timeout;
    this.#backoff = init.backoff;
    this.#host = init.host;
    this.#dialWire = init.dial;
    this.#open = init.open;
    this.firstConnection = new Promise<Connection>((resolve, reject) => {
      this.#first = { resolve, reject };
    });
  }

  /** `connecting`, `open`, `waiting` (before the next attempt) or `closed`. */
  get state(): ConnectorState {
    return this.#state;
  }

  /** The connection it has up now, if any. */
  get connection(): Connection | undefined {
    return this.#connection;
  }

  /** Attempts made so far, the first included. */
  get attempts(): number {
    return this.#attempts;
  }

  /** Whether it reconnects (a `reconnect` option was given). */
  get reconnects(): boolean {
    return this.#backoff !== undefined;
  }

  /** Where it connects to, for messages: the URL, the socket path, or host:port. */
  get target(): string {
    return this.url ?? this.path ?? (this.addr.includes(':') ? `[${this.addr}]:${this.port}` : `${this.addr}:${this.port}`);
  }

  /**
   * Ends the connector for good: an attempt in flight is abandoned, a wait
   * before the next attempt cancelled, a connection up is disconnected (after
   * its queue drains) and not replaced. A first connection not yet made
   * rejects with `ERR_CONNECTOR_CLOSED`. Closing twice does nothing.
   */
  close(reason = 'Client disconnect'): void {
    this.abandon(reason, new IrcConnectorError('ERR_CONNECTOR_CLOSED', `connector to ${this.target} closed: ${reason}`));
  }

  /**
   * Drops the connection it has up (after its queue drains, so a last QUIT
   * goes out) and dials again as if the server had dropped it, on the
   * `reconnect` schedule — what a client does on a ping timeout or a server
   * link on a protocol error, where `disconnect` would end the connector.
   * A connector waiting for its next attempt dials at once. Without
   * `reconnect` it dials once more, at once. The cause its `connectorRetry`
   * carries is `ERR_CONNECTOR_RETRY`. Nothing happens while it is connecting
   * or after it has closed.
   */
  retry(reason = 'Reconnecting'): void {
    if (this.#closing !== undefined) return;
    const cause = new IrcConnectorError('ERR_CONNECTOR_RETRY', `connector to ${this.target}: retry(): ${reason}`);
    if (this.#state === 'open') {
      if (this.#retryCause !== undefined) return;
      this.#retryCause = cause;
      this.#host.drop(this.#connection as Connection, reason);
    } else if (this.#state === 'waiting') {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#host.pending(this, false);
      this.#attempt();
    }
  }

  /** @internal `close` with the cause a pending attempt hears (shutdown's is `ERR_BACKEND_CLOSED`). */
  abandon(reason: string, cause: Error): void {
    if (this.#state === 'closed' || this.#closing !== undefined) return;
    this.#closing = reason;
    switch (this.#state) {
      case 'connecting':
        // The dial's failure path ends the connector (its 'done' hears the abort).
        this.#dial?.abort(cause);
        return;
      case 'waiting':
        clearTimeout(this.#timer);
        this.#finish(cause);
        return;
      case 'open':
        // Finishes when the connection's disconnect comes back to us.
        this.#host.disconnect(this.#connection as Connection, reason);
        return;
    }
  }

  /** @internal Starts the first attempt (after the backend has it in its tables). */
  start(): void {
    this.#attempt();
  }

  #attempt(): void {
    this.#state = 'connecting';
    this.#attempts++;
    this.#host.pending(this, true);
    let settled = false;
    const done = (err: Error | undefined, transport: Transport | undefined): void => {
      if (settled) {
        transport?.destroy();
        return;
      }
      settled = true;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#dial = undefined;
      if (err !== undefined || transport === undefined) {
        this.#failed(err ?? new Error('no transport'));
        return;
      }
      this.#opened(transport);
    };
    this.#timer = setTimeout(() => {
      const timeout = this.#timeout;
      const err = new IrcTimeoutError('ERR_CONNECT_TIMEOUT', `createConnector(): no connection to ${this.target} within ${timeout} ms`, timeout);
      // abort() makes the dial call done(err) (and destroy its socket).
      this.#dial?.abort(err);
      done(err, undefined);
    }, this.#timeout);
    this.#timer.unref();
    let dial: Dial;
    try {
      dial = this.#dialWire(done);
    } catch (err) {
      // net.connect, tls.connect and new WebSocket throw at once for some options (a bad cipher
      // list, a subprotocol with a space): an attempt that failed, not a connector left half-made.
      done(err instanceof Error ? err : new Error(String(err)), undefined);
      return;
    }
    // `done` may have run inside the dial (TypeScript cannot see the closure set `settled`).
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    if (!settled) this.#dial = dial;
  }

  #opened(transport: Transport): void {
    this.#state = 'open';
    this.#openedAt = Date.now();
    this.#host.pending(this, false);
    const conn = this.#open(this, transport);
    this.#connection = conn;
    const first = this.#first;
    this.#first = undefined;
    first?.resolve(conn);
    this.#host.opened(this, conn);
  }

  #failed(err: Error): void {
    this.#host.pending(this, false);
    this.#host.failed(this, err);
    this.#retryOrFinish(err);
  }

  /** @internal The connection it made has closed; `ours` when the application (or shutdown) closed it. */
  connectionClosed(conn: Connection, ours: boolean, reason: string, err: Error | undefined): void {
    if (conn !== this.#connection) return;
    this.#connection = undefined;
    const retried = this.#retryCause;
    this.#retryCause = undefined;
    const cause = retried ?? err ?? new IrcConnectorError('ERR_PEER_CLOSED', `${this.target} closed the connection: ${reason}`);
    if (ours) {
      this.#closing ??= reason;
      this.#finish(undefined);
      return;
    }
    this.#backoff?.connectedFor(Date.now() - this.#openedAt);
    this.#retryOrFinish(cause, retried !== undefined);
  }

  #retryOrFinish(cause: Error, asked = false): void {
    if (this.#closing !== undefined) {
      this.#finish(cause);
      return;
    }
    // retry() on a connector without a schedule: one more attempt, at once.
    const delay = this.#backoff?.next(cause) ?? (asked ? 0 : false);
    if (delay === false) {
      this.#finish(cause);
      return;
    }
    this.#state = 'waiting';
    this.#host.pending(this, true);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#host.pending(this, false);
      this.#attempt();
    }, delay);
    // Told after the timer exists, so a handler (or a test's mock clock) sees the wait it announces.
    this.#host.retrying(this, delay, cause);
  }

  #finish(cause: Error | undefined): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#host.pending(this, false);
    const first = this.#first;
    this.#first = undefined;
    // A first connection never made: the promise says why (an abandoned one, that it was closed).
    first?.reject(cause ?? new IrcConnectorError('ERR_CONNECTOR_CLOSED', `connector to ${this.target} closed`));
    this.#host.closed(this, cause);
  }
}
