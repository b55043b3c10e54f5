/**
 * The WebSocket transport (IRCv3 `extensions/websocket.md`): a message
 * transport, one WebSocket message per IRC line, behind the same boundary as
 * the stream transports. Built on `ws`.
 */
import { isUtf8 } from 'node:buffer';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { IrcLineTooLongError, IrcParseError, IrcTimeoutError, IrcWebSocketError } from '../errors.js';
import { decodeEscaped } from '../framing/text.js';
import { frameChunk, frameLines } from './ws-frame.js';
import type { ForwardedHeader } from './forwarded.js';
import type { TlsInfo } from './tls.js';
import type { Endpoint, ProxyFacts, Transport, TransportKind, TransportLine, TransportSink } from './transport.js';

export const BINARY_PROTOCOL = 'binary.ircv3.net';
export const TEXT_PROTOCOL = 'text.ircv3.net';

/** What a WebSocket connection negotiated. */
export interface WebSocketFacts {
  /** The subprotocol: `binary.ircv3.net`, `text.ircv3.net`, or `undefined` in legacy mode (text frames). */
  readonly protocol: typeof BINARY_PROTOCOL | typeof TEXT_PROTOCOL | undefined;
  /** The HTTP path of the upgrade request. */
  readonly path: string;
  /** The request's Origin header (browsers send one). */
  readonly origin: string | undefined;
  /** Whether the peer address came from a trusted proxy's forwarding header. */
  readonly forwarded: boolean;
}

/** The server's pick: the first protocol in the client's order that it speaks. */
export function chooseProtocol(offered: Iterable<string>): typeof BINARY_PROTOCOL | typeof TEXT_PROTOCOL | false {
  for (const p of offered) if (p === BINARY_PROTOCOL || p === TEXT_PROTOCOL) return p;
  return false;
}

const CR = 0x0d;
const LF = 0x0a;
const NUL = 0x00;
const AT = 0x40;
const SPACE = 0x20;
const CRLF = Buffer.from('\r\n');

export interface WsTransportInit {
  ws: WebSocket;
  socket: Socket;
  kind: 'ws' | 'wss';
  peer: Endpoint;
  local: Endpoint;
  tls: TlsInfo | undefined;
  proxy: ProxyFacts | undefined;
  websocket: WebSocketFacts;
  maxTagBytes: number;
  maxBodyBytes: number;
  /** Our side: a server's frames go out unmasked, a client's masked. */
  role: 'server' | 'client';
}

/**
 * One WebSocket peer. Incoming messages are checked as lines (no CR, LF or
 * NUL; the tag and body limits, the body counted without CRLF) and queued
 * for `next()`; outgoing batches are cut at CRLF into one message per line:
 * binary frames in binary mode, text frames otherwise — with U+FFFD in place
 * of invalid UTF-8, since a text frame must be UTF-8.
 */
export class WsTransport implements Transport {
  readonly kind: TransportKind;
  readonly peer: Endpoint;
  readonly local: Endpoint;
  readonly tls: TlsInfo | undefined;
  readonly proxy: ProxyFacts | undefined;
  readonly websocket: WebSocketFacts;
  readonly compressed = false;
  bytesIn = 0;
  bytesOut = 0;
  /** @internal For the keepalive sweep: a pong (or any message) came since the last ping. */
  alive = true;

  readonly #ws: WebSocket;
  readonly #socket: Socket;
  readonly #binary: boolean;
  /** Whether batches are framed here and written in one socket write (see `write`). */
  readonly #direct: boolean;
  readonly #maxTagBytes: number;
  readonly #maxBodyBytes: number;
  #sink: TransportSink | undefined = undefined;
  #lines: TransportLine[] = [];
  #head = 0;
  #bufferedBytes = 0;
  #error: Error | undefined = undefined;
  #closed = false;
  #ending = false;
  #closeTimer: NodeJS.Timeout | undefined = undefined;

