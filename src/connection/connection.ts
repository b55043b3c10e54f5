import type { Socket } from 'node:net';
import { IrcHandoffError, IrcLimitError, IrcTimeoutError, type IrcLineTooLongError, type IrcParseError } from '../errors.js';
import type { FloodOptions, Limits } from '../limits.js';
import type { IrcMessage } from '../message/message.js';
import { parseLine } from '../message/parse.js';
import { checkFlood } from '../options.js';
import { encodeText } from '../framing/text.js';
import type { TlsInfo } from '../transport/tls.js';
import type { Endpoint, ProxyFacts, Transport, TransportKind } from '../transport/transport.js';
import type { WebSocketFacts } from '../transport/websocket.js';
import type { Connector } from '../connect/connector.js';
import { schedule, unschedule } from './deadlines.js';
import { Flood } from './flood.js';

export type ConnectionId = number;

/** What a connection tells the backend; the backend owns the events and tables. */
export interface ConnectionHooks {
  input(conn: Connection, msg: IrcMessage): void;
  /** A line that could not be parsed, or was over the length limits; the connection stays up. */
  inputError(conn: Connection, err: IrcParseError | IrcLineTooLongError): void;
  idle(conn: Connection): void;
  sendQueueHigh(conn: Connection, queuedBytes: number): void;
  sendQueueLow(conn: Connection, queuedBytes: number): void;
  compressed(conn: Connection): void;
  /** Called exactly once, when the transport is gone. */
  closed(conn: Connection, reason: string, err: Error | undefined): void;
  /** Asks for `flush()` once the current turn of the event loop is over. */
  scheduleFlush(conn: Connection): void;
}

/** @internal */
export interface ConnectionInit {
  id: ConnectionId;
  transport: Transport;
  origin: 'listener' | 'connector';
  originId: number;
  /** The connector that made it (with `origin: 'connector'`). */
  connector?: Connector | undefined;
  args: unknown;
  idle: number;
  limits: Limits;
  hooks: ConnectionHooks;
  /** Drop the connection when no complete line arrives in `limits.firstLineTimeout`. */
  firstLineDeadline: boolean;
  flood: FloodOptions | undefined;
  /** Released when the connection ends, so admission counts stay true. */
  admission: { release(key: string): unknown } | undefined;
  admissionKey: string | undefined;
  /** A connection taken over from a predecessor process: its counters, flags, queues and flood state. */
  restore?: ConnectionSnapshot;
}

/**
 * @internal What moves with a connection to a successor process. Buffers
 * travel through the hand-off codec; everything else is plain JSON.
 */
export interface ConnectionSnapshot {
  id: ConnectionId;
  kind: 'tcp' | 'unix';
  origin: 'listener' | 'connector';
  peer: Endpoint;
  local: Endpoint;
  proxy: ProxyFacts | undefined;
  /** `args` when they survive JSON, else absent. */
  args?: unknown;
  idle: number;
  seen: number;
  idleMark: number;
  linesIn: number;
  linesOut: number;
  isClient: boolean;
  isPeer: boolean;
  pingPending: boolean;
  /** Still within the first-line deadline (no complete line yet): when it started. */
  firstLineSince: number | undefined;
  bytesIn: number;
  bytesOut: number;
  flood: { ahead: number } | undefined;
  /** Received and not dispatched: a line held by fakelag first, then the decoder's remainder. */
  input: Buffer;
  /** Queued by ircsock and not yet handed to the socket. */
  output: Buffer[];
}

// The flags of Connection's #bits: one small integer instead of five boolean fields on every connection.
/** A flush is scheduled for this turn. */
const SCHEDULED = 1;
/** `sendQueueHigh` fired; `sendQueueLow` is due once the queue falls below half of it. */
const HIGH_FIRED = 2;
/** The transport was asked to end (FIN, or a close frame). */
const ENDED = 4;
/** `disconnect` fired: nothing more happens on this connection. */
const FINALIZED = 8;
/** A hand-off is under way: input is not dispatched, reads are stopped at the socket. */
const FROZEN = 16;

