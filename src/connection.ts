import type { Socket } from 'node:net';
import { IrcLimitError, IrcTimeoutError, type IrcLineTooLongError, type IrcParseError } from './errors.js';
import { LineDecoder } from './framing/line-decoder.js';
import type { Limits } from './limits.js';
import type { IrcMessage } from './message/message.js';
import { parseLine } from './message/parse.js';
import type { TlsInfo } from './transport/tls.js';

export type ConnectionId = number;

/** What a connection tells the backend; the backend owns the events and tables. */
export interface ConnectionHooks {
  input(conn: Connection, msg: IrcMessage): void;
  inputError(conn: Connection, err: IrcParseError | IrcLineTooLongError): void;
  idle(conn: Connection): void;
  sendQueueHigh(conn: Connection, queuedBytes: number): void;
  /** Called exactly once, when the socket is gone. */
  closed(conn: Connection, reason: string, err: Error | undefined): void;
  /** Asks for `flush()` once the current turn of the event loop is over. */
  scheduleFlush(conn: Connection): void;
}

/** @internal */
export interface ConnectionInit {
  id: ConnectionId;
  socket: Socket;
  origin: 'listener' | 'connector';
  originId: number;
  args: unknown;
  idle: number;
  limits: Limits;
  tls: TlsInfo | undefined;
  hooks: ConnectionHooks;
}

const SENDQ_ERROR = Buffer.from('ERROR :SendQ exceeded\r\n');
// After a SendQ overflow the peer is not reading: give the ERROR line a moment, no more.
const SENDQ_GRACE = 1_000;

/**
 * One live peer (the seed's POEx::IRC::Backend::Connect). Created by the
 * backend for each accepted or connected socket; read its fields, set the
 * free flags, and act on it through the backend (`send`, `disconnect`).
 */
export class Connection {
  readonly id: ConnectionId;
  /** Whether a listener accepted this connection or a connector made it. */
  readonly origin: 'listener' | 'connector';
  /** The id of that listener or connector. */
  readonly originId: number;
  readonly protocol: 4 | 6;
  readonly peerAddr: string;
  readonly peerPort: number;
  readonly sockAddr: string;
  readonly sockPort: number;
  /** TLS facts, or `undefined` on a plain connection. */
  readonly tls: TlsInfo | undefined;
  /** Handed on from the listener or connector that made this connection. */
  readonly args: unknown;
  readonly limits: Readonly<Limits>;
  /** When input last arrived (ms since the epoch). */
  seen: number;
  /** Milliseconds without input before `connectionIdle` fires (0: never). */
  readonly idle: number;
  /** Whether the link is zlib-compressed. */
  compressed = false;
  /** `false`, or the reason given when the backend started closing it. */
  disconnecting: string | false = false;
  /** `false` once the socket is gone (after the `disconnect` event). */
  connected = true;
  /** Free flags for the layers above; ircsock never reads them. */
  isClient = false;
  isPeer = false;
  pingPending = false;
  bytesIn = 0;
  bytesOut = 0;
  linesIn = 0;
  linesOut = 0;

  readonly #socket: Socket;
  readonly #hooks: ConnectionHooks;
  readonly #decoder: LineDecoder;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  #highFired = false;
  #ended = false;
  #finalized = false;
  #closeReason: string | undefined = undefined;
  #closeError: Error | undefined = undefined;
  #idleTimer: NodeJS.Timeout | undefined = undefined;
  #closeTimer: NodeJS.Timeout | undefined = undefined;

  constructor(init: ConnectionInit) {
    const s = init.socket;
    this.id = init.id;
    this.origin = init.origin;
    this.originId = init.originId;
    this.args = init.args;
    this.limits = init.limits;
    this.tls = init.tls;
    this.idle = init.idle;
    this.peerAddr = s.remoteAddress ?? '';
    this.peerPort = s.remotePort ?? 0;
    this.sockAddr = s.localAddress ?? '';
    this.sockPort = s.localPort ?? 0;
    this.protocol = s.remoteFamily === 'IPv6' ? 6 : 4;
    this.seen = Date.now();
    this.#socket = s;
    this.#hooks = init.hooks;
    this.#decoder = new LineDecoder({ maxTagBytes: init.limits.maxTagBytes, maxBodyBytes: init.limits.maxBodyBytes });

    s.setNoDelay(true);
    s.on('data', (chunk: Buffer) => {
      this.#onData(chunk);
    });
    s.on('drain', () => {
      this.flush();
    });
    s.on('finish', () => {
      // Everything we queued reached the kernel and our FIN went out.
      if (this.disconnecting !== false) s.destroy();
    });
    s.on('error', (err: Error) => {
      this.#closeError ??= err;
      this.#closeReason ??= reasonFor(err);
    });
    s.on('close', () => {
      this.#finalize();
    });
    if (this.idle > 0) this.#armIdle(this.idle);
  }

  /** The underlying socket (the seed's `get_socket`), for what ircsock does not cover. */
  get socket(): Socket {
    return this.#socket;
  }