  constructor(init: WsTransportInit) {
    this.kind = init.kind;
    this.peer = init.peer;
    this.local = init.local;
    this.tls = init.tls;
    this.proxy = init.proxy;
    this.websocket = init.websocket;
    this.#ws = init.ws;
    this.#socket = init.socket;
    this.#binary = init.websocket.protocol === BINARY_PROTOCOL;
    // A client masks every frame, and permessage-deflate compresses each: both stay with ws.
    this.#direct = init.role === 'server' && init.ws.extensions === '';
    this.#maxTagBytes = init.maxTagBytes;
    this.#maxBodyBytes = init.maxBodyBytes;
  }

  attach(sink: TransportSink): void {
    this.#sink = sink;
    const ws = this.#ws;
    ws.on('message', (data: RawData, isBinary: boolean) => {
      this.#onMessage(data as Buffer, isBinary);
    });
    ws.on('pong', () => {
      this.alive = true;
    });
    ws.on('error', (err: Error) => {
      this.#error ??= err;
    });
    ws.on('close', () => {
      this.#onClose();
    });
    ws.off('error', noop);
    if (ws.readyState === WebSocket.CLOSED) {
      queueMicrotask(() => { this.#onClose(); });
      return;
    }
    // Paused since the upgrade (see WsAcceptor): what the client sent meanwhile is read now.
    ws.resume();
  }

  get socket(): Socket {
    return this.#socket;
  }

  get destroyed(): boolean {
    return this.#closed || this.#ws.readyState === WebSocket.CLOSED;
  }

  get writable(): boolean {
    return this.#ws.readyState === WebSocket.OPEN && !this.#ending;
  }

  // ws buffers what the socket has not taken; there is nothing below to wait for.
  get needDrain(): boolean {
    return false;
  }

  get writableLength(): number {
    return this.#ws.bufferedAmount;
  }

  get buffered(): number {
    return this.#bufferedBytes;
  }

  next(): TransportLine | undefined {
    if (this.#head >= this.#lines.length) return undefined;
    const item = this.#lines[this.#head++] as TransportLine;
    if (typeof item === 'string') this.#bufferedBytes -= item.length;
    if (this.#head === this.#lines.length) {
      // A fresh array: an emptied one keeps its backing store.
      this.#lines = [];
      this.#head = 0;
    }
    return item;
  }

  write(data: Buffer): void {
    if (!this.writable) return;
    if (this.#direct) {
      // One socket write per batch, as on TCP: ws would make one per line.
      // This interleaves safely with ws's own frames (ping, pong, close):
      // without permessage-deflate ws writes each frame synchronously, whole,
      // and `bufferedAmount` still counts what waits in the socket.
      const { frames, payloadBytes } = frameLines(data, this.#binary);
      this.bytesOut += payloadBytes;
      this.#socket.write(frames, this.#afterBatch);
      return;
    }
    this.#sendViaWs(data);
  }

  writeChunks(chunks: readonly Buffer[]): void {
    if (!this.writable) return;
    if (!this.#direct) {
      this.#sendViaWs(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
      return;
    }
    let out: Buffer;
    if (chunks.length === 1) {
      const f = frameChunk(chunks[0] as Buffer, this.#binary);
      this.bytesOut += f.payloadBytes;
      out = f.frames;
    } else {
      const frames: Buffer[] = [];
      let total = 0;
      for (const chunk of chunks) {
        const f = frameChunk(chunk, this.#binary);
        this.bytesOut += f.payloadBytes;
        frames.push(f.frames);
        total += f.frames.length;
      }
      out = Buffer.concat(frames, total);
    }
    this.#socket.write(out, this.#afterBatch);
  }

  #sendViaWs(data: Buffer): void {
    // Corked around the batch, ws's per-message writes still reach the kernel together.
    const socket = this.#socket;
    socket.cork();
    try {
      this.#writeLines(this.#ws, data);
    } finally {
      socket.uncork();
    }
  }

  #writeLines(ws: WebSocket, data: Buffer): void {
    let start = 0;
    let last = -1;
    for (;;) {
      const end = data.indexOf(CRLF, start);
      if (end < 0) break;
      last = end;
      const line = data.subarray(start, end);
      start = end + 2;
      this.bytesOut += line.length;
      const done = start >= data.length ? this.#afterBatch : undefined;
      if (this.#binary) ws.send(line, { binary: true }, done);
      else if (isUtf8(line)) ws.send(line, { binary: false }, done);
      else ws.send(line.toString('utf8'), { binary: false }, done);
    }
    if (last < 0 || start < data.length) {
      // Every line ircsock writes ends in CRLF; anything else is a caller's raw bytes, sent as one message.
      const rest = data.subarray(start);
      if (rest.length > 0) ws.send(rest, { binary: this.#binary }, this.#afterBatch);
    }
  }

  readonly #afterBatch = (): void => {
    this.#sink?.onDrain();
  };

  dropHeld(): void {
    // Nothing waits for a switch on a message transport.
  }

  pause(): void {
    this.#ws.pause();
  }

  // ws keeps its framing and permessage-deflate state to itself: a WebSocket never moves.
  readonly movable = false;

  freezeInput(): void {
    this.pause();
  }

  thawInput(): void {
    this.resume();
  }

  takeInput(): Buffer {
    return Buffer.alloc(0);
  }

  restoreInput(): void {
    // Nothing was taken out.
  }

  whenWritten(cb: () => void): void {
    queueMicrotask(cb);
  }

  release(): void {
    throw new Error('a WebSocket connection cannot be handed over');
  }

  resume(): void {
    this.#ws.resume();
  }

  /** Close 1000 once what is queued has gone out (ws sends the close frame after it). */
  end(deadline: number): void {
    if (this.#ending || this.destroyed) return;
    this.#ending = true;
    this.#ws.close(1000);
    this.#closeTimer = setTimeout(() => {
      this.#error ??= new IrcTimeoutError('ERR_DISCONNECT_TIMEOUT', `peer did not complete the WebSocket close within ${deadline} ms`, deadline);
      this.#ws.terminate();
    }, deadline);
    this.#closeTimer.unref();
  }

  destroy(err?: Error): void {
    if (err !== undefined) this.#error ??= err;
    this.#ws.terminate();
  }

  compressNow(): void {
    throw noCompressedLink();
  }

  compressAfterDrain(): void {
    throw noCompressedLink();
  }

  uncompress(): void {
    throw noCompressedLink();
  }

  /** @internal The keepalive sweep: ping, or end a peer that did not answer the last one. */
  keepalive(): void {
    if (this.destroyed) return;
    if (!this.alive) {
      this.destroy(new IrcWebSocketError('ERR_WS_PING_TIMEOUT', 'no pong to the last WebSocket ping'));
      return;
    }
    this.alive = false;
    this.#ws.ping();
  }

  #onMessage(data: Buffer, isBinary: boolean): void {
    this.alive = true;
    this.bytesIn += data.length;
    const item = this.#check(data, isBinary);
    if (item === undefined) return;
    this.#lines.push(item);
    if (typeof item === 'string') this.#bufferedBytes += item.length;
    this.#sink?.onReadable();
  }

  /** A message as a line, the error for a message that is no line, or `undefined` for an empty one. */
  #check(data: Buffer, isBinary: boolean): TransportLine | undefined {
    if (data.length === 0) return undefined;
    if (data.includes(LF) || data.includes(CR) || data.includes(NUL)) {
      return new IrcParseError('a WebSocket message holds CR, LF or NUL: one message is one line', data.toString('latin1'));
    }
    let bodyStart = 0;
    if (data[0] === AT) {
      const sp = data.indexOf(SPACE);
      const tagSection = sp < 0 ? data.length : sp + 1;
      if (tagSection > this.#maxTagBytes) return new IrcLineTooLongError('tags', this.#maxTagBytes);
      bodyStart = tagSection;
    }
    // The body limit counts CRLF, which a WebSocket message does not carry.
    if (data.length - bodyStart + 2 > this.#maxBodyBytes) return new IrcLineTooLongError('body', this.#maxBodyBytes);
    // Text frames were checked as UTF-8 by ws (1007 otherwise); binary ones are read as on TCP.
    return isBinary ? decodeEscaped(data) : data.toString('utf8');
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#closeTimer);
    this.#lines = [];
    this.#head = 0;
    this.#bufferedBytes = 0;
    this.#sink?.onClose(this.#error);
  }
}

function noCompressedLink(): IrcWebSocketError {
  return new IrcWebSocketError(
    'ERR_WS_NO_COMPRESSED_LINK',
    'a WebSocket connection has no compressed link (permessage-deflate is the WebSocket option for that)',
  );
}

// --- the listener side: the upgrade stage ----------------------------------------

/** WebSocket options of a listener. */
export interface WebSocketListenerOptions {
  /** Accept upgrades on this HTTP path only (e.g. `/webirc`); default: any path. */
  path?: string;
  /** Allowed `Origin` values, exact (e.g. `https://chat.example.net`); default: any. */
  origins?: readonly string[];
  /** Refuse upgrade requests without an Origin header (only browsers send one). Default false. */
  requireOrigin?: boolean;
  /**
   * Addresses or CIDR blocks of reverse proxies (nginx, haproxy in HTTP mode)
   * whose `forwardedHeader` names the client. Default none: the headers are
   * ignored.
   */
  forwardedFrom?: readonly string[];
  /**
   * The one header those proxies set: `'x-forwarded-for'` (the default;
   * nginx's `$proxy_add_x_forwarded_for`, haproxy's `option forwardfor`),
   * `'forwarded'` (RFC 7239) or `'x-real-ip'`. Only that header is read: a
   * proxy passes the others through as the client wrote them.
   */
  forwardedHeader?: ForwardedHeader;
  /**
   * permessage-deflate. Off by default: compression of secrets next to
   * attacker-chosen text leaks them (CRIME/BREACH-style side channels), and
   * each compressed connection holds zlib state. `true` turns it on with a
   * 32 KiB window (`serverMaxWindowBits: 15`) and no context takeover, so memory
   * per connection stays bounded.
   */
  perMessageDeflate?: boolean;
  /** Milliseconds for a complete HTTP upgrade request (slow or half-sent ones are dropped). Default 10 000. */
  upgradeTimeout?: number;
  /** Milliseconds between keepalive pings; a peer that has not answered the last one is closed. Default 60 000; 0 turns it off. */
  pingInterval?: number;
  /** Plain HTTP requests (not upgrades), e.g. to serve a web page. Default: 426 Upgrade Required. */
  onRequest?: (req: IncomingMessage, res: ServerResponse) => void;
}

/** The outcome of an upgrade: the WebSocket, and what its request said. */
export interface Upgraded {
  ws: WebSocket;
  req: IncomingMessage;
  facts: WebSocketFacts;
}

/**
 * @internal
 * The WebSocket stage of a listener: Node's HTTP parser (an `http.Server`
 * that never listens) reads the upgrade request off a socket the pipeline
 * hands it, and `ws` (in `noServer` mode) completes the handshake.
 */
export class WsAcceptor {
  readonly #http: http.Server;
  readonly #wss: WebSocketServer;
  readonly #opts: WebSocketListenerOptions;
  readonly #origins: ReadonlySet<string> | undefined;
  readonly #waiting = new WeakMap<Socket, (err: Error | undefined, up: Upgraded | undefined) => void>();
  readonly #live = new Set<WsTransport>();
  #sweep: NodeJS.Timeout | undefined = undefined;

  constructor(opts: WebSocketListenerOptions, maxPayload: number) {
    this.#opts = opts;
    this.#origins = opts.origins === undefined ? undefined : new Set(opts.origins);
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      maxPayload,
      perMessageDeflate: opts.perMessageDeflate === true ? { serverMaxWindowBits: 15, serverNoContextTakeover: true, clientNoContextTakeover: true } : false,
      handleProtocols: (offered: Set<string>) => chooseProtocol(offered),
    });
    this.#http = http.createServer();
    this.#http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.#upgrade(req, socket, head);
    });
    this.#http.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (this.#opts.onRequest !== undefined) {
        this.#opts.onRequest(req, res);
        return;
      }
      res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close', Upgrade: 'websocket' });
      res.end('426 Upgrade Required: this is an IRC WebSocket endpoint\n');
    });
    this.#http.on('clientError', (err: Error, socket: Socket) => {
      const done = this.#take(socket);
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
      done?.(new IrcWebSocketError('ERR_WS_HANDSHAKE', 'not a valid HTTP request', { cause: err }), undefined);
    });
  }

  /** Reads an upgrade off `socket`; `done` is called once, unless the socket closes first. */
  upgrade(socket: Socket, timeout: number, done: (err: Error | undefined, up: Upgraded | undefined) => void): void {
    const timer = setTimeout(() => {
      const pending = this.#take(socket);
      socket.destroy();
      pending?.(new IrcWebSocketError('ERR_WS_UPGRADE_TIMEOUT', `no complete WebSocket upgrade within ${timeout} ms`), undefined);
    }, timeout);
    timer.unref();
    this.#waiting.set(socket, (err, up) => {
      clearTimeout(timer);
      done(err, up);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      this.#waiting.delete(socket);
    });
    // Bytes an earlier stage read and put back (the PROXY stage's `unshift`: the request came in the
    // header's packet) sit in the stream's buffer, which Node's HTTP parser never looks at: it reads
    // the handle directly. Take them out and hand them to it as the first chunk.
    const early = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
    // Node's HTTP server reads the request off the socket it is handed, as when it listens itself.
    this.#http.emit('connection', socket);
    if (early !== null) socket.emit('data', early);
    // The PROXY stage leaves the socket paused.
    if (socket.isPaused()) socket.resume();
  }

  /** Keeps `t` in the keepalive sweep while it lives. */
  track(t: WsTransport, interval: number): void {
    if (interval <= 0) return;
    this.#live.add(t);
    t.socket.once('close', () => {
      this.#live.delete(t);
      if (this.#live.size === 0 && this.#sweep !== undefined) {
        clearInterval(this.#sweep);
        this.#sweep = undefined;
      }
    });
    // One timer per listener, not per connection.
    if (this.#sweep === undefined) {
      this.#sweep = setInterval(() => {
        for (const live of this.#live) live.keepalive();
      }, interval);
      this.#sweep.unref();
    }
  }

  #take(socket: Socket): ((err: Error | undefined, up: Upgraded | undefined) => void) | undefined {
    const done = this.#waiting.get(socket);
    this.#waiting.delete(socket);
    return done;
  }

  #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const done = this.#take(socket);
    if (done === undefined) {
      socket.destroy();
      return;
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    const refuse = (status: string, err: IrcWebSocketError): void => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.once('finish', () => socket.destroy());
      done(err, undefined);
    };
    if (this.#opts.path !== undefined && path !== this.#opts.path) {
      refuse('404 Not Found', new IrcWebSocketError('ERR_WS_PATH', `no WebSocket endpoint at ${path}`));
      return;
    }
    if (origin === undefined ? this.#opts.requireOrigin === true : this.#origins !== undefined && !this.#origins.has(origin)) {
      refuse('403 Forbidden', new IrcWebSocketError('ERR_WS_ORIGIN', `origin ${origin ?? '(none)'} is not allowed`));
      return;
    }
    if (req.headers.upgrade?.toLowerCase() !== 'websocket') {
      refuse('400 Bad Request', new IrcWebSocketError('ERR_WS_HANDSHAKE', 'the request is not a WebSocket upgrade'));
      return;
    }
    // ws answers a bad handshake (version, key) itself and never calls back: hear of it by the close.
    const onClose = (): void => {
      done(new IrcWebSocketError('ERR_WS_HANDSHAKE', 'the WebSocket handshake failed'), undefined);
    };
    socket.once('close', onClose);
    this.#wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      socket.off('close', onClose);
      // Until a connection owns it (after the check hook, which may take a while): read nothing, so the
      // client's first lines wait in the socket as on TCP, and a bad frame cannot be an unheard 'error'.
      ws.on('error', noop);
      ws.pause();
      const protocol = ws.protocol === BINARY_PROTOCOL || ws.protocol === TEXT_PROTOCOL ? ws.protocol : undefined;
      done(undefined, { ws, req, facts: { protocol, path, origin, forwarded: false } });
    });
  }
}

function noop(): void {
  // An error before a connection owns the WebSocket: its close follows, and is what counts.
}