/**
 * What is queued on a connection and not yet handed to its transport. Lines
 * for this connection alone come as strings (one encode per flush for all of
 * them); lines shared by a fan-out as the one Buffer they all queue.
 */
class OutQueue {
  readonly lines: (Buffer | string)[] = [];
  /** How many of the lines are strings. */
  strings = 0;
  /**
   * Bytes of the Buffers and of the strings sized so far. A string is sized
   * (UTF-8 length, which flattens it) only when the queue might be near a
   * limit: below them, its UTF-16 length bounds its bytes well enough.
   */
  bytes = 0;
  /** UTF-16 units of the strings not sized yet, from `lines[sizedTo]` on. */
  unsized = 0;
  sizedTo = 0;
  /** What sat in the transport below this queue at the start of the batch: it cannot shrink before the next flush. */
  below = 0;
}

const SENDQ_ERROR = Buffer.from('ERROR :SendQ exceeded\r\n');
// After a SendQ overflow the peer is not reading: give the ERROR line a moment, no more.
const SENDQ_GRACE = 1_000;

/**
 * One live peer (the seed's POEx::IRC::Backend::Connect), over any
 * transport. Created by the backend for each accepted or connected peer;
 * read its fields, set the free flags, and act on it through the backend
 * (`send`, `disconnect`).
 */
export class Connection {
  readonly id: ConnectionId;
  /** Whether a listener accepted this connection or a connector made it. */
  readonly origin: 'listener' | 'connector';
  /** The id of that listener or connector. */
  readonly originId: number;
  /** The connector that made this connection (a reconnecting one makes several), or `undefined` for an accepted peer. */
  readonly connector: Connector | undefined;
  /** Handed on from the listener or connector that made this connection. */
  readonly args: unknown;
  readonly limits: Readonly<Limits>;
  /** When input last arrived (ms since the epoch). */
  seen: number;
  /** Milliseconds without input before `connectionIdle` fires (0: never). */
  readonly idle: number;
  /** `false`, or the reason given when the backend started closing it. */
  disconnecting: string | false = false;
  /** `false` once the transport is gone (after the `disconnect` event). */
  connected = true;
  /** Free flags for the layers above; ircsock never reads them. */
  isClient = false;
  isPeer = false;
  pingPending = false;
  linesIn = 0;
  linesOut = 0;

  readonly #transport: Transport;
  readonly #hooks: ConnectionHooks;
  // Made on the first line queued and dropped once written: an idle connection
  // holds no array and none of the queue's counters.
  #queue: OutQueue | undefined = undefined;
  // The connection's own flags, one small integer rather than a field each (see the accessors below).
  #bits = 0;
  #closeReason: string | undefined = undefined;
  #closeError: Error | undefined = undefined;
  /** @internal Its place in the shared deadline heap (idle and first-line deadlines). */
  deadlineSlot = -1;
  #firstLine: number;
  #idleMark = 0;
  readonly #admission: { release(key: string): unknown } | undefined;
  readonly #admissionKey: string | undefined;
  // Flood control, only on connections that have it: most never do.
  #flood: Flood | undefined;
  // Input taken out for a snapshot: put back when the hand-off is called off.
  #exportedInput: Buffer | undefined = undefined;

  #has(flag: number): boolean {
    return (this.#bits & flag) !== 0;
  }