  /** Bytes waiting to reach the kernel: ircsock's queue plus the socket's buffer. */
  get queuedBytes(): number {
    return this.#pendingBytes + this.#socket.writableLength;
  }

  /** @internal Queues one formatted line; false when it was dropped. */
  enqueue(buf: Buffer): boolean {
    if (this.disconnecting !== false || !this.connected) return false;
    this.#pending.push(buf);
    this.#pendingBytes += buf.length;
    this.linesOut++;
    const queued = this.#pendingBytes + this.#socket.writableLength;
    if (queued > this.limits.sendQ) {
      this.#sendQExceeded(queued);
      return false;
    }
    if (!this.#highFired && queued >= this.limits.sendQHighWater) {
      this.#highFired = true;
      this.#hooks.sendQueueHigh(this, queued);
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#hooks.scheduleFlush(this);
    }
    return true;
  }

  /**
   * @internal Hands the queue to the socket as one write. While the socket's
   * buffer is full the queue keeps growing here instead, as one batch for the
   * next 'drain', so a SendQ overflow can drop it and still say why.
   */
  flush(): void {
    this.#scheduled = false;
    if (this.#pendingBytes === 0 || this.#socket.destroyed || this.#ended) return;
    if (this.#socket.writableNeedDrain) return;
    this.#writeOut();
    if (this.#highFired && this.queuedBytes < this.limits.sendQHighWater / 2) this.#highFired = false;
  }

  #writeOut(): void {
    const data = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending, this.#pendingBytes);
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    this.bytesOut += data.length;
    this.#socket.write(data);
  }

  /** @internal Close once the queue has drained; by force after `limits.disconnectTimeout`. */
  disconnect(reason: string): void {
    if (this.#finalized || this.disconnecting !== false) return;
    this.disconnecting = reason;
    this.#closeReason ??= reason;
    if (this.#pendingBytes > 0 && !this.#socket.destroyed) this.#writeOut();
    this.#end(this.limits.disconnectTimeout);
  }

  /** @internal Drop the queue and close now. */
  disconnectNow(reason: string, err?: Error): void {
    if (this.#finalized) return;
    if (this.disconnecting === false) this.disconnecting = reason;
    this.#closeReason ??= reason;
    if (err !== undefined) this.#closeError ??= err;
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    this.#socket.destroy();
  }

  #end(deadline: number): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#socket.end();
    this.#closeTimer = setTimeout(() => {
      this.#closeError ??= new IrcTimeoutError(
        'ERR_DISCONNECT_TIMEOUT',
        `peer did not take the last ${this.#socket.writableLength} bytes within ${deadline} ms`,
        deadline,
      );
      this.#socket.destroy();
    }, deadline);
    this.#closeTimer.unref();
  }

  #sendQExceeded(queued: number): void {
    const limit = this.limits.sendQ;
    this.#closeError ??= new IrcLimitError('ERR_SENDQ_EXCEEDED', `SendQ exceeded: ${queued} bytes queued, limit ${limit}`, limit);
    this.#closeReason ??= 'SendQ exceeded';
    this.disconnecting = 'SendQ exceeded';
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    if (!this.#socket.destroyed && !this.#ended) this.#socket.write(SENDQ_ERROR);
    this.#end(Math.min(SENDQ_GRACE, this.limits.disconnectTimeout));
  }

  #onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.seen = Date.now();
    this.#decoder.write(chunk);
    this.#dispatch();
  }

  #dispatch(): void {
    const decoder = this.#decoder;
    const hooks = this.#hooks;
    while (!this.#socket.destroyed) {
      const item = decoder.next();
      if (item === undefined) return;
      if (typeof item !== 'string') {
        hooks.inputError(this, item);
        continue;
      }
      this.linesIn++;
      let msg: IrcMessage;
      try {
        msg = parseLine(item);
      } catch (err) {
        hooks.inputError(this, err as IrcParseError);
        continue;
      }
      hooks.input(this, msg);
    }
  }

  // One timer per idle period, not one re-arm per line: input only moves `seen`,
  // and the timer, when it fires, sleeps again for whatever is left.
  #armIdle(delay: number): void {
    this.#idleTimer = setTimeout(() => {
      this.#onIdleTimer();
    }, delay);
    this.#idleTimer.unref();
  }

  #onIdleTimer(): void {
    if (this.#finalized) return;
    const quiet = Date.now() - this.seen;
    if (quiet >= this.idle) {
      this.#armIdle(this.idle);
      this.#hooks.idle(this);
    } else {
      this.#armIdle(this.idle - quiet);
    }
  }

  #finalize(): void {
    if (this.#finalized) return;
    this.#finalized = true;
    this.connected = false;
    if (this.disconnecting === false) this.disconnecting = this.#closeReason ?? 'Connection closed';
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#closeTimer);
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    this.#decoder.takeRemainder();
    this.#hooks.closed(this, this.#closeReason ?? 'Connection closed', this.#closeError);
  }
}

function reasonFor(err: Error): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ECONNRESET':
      return 'Connection reset by peer';
    case 'EPIPE':
      return 'Broken pipe';
    case 'ETIMEDOUT':
      return 'Connection timed out';
    default:
      return err.message;
  }
}
