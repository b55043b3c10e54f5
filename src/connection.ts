import type { Socket } from 'node:net';
import { IrcLimitError, IrcTimeoutError, type IrcLineTooLongError, type IrcParseError, type IrcsockError } from './errors.js';
import { LineDecoder } from './framing/line-decoder.js';
import { LinkDeflater, LinkInflater } from './framing/zlib.js';
import type { FloodOptions, Limits } from './limits.js';
import { TokenBucket } from './limits/token-bucket.js';
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
  sendQueueLow(conn: Connection, queuedBytes: number): void;
  compressed(conn: Connection): void;
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
  /** Drop the connection when no complete line arrives in `limits.firstLineTimeout`. */
  firstLineDeadline: boolean;
  flood: FloodOptions | undefined;
  /** Released when the connection ends, so admission counts stay true. */
  admission: { release(key: string): unknown } | undefined;
  admissionKey: string | undefined;
}

interface FloodState {
  readonly bucket: TokenBucket;
  readonly disconnects: boolean;
  readonly maxDelay: number;
  /** The line held back, and the timer that lets it go. */
  held: string | undefined;
  timer: NodeJS.Timeout | undefined;
}

const CONN: unique symbol = Symbol('ircsock.connection');
type OwnedSocket = Socket & { [CONN]: Connection };