  #set(flag: number, on: boolean): void {
    this.#bits = on ? this.#bits | flag : this.#bits & ~flag;
  }

  /** @internal Connections are made by the backend. */
  constructor(init: ConnectionInit) {
    const t = init.transport;
    this.id = init.id;
    this.origin = init.origin;
    this.originId = init.originId;
    this.connector = init.connector;
    this.args = init.args;
    this.limits = init.limits;
    this.idle = init.idle;
    this.seen = Date.now();
    this.#transport = t;
    this.#hooks = init.hooks;
    this.#flood = init.flood === undefined ? undefined : new Flood(init.flood);
    this.#admission = init.admission;
    this.#admissionKey = init.admissionKey;
    const firstLine = init.limits.firstLineTimeout;
    this.#firstLine = init.firstLineDeadline && Number.isFinite(firstLine) ? firstLine : Infinity;
    const r = init.restore;
    if (r !== undefined) {
      this.#set(FROZEN, true);
      this.seen = r.seen;
      this.#idleMark = r.idleMark;
      this.linesIn = r.linesIn;
      this.isClient = r.isClient;
      this.isPeer = r.isPeer;
      this.pingPending = r.pingPending;
      this.#firstLine = r.firstLineSince === undefined ? Infinity : this.#firstLine;
      if (r.flood !== undefined) this.#flood?.setAhead(r.flood.ahead);
      t.restoreInput(r.input);
    }
    t.attach(this);
    if (r !== undefined) {
      // The bytes of the predecessor's socket buffer are out already: what it had queued goes first.
      for (const buf of r.output) this.enqueue(buf, init.hooks);
      this.linesOut = r.linesOut;
      t.bytesIn = r.bytesIn;
      t.bytesOut = r.bytesOut;
    }
    this.#armTimer(Date.now());
  }

  // --- what the transport tells us (its TransportSink): methods, not
  // closures, so an idle connection carries no functions of its own. Not
  // declared as `implements`: they are internal, and stripped from the .d.ts.

  /** @internal */
  onReadable(): void {
    this.#dispatch();
  }

  /** @internal */
  onDrain(): void {
    this.flush();
  }

  /** @internal */
  onPeerEnd(): void {
    this.#flushBeforeEnd();
  }

  /** @internal */
  onFailure(reason: string, err: Error): void {
    this.disconnectNow(reason, err);
  }

  /** @internal */
  onCompressed(): void {
    this.#hooks.compressed(this);
  }

  /** @internal */
  onClose(err: Error | undefined): void {
    this.#finalize(err);
  }

  // The wire's facts are read from the transport, not copied: eleven fields
  // less on every connection.

  /** The wire: `tcp`, `tls`, `unix`, `ws` or `wss`. */
  get kind(): TransportKind {
    return this.#transport.kind;
  }

  /** The peer (behind a trusted PROXY header: the client it names). */
  get peer(): Endpoint {
    return this.#transport.peer;
  }

  /** Our end (behind a PROXY header: what the client connected to). */
  get local(): Endpoint {
    return this.#transport.local;
  }

  /** The peer's IP family; `undefined` on a Unix socket (unless a PROXY header named an IP client). */
  get family(): 4 | 6 | undefined {
    const peer = this.#transport.peer;
    return 'family' in peer ? peer.family : undefined;
  }

  /** The peer's address (`''` on a Unix socket); the seed's `peeraddr`. */
  get peerAddr(): string {
    const peer = this.#transport.peer;
    return 'address' in peer ? peer.address : '';
  }

  get peerPort(): number {
    const peer = this.#transport.peer;
    return 'port' in peer ? peer.port : 0;
  }

  /** Our address (`''` on a Unix socket); the seed's `sockaddr`. */
  get sockAddr(): string {
    const local = this.#transport.local;
    return 'address' in local ? local.address : '';
  }

  get sockPort(): number {
    const local = this.#transport.local;
    return 'port' in local ? local.port : 0;
  }

  /** TLS facts, or `undefined` on a plain connection. */
  get tls(): TlsInfo | undefined {
    return this.#transport.tls;
  }

  /** The PROXY header and the proxy's own endpoint, on a listener that requires one. */
  get proxy(): ProxyFacts | undefined {
    return this.#transport.proxy;
  }

  /** On a WebSocket connection: the subprotocol, the request's path and origin. */
  get websocket(): WebSocketFacts | undefined {
    return this.#transport.websocket;
  }

  /** The underlying socket (the seed's `get_socket`), for what ircsock does not cover. */
  get socket(): Socket {
    return this.#transport.socket;
  }

  /** Whether the link is zlib-compressed. */
  get compressed(): boolean {
    return this.#transport.compressed;
  }

  /** Bytes received, as they came off the wire (compressed, on a compressed link). */
  get bytesIn(): number {
    return this.#transport.bytesIn;
  }

  /** Bytes written to the wire. */
  get bytesOut(): number {
    return this.#transport.bytesOut;
  }

  /** Bytes waiting to reach the kernel: ircsock's queue plus what the transport holds. */
  get queuedBytes(): number {
    this.#sizePending();
    return (this.#queue?.bytes ?? 0) + this.#transport.writableLength;
  }

  /**
   * Sizes the strings queued since the last call. UTF-8 length: exact for
   * well-formed text, an escaped byte counted as 3 (an overestimate, on the
   * safe side of SendQ).
   */
  #sizePending(): void {
    const q = this.#queue;
    if (q === undefined || q.unsized === 0) return;
    const pending = q.lines;
    let bytes = q.bytes;
    for (let i = q.sizedTo; i < pending.length; i++) {
      const line = pending[i] as Buffer | string;
      if (typeof line === 'string') bytes += Buffer.byteLength(line);
    }
    q.bytes = bytes;
    q.sizedTo = pending.length;
    q.unsized = 0;
  }

  #clearPending(): void {
    this.#queue = undefined;
  }

  /**
   * @internal Queues one formatted line (with its CRLF): its bytes, or its
   * text as `encodeText` will write it; false when it was dropped.
   */
  enqueue(line: Buffer | string, owner: ConnectionHooks): boolean {
    if (owner !== this.#hooks || this.disconnecting !== false || !this.connected) return false;
    // Snapshot taken for a successor: a line queued now would reach neither side.
    if (this.#exportedInput !== undefined) return false;
    // What sits below our queue cannot shrink before the next flush: read it
    // once per batch, not once per line of a fan-out.
    const q = (this.#queue ??= new OutQueue());
    if (!this.#has(SCHEDULED)) q.below = this.#transport.writableLength;
    q.lines.push(line);
    if (typeof line === 'string') {
      q.strings++;
      q.unsized += line.length;
    } else {
      q.bytes += line.length;
    }
    this.linesOut++;
    const below = q.bytes + q.below;
    // A UTF-16 unit is at most 3 bytes: only a queue that might be near a limit is sized exactly.
    if (below + q.unsized * 3 >= (this.#has(HIGH_FIRED) ? this.limits.sendQ : this.limits.sendQHighWater)) {
      this.#sizePending();
      const queued = q.bytes + q.below;
      if (queued > this.limits.sendQ) {
        this.#sendQExceeded(queued);
        return false;
      }
      if (!this.#has(HIGH_FIRED) && queued >= this.limits.sendQHighWater) {
        this.#set(HIGH_FIRED, true);
        this.#hooks.sendQueueHigh(this, queued);
      }
    }
    if (!this.#has(SCHEDULED)) {
      this.#set(SCHEDULED, true);
      this.#hooks.scheduleFlush(this);
    }
    return true;
  }

  /**
   * @internal Hands the queue to the transport as one write. While the
   * transport's buffer is full the queue keeps growing here instead, as one
   * batch for the next drain, so a SendQ overflow can drop it and still say why.
   */
  flush(): void {
    this.#set(SCHEDULED, false);
    // Frozen for a hand-off: output waits here, in the snapshot, until a side takes it up.
    if (this.#has(FROZEN)) return;
    const t = this.#transport;
    if (this.#queue !== undefined && t.writable && !t.needDrain) this.#writeOut();
    this.#checkLow();
  }

  #checkLow(): void {
    if (!this.#has(HIGH_FIRED)) return;
    const queued = this.queuedBytes;
    if (queued >= this.limits.sendQHighWater / 2) return;
    this.#set(HIGH_FIRED, false);
    this.#hooks.sendQueueLow(this, queued);
  }

  #flushBeforeEnd(): void {
    if (this.#queue !== undefined && !this.#has(ENDED) && this.#transport.writable) this.#writeOut();
  }

  #writeOut(): void {
    const t = this.#transport;
    const q = this.#queue ?? new OutQueue();
    const pending = q.lines;
    if (t.writeChunks !== undefined) {
      // A framing transport takes the queued buffers themselves: a fan-out's
      // targets share them, so it can frame each line once for all of them.
      const chunks = q.strings === 0 ? (pending as Buffer[]) : pending.map((line) => (typeof line === 'string' ? encodeText(line) : line));
      this.#clearPending();
      t.writeChunks(chunks);
      return;
    }
    let data: Buffer;
    if (q.strings === 0) {
      data = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending as Buffer[], q.bytes);
    } else if (q.strings === pending.length) {
      // Whole lines joined: each ends in CRLF, so no escape or surrogate pair spans two of them.
      let text = '';
      for (const line of pending) text += line as string;
      data = encodeText(text);
    } else {
      data = Buffer.concat(pending.map((line) => (typeof line === 'string' ? encodeText(line) : line)));
    }
    // No array kept: `length = 0` would keep the grown backing store on every idle connection.
    this.#clearPending();
    this.#transport.write(data);
  }

  // --- hand-off ------------------------------------------------------------

  /** @internal Whether the connection can move to a successor process now. */
  get movable(): boolean {
    return !this.#has(FINALIZED) && this.disconnecting === false && this.#transport.movable;
  }

  /**
   * @internal Stops input (at the socket) and dispatching, writes out what is
   * queued, and resolves true once every byte written has reached the kernel,
   * false when that took longer than `timeout` ms (a peer that does not read).
   */
  freeze(timeout: number): Promise<boolean> {
    this.#set(FROZEN, true);
    this.#flood?.suspend();
    const t = this.#transport;
    t.freezeInput();
    if (this.#queue !== undefined && t.writable) this.#writeOut();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        resolve(false);
      }, timeout);
      timer.unref();
      t.whenWritten(() => {
        clearTimeout(timer);
        resolve(!this.#has(FINALIZED) && t.writableLength === 0);
      });
    });
  }

  /** @internal After `freeze()`: what moves with the connection. Call `thaw()` to take it back. */
  snapshot(): ConnectionSnapshot {
    const t = this.#transport;
    const held = this.#flood?.held;
    const rest = t.takeInput();
    const input = held === undefined ? rest : Buffer.concat([encodeText(held + '\r\n'), rest]);
    this.#exportedInput = rest;
    const flood = this.#flood;
    let args: unknown;
    try {
      args = this.args === undefined ? undefined : (JSON.parse(JSON.stringify(this.args)) as unknown);
    } catch {
      // Not serialisable: the successor's listener gives its own.
      args = undefined;
    }
    const kind = this.kind === 'unix' ? 'unix' : 'tcp';
    return {
      id: this.id,
      kind,
      origin: this.origin,
      peer: this.peer,
      local: this.local,
      proxy: this.proxy,
      ...(args === undefined ? {} : { args }),
      idle: this.idle,
      seen: this.seen,
      idleMark: this.#idleMark,
      linesIn: this.linesIn,
      linesOut: this.linesOut,
      isClient: this.isClient,
      isPeer: this.isPeer,
      pingPending: this.pingPending,
      firstLineSince: this.linesIn === 0 && this.#firstLine !== Infinity ? this.seen : undefined,
      bytesIn: t.bytesIn,
      bytesOut: t.bytesOut,
      flood: flood === undefined ? undefined : { ahead: flood.ahead },
      input,
      output: (this.#queue?.lines ?? []).map((line) => (typeof line === 'string' ? encodeText(line) : line)),
    };
  }

  /** @internal The hand-off was called off (or this is the successor's go): serve the connection again. */
  thaw(): void {
    if (this.#has(FINALIZED) || !this.#has(FROZEN)) return;
    this.#set(FROZEN, false);
    const t = this.#transport;
    if (this.#exportedInput !== undefined) {
      t.restoreInput(this.#exportedInput);
      this.#exportedInput = undefined;
    }
    if (this.#queue !== undefined && !this.#has(SCHEDULED)) {
      this.#set(SCHEDULED, true);
      this.#hooks.scheduleFlush(this);
    }
    t.thawInput();
    const flood = this.#flood;
    if (flood?.holding === true) {
      // Reading waits for the held line's timer, as before the hand-off.
      t.pause();
      flood.resume();
      return;
    }
    this.#dispatch();
  }

  /**
   * @internal The successor has the connection: forget it here without a
   * close (no `disconnect` event, the peer notices nothing).
   */
  release(): void {
    if (this.#has(FINALIZED)) return;
    this.#set(FINALIZED, true);
    this.connected = false;
    this.disconnecting = 'Handed over';
    unschedule(this);
    this.#flood?.clear();
    this.#clearPending();
    if (this.#admissionKey !== undefined) this.#admission?.release(this.#admissionKey);
    this.#transport.release();
  }

  /** @internal Close once the queue has drained; by force after `limits.disconnectTimeout`. */
  disconnect(reason: string): void {
    if (this.#has(FINALIZED) || this.disconnecting !== false) return;
    this.disconnecting = reason;
    this.#closeReason ??= reason;
    if (this.#queue !== undefined && this.#transport.writable) this.#writeOut();
    this.#end(this.limits.disconnectTimeout);
  }

  /** @internal Drop the queue and close now. */
  disconnectNow(reason: string, err?: Error): void {
    if (this.#has(FINALIZED)) return;
    if (this.disconnecting === false) this.disconnecting = reason;
    this.#closeReason ??= reason;
    if (err !== undefined) this.#closeError ??= err;
    this.#clearPending();
    this.#transport.destroy();
  }

  /**
   * @internal Compression in both directions from this point: what is queued
   * goes out plain first, every later send is deflated; every byte not yet
   * dispatched as a line — the rest of the read that carried the line being
   * handled included — is inflated.
   */
  compressNow(): void {
    if (this.#has(FINALIZED)) return;
    if (this.#queue !== undefined && !this.#has(ENDED)) this.#writeOut();
    this.#transport.compressNow();
  }

  /** @internal Compression once what is queued now has reached the kernel (the seed's flushed event). */
  compressAfterDrain(): void {
    if (this.#has(FINALIZED)) return;
    if (this.#queue === undefined && this.#transport.writableLength === 0) {
      this.#transport.compressNow();
      return;
    }
    if (this.#queue !== undefined && !this.#has(ENDED)) this.#writeOut();
    this.#transport.compressAfterDrain();
  }

  /**
   * @internal Back to plain in both directions: bytes already received
   * compressed are still inflated and dispatched first; output queued so far
   * goes out compressed, every later send plain.
   */
  uncompress(): void {
    if (this.#has(FINALIZED)) return;
    if (this.#queue !== undefined && !this.#has(ENDED)) this.#writeOut();
    this.#transport.uncompress();
  }

  #end(deadline: number): void {
    if (this.#has(ENDED)) return;
    this.#set(ENDED, true);
    this.#transport.end(deadline);
  }

  #sendQExceeded(queued: number): void {
    const limit = this.limits.sendQ;
    this.#closeError ??= new IrcLimitError('ERR_SENDQ_EXCEEDED', `SendQ exceeded: ${queued} bytes queued, limit ${limit}`, limit);
    this.#closeReason ??= 'SendQ exceeded';
    this.disconnecting = 'SendQ exceeded';
    this.#clearPending();
    const t = this.#transport;
    t.dropHeld();
    if (t.writable) t.write(SENDQ_ERROR);
    this.#end(Math.min(SENDQ_GRACE, this.limits.disconnectTimeout));
  }

  /**
   * Replaces this connection's flood control, or lifts it with `false`: what
   * a server does once a connection turns out to be a server link (a burst is
   * thousands of lines at once) or an operator. A line held back by fakelag
   * is dispatched at once when control is lifted or changed. Refused
   * (`ERR_HANDOFF_BUSY`) while a hand-off has the connection frozen: its held
   * line is part of the snapshot on its way to the successor.
   */
  setFlood(opts: FloodOptions | false): void {
    if (this.#has(FROZEN)) {
      throw new IrcHandoffError('ERR_HANDOFF_BUSY', `connection ${this.id}: setFlood during a hand-off (the flood state is on its way to the successor)`);
    }
    const next = opts === false ? undefined : new Flood(checkFlood(`connection ${this.id}`, opts));
    const held = this.#flood?.clear();
    this.#flood = next;
    if (held === undefined || this.#has(FINALIZED)) return;
    const t = this.#transport;
    try {
      this.#deliver(held);
    } finally {
      t.resume();
    }
    this.#dispatch();
  }

  #dispatch(): void {
    if (this.#has(FROZEN)) return;
    const flood = this.#flood;
    if (flood?.holding === true) return;
    const t = this.#transport;
    const hooks = this.#hooks;
    const linesBefore = this.linesIn;
    // A throwing event handler propagates (Node's convention); the bookkeeping
    // below still runs, and lines not yet dispatched wait for the next read.
    try {
      while (!t.destroyed) {
        const item = t.next();
        if (item === undefined) break;
        if (typeof item !== 'string') {
          if (item.code === 'ERR_READQ_EXCEEDED') {
            this.disconnectNow('Excess Flood', item);
            break;
          }
          hooks.inputError(this, item as IrcLineTooLongError | IrcParseError);
          continue;
        }
        this.linesIn++;
        if (flood !== undefined && this.#overBudget(flood, item)) break;
        this.#deliver(item);
      }
    } finally {
      // Input means complete lines: a peer dribbling bytes that never end a line goes idle.
      if (this.linesIn !== linesBefore) this.seen = Date.now();
      // Only input that is held back can pile up: a paused connection, or an
      // inflater that keeps producing while lines wait.
      if (t.buffered > this.limits.readQ && !t.destroyed) {
        const limit = this.limits.readQ;
        this.disconnectNow(
          'Excess Flood',
          new IrcLimitError('ERR_READQ_EXCEEDED', `more than ${limit} bytes of input waiting to be dispatched`, limit),
        );
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
  #overBudget(flood: Flood, line: string): boolean {
    const wait = flood.charge();
    if (wait === 0) return false;
    if (wait < 0) {
      this.disconnectNow('Excess Flood', new IrcLimitError('ERR_EXCESS_FLOOD', `more than ${flood.rate} lines/s`, flood.rate));
      return true;
    }
    // Fakelag: hold this line, stop reading, go on when the bucket has paid for it.
    const t = this.#transport;
    t.pause();
    flood.hold(line, wait, (held) => {
      if (t.destroyed) return;
      // Resume even when a handler throws on the held line (it propagates, as in
      // #dispatch): else the connection would stay paused for good.
      try {
        this.#deliver(held);
      } finally {
        t.resume();
      }
      this.#dispatch();
    });
    return true;
  }

  // One deadline per idle period, not one re-arm per line: input only moves
  // `seen`, and the deadline, when it comes, sleeps again for whatever is
  // left. Until the first line it also watches the first-line deadline.
  #armTimer(now: number): void {
    let next = Infinity;
    if (this.idle > 0) next = Math.max(this.seen, this.#idleMark) + this.idle - now;
    if (this.linesIn === 0 && this.#firstLine !== Infinity) next = Math.min(next, this.seen + this.#firstLine - now);
    if (next === Infinity || Number.isNaN(next)) return;
    schedule(this, now + Math.max(1, next));
  }

  /** @internal */
  onDeadline(): void {
    if (this.#has(FINALIZED)) return;
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

  #finalize(err: Error | undefined): void {
    if (this.#has(FINALIZED)) return;
    this.#set(FINALIZED, true);
    this.connected = false;
    if (err !== undefined) {
      this.#closeError ??= err;
      this.#closeReason ??= reasonFor(err);
    }
    if (this.disconnecting === false) this.disconnecting = this.#closeReason ?? 'Connection closed';
    unschedule(this);
    this.#flood?.clear();
    this.#clearPending();
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
