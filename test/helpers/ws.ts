/**
 * A WebSocket peer for IRCv3 WebSocket tests, on the `ws` package's client:
 * every message it receives (bytes and whether it came as a binary frame),
 * the pings, the close code; waits that fail in seconds instead of hanging;
 * and a raw HTTP exchange over `net` for what happens before an upgrade.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { afterEach } from 'node:test';
import WebSocket, { type ClientOptions, type RawData } from 'ws';
import { DEFAULT_WAIT, once } from './net.js';

export const BINARY = 'binary.ircv3.net';
export const TEXT = 'text.ircv3.net';

/** One WebSocket message as the peer received it. */
export interface WsMessage {
  readonly data: Buffer;
  /** Whether it came in a binary frame (false: a text frame). */
  readonly isBinary: boolean;
}

/** How the opening handshake of {@link WsPeer.attempt} ended. */
export type WsAttempt =
  | { readonly kind: 'open'; readonly peer: WsPeer }
  /** The server answered the upgrade with an HTTP status (403, 404, 426…). */
  | { readonly kind: 'status'; readonly status: number }
  /** No HTTP answer at all (the socket was closed or reset). */
  | { readonly kind: 'error'; readonly error: Error };

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

// Every peer made in a test file is terminated after each test, so a failed assertion leaves no socket open.
const live = new Set<WsPeer>();
const rawSockets = new Set<net.Socket>();
let hooked = false;

/** Terminates every peer (and raw HTTP socket) after each test of the calling file; call once at its top level. */
export function trackPeers(): void {
  if (hooked) return;
  hooked = true;
  afterEach(async () => {
    const peers = [...live];
    live.clear();
    const sockets = [...rawSockets];
    rawSockets.clear();
    for (const s of sockets) s.destroy();
    await Promise.all(peers.map((p) => p.terminate()));
  });
}

export class WsPeer {
  readonly ws: WebSocket;
  readonly messages: WsMessage[] = [];
  pings = 0;
  /** The close code, once closed (1005: none given, 1006: no close frame). */
  closeCode: number | undefined = undefined;
  closed = false;
  /** The first error the client reported, if any. */
  error: Error | undefined = undefined;
  /** `performance.now()` when the handshake completed. */
  openedAt = 0;
  readonly #events = new EventEmitter();

  private constructor(ws: WebSocket) {
    this.ws = ws;
    live.add(this);
    ws.on('message', (data, isBinary) => {
      this.messages.push({ data: toBuffer(data), isBinary });
      this.#events.emit('message');
    });
    ws.on('ping', () => {
      this.pings++;
      this.#events.emit('ping');
    });
    ws.on('error', (err) => {
      this.error ??= err;
    });
    ws.on('close', (code) => {
      this.closeCode = code;
      this.closed = true;
      live.delete(this);
      this.#events.emit('close');
    });
  }

  /**
   * Starts a handshake and resolves with how it ended: open, an HTTP status
   * instead of `101`, or an error. Never rejects, except on a timeout.
   */
  static attempt(url: string, protocols: readonly string[] = [], opts: ClientOptions = {}, timeout = DEFAULT_WAIT): Promise<WsAttempt> {
    const ws = new WebSocket(url, [...protocols], { handshakeTimeout: timeout, ...opts });
    const peer = new WsPeer(ws);
    return new Promise<WsAttempt>((resolve, reject) => {
      let status: number | undefined;
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`timed out after ${timeout} ms waiting for the handshake with ${url}`));
      }, timeout + 1_000);
      ws.once('open', () => {
        clearTimeout(timer);
        peer.openedAt = performance.now();
        resolve({ kind: 'open', peer });
      });
      ws.once('unexpected-response', (_req, res) => {
        status = res.statusCode;
        res.resume();
        // Still CONNECTING: aborts the request, then 'error' and 'close' follow.
        ws.terminate();
      });
      ws.once('close', () => {
        clearTimeout(timer);
        if (status !== undefined) resolve({ kind: 'status', status });
        else resolve({ kind: 'error', error: peer.error ?? new Error('closed during the handshake') });
      });
    });
  }

  /** Connects and resolves once open; rejects if the server refuses. */
  static async open(url: string, protocols: readonly string[] = [], opts: ClientOptions = {}): Promise<WsPeer> {
    const r = await WsPeer.attempt(url, protocols, opts);
    if (r.kind === 'open') return r.peer;
    throw r.kind === 'status' ? new Error(`the upgrade to ${url} was answered with HTTP ${r.status}`) : r.error;
  }

  /** The subprotocol the server chose (`''` for none). */
  get protocol(): string {
    return this.ws.protocol;
  }

  /** Every message received, as UTF-8 text. */
  get texts(): string[] {
    return this.messages.map((m) => m.data.toString('utf8'));
  }

  /** Sends one message: a string as a text frame, a Buffer as a binary frame unless `binary` says otherwise. */
  send(data: string | Buffer, binary = typeof data !== 'string'): void {
    this.ws.send(data, { binary });
  }

  /** Resolves when at least `n` messages have arrived in all; returns them all. */
  async waitMessages(n: number, timeout = DEFAULT_WAIT): Promise<WsMessage[]> {
    if (this.messages.length < n) await once(this.#events, 'message', { timeout, filter: () => this.messages.length >= n });
    return this.messages;
  }

  /** Resolves when at least `n` pings have arrived in all. */
  async waitPings(n: number, timeout = DEFAULT_WAIT): Promise<void> {
    if (this.pings < n) await once(this.#events, 'ping', { timeout, filter: () => this.pings >= n });
  }

  /** Resolves with the close code once closed. */
  async waitClosed(timeout = DEFAULT_WAIT): Promise<number> {
    if (!this.closed) await once(this.#events, 'close', { timeout });
    return this.closeCode ?? 1006;
  }

  /** Sends a close frame and waits for the close. */
  async close(code = 1000): Promise<number> {
    if (!this.closed) this.ws.close(code);
    return this.waitClosed();
  }

  /** Drops the connection without a close frame and waits for it to close. */
  async terminate(): Promise<void> {
    if (this.closed) return;
    this.ws.terminate();
    await this.waitClosed();
  }
}

/** A raw HTTP exchange: what was written back, and the status of the first response line. */
export interface RawHttp {
  readonly socket: net.Socket;
  /** Everything received, as latin1 text. */
  text: string;
  closed: boolean;
  /** `performance.now()` when the socket closed. */
  closedAt: number;
  /** The status of the first response line, once received. */
  readonly status: number | undefined;
  waitClosed(timeout?: number): Promise<void>;
}

/** Connects with `net` and writes `request` (may be partial, or empty: nothing written). */
export async function rawHttp(port: number, request: string | Buffer, host = '127.0.0.1'): Promise<RawHttp> {
  const socket = net.connect({ host, port });
  rawSockets.add(socket);
  socket.on('error', () => {
    // A reset after the response is fine: the test looks at what arrived and at the close.
  });
  await once(socket, 'connect');
  const r = {
    socket,
    text: '',
    closed: false,
    closedAt: 0,
    get status(): number | undefined {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(this.text);
      return m === null ? undefined : Number(m[1]);
    },
    async waitClosed(timeout = DEFAULT_WAIT): Promise<void> {
      if (!r.closed) await once(socket, 'close', { timeout });
    },
  };
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    r.text += d;
  });
  socket.on('close', () => {
    rawSockets.delete(socket);
    r.closed = true;
    r.closedAt = performance.now();
  });
  if (request.length > 0) socket.write(request);
  return r;
}