const SENDQ_ERROR = Buffer.from('ERROR :SendQ exceeded\r\n');
const EMPTY = Buffer.alloc(0);
// After a SendQ overflow the peer is not reading: give the ERROR line a moment, no more.
const SENDQ_GRACE = 1_000;
// How long a closing connection waits for the peer's FIN after sending its own.
const LINGER = 2_000;

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
  #queuedBelow = 0;
  #scheduled = false;
  #highFired = false;
  #ended = false;
  #finalized = false;
  #closeReason: string | undefined = undefined;
  #closeError: Error | undefined = undefined;
  // One timer serves the idle events and the first-line deadline.
  #idleTimer: NodeJS.Timeout | undefined = undefined;
  #firstLine: number;
  #idleMark = 0;
  #closeTimer: NodeJS.Timeout | undefined = undefined;
  readonly #admission: { release(key: string): unknown } | undefined;
  readonly #admissionKey: string | undefined;
  // Flood control, only on connections that have it: most never do.
  readonly #flood: FloodState | undefined;
  #inflater: LinkInflater | undefined = undefined;
  #deflater: LinkDeflater | undefined = undefined;
  // Compressed streams being wound down by unsetCompressedLink: plain input
  // waits behind what the old inflater still holds, plain output behind the
  // old deflater's last batch.
  #oldInflater: LinkInflater | undefined = undefined;
  #oldDeflater: LinkDeflater | undefined = undefined;
  #heldOutput: Buffer[] | undefined = undefined;
  #compressAfterDrain = false;
  #endWhenDeflated = false;

  /** @internal Connections are made by the backend. */
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
    const flood = init.flood;
    this.#flood =
      flood === undefined
        ? undefined
        : {
            bucket: new TokenBucket({ rate: flood.rate, burst: flood.burst }),
            disconnects: flood.mode === 'disconnect',
            maxDelay: flood.maxDelay ?? 10_000,
            held: undefined,
            timer: undefined,
          };

    this.#admission = init.admission;
    this.#admissionKey = init.admissionKey;
    const firstLine = init.limits.firstLineTimeout;
    this.#firstLine = init.firstLineDeadline && Number.isFinite(firstLine) ? firstLine : Infinity;

    // Shared handlers that find their connection on the socket: tens of
    // thousands of idle connections must not each carry five closures.
    (s as OwnedSocket)[CONN] = this;
    s.setNoDelay(true);
    const on = Connection.#handlers;
    /* eslint-disable @typescript-eslint/unbound-method -- EventEmitter calls them with the socket as `this`, as they expect */
    s.on('data', on.data);
    s.on('drain', on.drain);
    s.on('end', on.end);
    s.on('finish', on.finish);
    s.on('error', on.error);
    s.on('close', on.close);
    /* eslint-enable @typescript-eslint/unbound-method */
    this.#armTimer(this.seen);
  }

  static readonly #handlers = {
    data: function (this: OwnedSocket, chunk: Buffer): void {
      this[CONN].#onData(chunk);
    },
    drain: function (this: OwnedSocket): void {
      this[CONN].flush();
    },
    end: function (this: OwnedSocket): void {
      // The peer sent its FIN; Node ends our side on the next tick. What this
      // turn queued (a reply to its QUIT) goes out first: a half-closed peer still reads.
      this[CONN].#flushBeforeEnd();
    },
    finish: function (this: OwnedSocket): void {
      // Everything we queued reached the kernel and our FIN went out.
      const conn = this[CONN];
      if (conn.disconnecting !== false) conn.#linger();
    },
    error: function (this: OwnedSocket, err: Error): void {
      const conn = this[CONN];
      conn.#closeError ??= err;
      conn.#closeReason ??= reasonFor(err);
    },
    close: function (this: OwnedSocket): void {
      this[CONN].#finalize();
    },
    timer: (conn: Connection): void => {
      conn.#onTimer();
    },
  };

  /** The underlying socket (the seed's `get_socket`), for what ircsock does not cover. */
  get socket(): Socket {
    return this.#socket;
  }

  /** Bytes waiting to reach the kernel: ircsock's queue plus the socket's buffer. */
  get queuedBytes(): number {
    return this.#pendingBytes + this.#socket.writableLength + this.#deflatedPending();
  }

  #deflatedPending(): number {
    return (this.#deflater?.pending ?? 0) + (this.#oldDeflater?.pending ?? 0);
  }

  /** @internal Queues one formatted line; false when it was dropped. */
  enqueue(buf: Buffer, owner: ConnectionHooks): boolean {
    if (owner !== this.#hooks || this.disconnecting !== false || !this.connected) return false;
    // What sits below our queue cannot shrink before the next flush: read it
    // once per batch, not once per line of a fan-out.
    if (!this.#scheduled) this.#queuedBelow = this.#socket.writableLength + this.#deflatedPending();
    this.#pending.push(buf);
    this.#pendingBytes += buf.length;
    this.linesOut++;
    const queued = this.#pendingBytes + this.#queuedBelow;
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
    // Sends made after setCompressedLink wait for the switch, to go out compressed.
    if (this.#compressAfterDrain) return;
    if (this.#pendingBytes > 0 && !this.#socket.destroyed && !this.#ended && !this.#socket.writableNeedDrain) {
      this.#writeOut();
    }
    this.#checkLow();
  }

  #checkLow(): void {
    if (!this.#highFired) return;
    const queued = this.queuedBytes;
    if (queued >= this.limits.sendQHighWater / 2) return;
    this.#highFired = false;
    this.#hooks.sendQueueLow(this, queued);
  }

  #flushBeforeEnd(): void {
    if (this.#pendingBytes > 0 && !this.#compressAfterDrain && !this.#ended && !this.#socket.destroyed) this.#writeOut();
  }

  #writeOut(): void {
    const data = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending, this.#pendingBytes);
    // A fresh array: `length = 0` would keep the grown backing store on every idle connection.
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#writeRaw(data);
  }

  /** Bytes after the queue: through the deflater when compressed, else straight out. */
  #writeRaw(data: Buffer): void {
    if (this.#deflater !== undefined) {
      this.#deflater.write(data);
    } else if (this.#oldDeflater !== undefined) {
      (this.#heldOutput ??= []).push(data);
    } else {
      this.bytesOut += data.length;
      this.#socket.write(data);
    }
  }

  /** @internal Close once the queue has drained; by force after `limits.disconnectTimeout`. */
  disconnect(reason: string): void {
    if (this.#finalized || this.disconnecting !== false) return;
    this.disconnecting = reason;
    this.#closeReason ??= reason;
    // A setCompressedLink switch still waiting for the drain happens now:
    // what was queued before it is in the socket already, so the sends made
    // after it go out compressed, as the peer expects, not plain.
    if (this.#compressAfterDrain && !this.#socket.destroyed) {
      this.#compressAfterDrain = false;
      this.#startCompression();
    }
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

  /**
   * @internal Compression in both directions from this point: what is queued
   * goes out plain first, every later send is deflated; every byte not yet
   * dispatched as a line — the rest of the socket read that carried the line
   * being handled included — is inflated.
   */
  compressNow(): void {
    if (this.#finalized || this.#inflater !== undefined) return;
    this.#compressAfterDrain = false;
    if (this.#pendingBytes > 0 && !this.#ended) this.#writeOut();
    this.#startCompression();
  }

  /** @internal Compression once what is queued now has reached the kernel (the seed's flushed event). */
  compressAfterDrain(): void {
    if (this.#finalized || this.#inflater !== undefined || this.#compressAfterDrain) return;
    if (this.#pendingBytes === 0 && this.#socket.writableLength === 0) {
      this.#startCompression();
      return;
    }
    if (this.#pendingBytes > 0 && !this.#ended) this.#writeOut();
    this.#compressAfterDrain = true;
    // Writes complete in order: this callback runs once everything before it is out.
    this.#socket.write(EMPTY, () => {
      if (!this.#compressAfterDrain || this.#finalized) return;
      this.#compressAfterDrain = false;
      this.#startCompression();
      if (this.#pendingBytes > 0) this.flush();
    });
  }

  #startCompression(): void {
    const fail = (err: IrcsockError): void => {
      this.disconnectNow(err.code === 'ERR_ZLIB' ? 'Compression error' : 'Decompression limit exceeded', err);
    };
    const inflater: LinkInflater = new LinkInflater({
      maxInflatedPerChunk: this.limits.maxInflatePerRead,
      onData: (chunk) => {
        this.#feed(chunk);
      },
      onDrain: () => {
        if (this.#oldInflater === inflater) this.#retireInflater();
      },
      onError: fail,
    });
    this.#inflater = inflater;
    this.#deflater = new LinkDeflater({
      onData: (chunk) => {
        this.bytesOut += chunk.length;
        this.#socket.write(chunk);
        this.#afterDeflate();
      },
      onError: fail,
    });
    this.compressed = true;
    const rest = this.#decoder.takeRemainder();
    if (rest.length > 0) inflater.write(rest);
    this.#hooks.compressed(this);
  }

  /**
   * @internal Back to plain in both directions: bytes already handed to the
   * inflater are still inflated and dispatched first, and plain input that
   * arrives meanwhile waits behind them; output queued so far goes out
   * compressed, every later send plain.
   */
  uncompress(): void {
    this.#compressAfterDrain = false;
    const inflater = this.#inflater;
    const deflater = this.#deflater;
    if (inflater === undefined || deflater === undefined) return;
    if (this.#pendingBytes > 0 && !this.#ended) this.#writeOut();
    this.#inflater = undefined;
    this.#deflater = undefined;
    this.compressed = false;
    this.#oldInflater = inflater;
    this.#oldDeflater = deflater;
    // Stop at the peer's switch point, the end of its batch under way: the
    // bytes after it (plain ones, read with it or later) are never inflated,
    // and are fed plain once that batch is done.
    inflater.stopAtBatchEnd();
    this.#retireInflater();
    this.#afterDeflate();
  }

  // Called after every inflated chunk while an old inflater winds down.
  #retireInflater(): void {
    const old = this.#oldInflater;
    if (old === undefined || !old.finished) return;
    const held = old.takeRest();
    old.close();
    this.#oldInflater = undefined;
    for (const chunk of held) this.#feed(chunk);
  }

  #afterDeflate(): void {
    const old = this.#oldDeflater;
    if (old !== undefined && old.pending === 0) {
      old.close();
      this.#oldDeflater = undefined;
      const held = this.#heldOutput ?? [];
      this.#heldOutput = undefined;
      for (const data of held) this.#writeRaw(data);
    }
    if (this.#endWhenDeflated && this.#deflatedPending() === 0 && !this.#socket.destroyed) {
      this.#endWhenDeflated = false;
      this.#socket.end();
    }
  }

  #end(deadline: number): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#deflatedPending() > 0) {
      this.#endWhenDeflated = true;
    } else {
      this.#socket.end();
    }
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

  /**
   * Our FIN is out: wait a moment for the peer's before closing. Closing at
   * once, while the peer still sends, makes the kernel answer with an RST,
   * which can throw away our last lines (the ERROR) before the peer reads them.
   * A peer that reads our FIN closes too, so this rarely waits.
   */
  #linger(): void {
    if (this.#socket.destroyed) return;
    clearTimeout(this.#closeTimer);
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), Math.min(LINGER, this.limits.disconnectTimeout));
    this.#closeTimer.unref();
  }

  #sendQExceeded(queued: number): void {
    const limit = this.limits.sendQ;
    this.#closeError ??= new IrcLimitError('ERR_SENDQ_EXCEEDED', `SendQ exceeded: ${queued} bytes queued, limit ${limit}`, limit);
    this.#closeReason ??= 'SendQ exceeded';
    this.disconnecting = 'SendQ exceeded';
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    if (!this.#socket.destroyed && !this.#ended) this.#writeRaw(SENDQ_ERROR);
    this.#end(Math.min(SENDQ_GRACE, this.limits.disconnectTimeout));
  }

  #onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    if (this.#inflater !== undefined) {
      this.#inflater.write(chunk);
    } else if (this.#oldInflater !== undefined) {
      // It takes what is left of the peer's last compressed batch, and keeps the rest for #retireInflater.
      this.#oldInflater.write(chunk);
    } else {
      this.#feed(chunk);
    }
  }

  #feed(chunk: Buffer): void {
    this.#decoder.write(chunk);
    this.#dispatch();
    // Only input that is held back can pile up: a paused connection, or an
    // inflater that keeps producing while lines wait.
    if (this.#decoder.buffered > this.limits.readQ && !this.#socket.destroyed) {
      const limit = this.limits.readQ;
      this.disconnectNow(
        'Excess Flood',
        new IrcLimitError('ERR_READQ_EXCEEDED', `more than ${limit} bytes of input waiting to be dispatched`, limit),
      );
    }
  }

  #dispatch(): void {
    if (this.#flood?.timer !== undefined) return;
    const decoder = this.#decoder;
    const hooks = this.#hooks;
    const linesBefore = this.linesIn;
    // A throwing event handler propagates (Node's convention); the bookkeeping
    // below still runs, and lines not yet dispatched wait for the next read.
    try {
      while (!this.#socket.destroyed) {
        const item = decoder.next();
        if (item === undefined) break;
        if (typeof item !== 'string') {
          hooks.inputError(this, item);
          continue;
        }
        this.linesIn++;
        if (this.#flood !== undefined && this.#overBudget(item)) break;
        this.#deliver(item);
      }
    } finally {
      // Input means complete lines: a peer dribbling bytes that never end a line goes idle.
      if (this.linesIn !== linesBefore) {
        this.seen = Date.now();
      }
    }
  }

  #deliver(line: string): void {
    let msg: IrcMessage;
    try {
      msg = parseLine(line);
    } catch (err) {
      this.#hooks.inputError(this, err as IrcParseError);
      return;
    }
    this.#hooks.input(this, msg);
  }

  /** Charges flood control for a line; true when the line is held back (or the peer dropped). */
  #overBudget(line: string): boolean {
    const flood = this.#flood as FloodState;
    const bucket = flood.bucket;
    const wait = bucket.take();
    if (wait === 0) return false;
    if (flood.disconnects || bucket.debt > flood.maxDelay) {
      this.disconnectNow('Excess Flood', new IrcLimitError('ERR_EXCESS_FLOOD', `more than ${bucket.rate} lines/s`, bucket.rate));
      return true;
    }
    // Fakelag: hold this line, stop reading, go on when the bucket has paid for it.
    flood.held = line;
    this.#socket.pause();
    flood.timer = setTimeout(() => {
      flood.timer = undefined;
      const held = flood.held;
      flood.held = undefined;
      if (this.#socket.destroyed) return;
      // Resume even when a handler throws on the held line (it propagates, as in
      // #dispatch): else the connection would stay paused for good.
      try {
        if (held !== undefined) this.#deliver(held);
      } finally {
        this.#socket.resume();
      }
      this.#dispatch();
    }, wait);
    flood.timer.unref();
    return true;
  }

  // One timer per idle period, not one re-arm per line: input only moves
  // `seen`, and the timer, when it fires, sleeps again for whatever is left.
  // Until the first line it also watches the first-line deadline.
  #armTimer(now: number): void {
    let next = Infinity;
    if (this.idle > 0) next = Math.max(this.seen, this.#idleMark) + this.idle - now;
    if (this.linesIn === 0 && this.#firstLine !== Infinity) next = Math.min(next, this.seen + this.#firstLine - now);
    if (next === Infinity || Number.isNaN(next)) return;
    this.#idleTimer = setTimeout(Connection.#handlers.timer, Math.max(1, next), this);
    this.#idleTimer.unref();
  }

  #onTimer(): void {
    this.#idleTimer = undefined;
    if (this.#finalized) return;
    const now = Date.now();
    if (this.linesIn === 0 && now - this.seen >= this.#firstLine) {
      const limit = this.#firstLine;
      this.disconnectNow(
        'Registration timeout',
        new IrcTimeoutError('ERR_REGISTRATION_TIMEOUT', `no complete line within ${limit} ms`, limit),
      );
      return;
    }
    // The next idle event comes a whole period after this one, or after the last input.
    const idle = this.idle > 0 && now - Math.max(this.seen, this.#idleMark) >= this.idle;
    if (idle) this.#idleMark = now;
    this.#armTimer(now);
    if (idle) this.#hooks.idle(this);
  }

  #finalize(): void {
    if (this.#finalized) return;
    this.#finalized = true;
    this.connected = false;
    if (this.disconnecting === false) this.disconnecting = this.#closeReason ?? 'Connection closed';
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#closeTimer);
    if (this.#flood !== undefined) {
      clearTimeout(this.#flood.timer);
      this.#flood.held = undefined;
    }
    this.#inflater?.close();
    this.#deflater?.close();
    this.#oldInflater?.close();
    this.#oldDeflater?.close();
    this.#heldOutput = undefined;
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    this.#decoder.takeRemainder();
    if (this.#admissionKey !== undefined) this.#admission?.release(this.#admissionKey);
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
