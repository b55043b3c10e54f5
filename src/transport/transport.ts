/**
 * The boundary between a connection and its wire. A connection pulls lines
 * from its transport and hands it formatted lines; it never touches a socket.
 * Stream transports (TCP, TLS, Unix) own the socket, the line decoder and the
 * compressed link; a message transport (WebSocket) fits the same shape with
 * one message per line.
 */
import type { Socket } from 'node:net';
import type { IrcParseError } from '../errors.js';
import type { DecodedLine } from '../framing/line-decoder.js';
import type { ProxyHeader } from './proxy/header.js';
import type { TlsInfo } from './tls.js';
import type { WebSocketFacts } from './websocket.js';

/** What `next()` yields: a line, or the error for one dropped (too long, or on a message transport no line at all). */
export type TransportLine = DecodedLine | IrcParseError;

/** Which wire a connection runs over. */
export type TransportKind = 'tcp' | 'tls' | 'unix' | 'ws' | 'wss';

/** An IP endpoint: address, port and family (4 or 6, as Node reports the address). */
export interface IpEndpoint {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** A Unix-domain socket endpoint. Client sockets are usually unnamed: `path` is `''`. */
export interface UnixEndpoint {
  readonly path: string;
}

export type Endpoint = IpEndpoint | UnixEndpoint;

/** What a PROXY protocol header told a listener, and who sent it. */
export interface ProxyFacts {
  /** The header as received: version, command, addresses, TLVs (SSL facts, ALPN, unique id…). */
  readonly header: ProxyHeader;
  /** The proxy's own endpoint: the socket's real peer. */
  readonly peer: Endpoint;
  /** Our end of the socket the proxy connected to. */
  readonly local: Endpoint;
}

/** The facts of one connection's wire, fixed once it is open. */
export interface TransportFacts {
  readonly kind: TransportKind;
  /** The peer: behind a trusted PROXY header, the client the header names. */
  readonly peer: Endpoint;
  /** Our end: behind a PROXY header, the address the client connected to. */
  readonly local: Endpoint;
  readonly tls: TlsInfo | undefined;
  readonly proxy: ProxyFacts | undefined;
  /** What a WebSocket connection negotiated (subprotocol, path, origin); `undefined` on a stream. */
  readonly websocket: WebSocketFacts | undefined;
}

/** What a transport tells its connection, from its own I/O callbacks. */
export interface TransportSink {
  /** Input arrived: lines may be waiting in `next()`. */
  onReadable(): void;
  /** The buffer below the transport drained: it takes writes again. */
  onDrain(): void;
  /** The peer sent its FIN. Writes made now still go out (a half-closed peer reads). */
  onPeerEnd(): void;
  /** The wire cannot go on (corrupt compressed data, a bomb): close now with this reason. */
  onFailure(reason: string, err: Error): void;
  /** A compressed link took effect. */
  onCompressed(): void;
  /** The wire is gone; called exactly once. `err` is the first error seen, if any. */
  onClose(err: Error | undefined): void;
}

export interface Transport extends TransportFacts {
  /** Starts I/O: from now on the sink hears of input, drains and the close. */
  attach(sink: TransportSink): void;
  /** The next line, the error for a line dropped, or `undefined` when no complete line waits. */
  next(): TransportLine | undefined;
  /** Received bytes held and not yet taken as lines (what a ReadQ bounds). */
  readonly buffered: number;
  /** Takes formatted lines, CRLF included. */
  write(data: Buffer): void;
  /**
   * Optional: takes the queued lines as the buffers they were queued in,
   * CRLF included — the same Buffer objects for every target of a fan-out.
   * A transport that frames each line (WebSocket) can frame a shared line
   * once for all its targets; without it, the connection concatenates and
   * calls `write`.
   */
  writeChunks?(chunks: readonly Buffer[]): void;
  /** Bytes taken by `write()` and not yet handed to the kernel. */
  readonly writableLength: number;
  /** Whether the buffer below is full: wait for the sink's `drain()`. */
  readonly needDrain: boolean;
  /** Whether writes are still taken (not destroyed, not ending). */
  readonly writable: boolean;
  readonly destroyed: boolean;
  /** Stops reading (and inflating) until `resume()`. */
  pause(): void;
  resume(): void;
  /** Sends what is queued, then closes gracefully; destroys after `deadline` ms. */
  end(deadline: number): void;
  /** Closes now, dropping what is queued. */
  destroy(err?: Error): void;
  /** Drops writes that wait for a compressed link to start (a SendQ overflow does). */
  dropHeld(): void;
  readonly compressed: boolean;
  /** zlib both ways from this exact point; throws where the transport has no byte stream. */
  compressNow(): void;
  /** zlib once what is written now has reached the kernel (after a write callback, never at once). */
  compressAfterDrain(): void;
  uncompress(): void;
  bytesIn: number;
  bytesOut: number;
  /** The underlying socket, for what ircsock does not cover. */
  readonly socket: Socket;
  /**
   * Whether the whole state of this wire can move to another process: a plain
   * byte stream (TCP or Unix) with no zlib stream and no close under way.
   * TLS and WebSocket state lives in libraries that cannot export it.
   */
  readonly movable: boolean;
  /** Stops reading at the socket itself (a hand-off): what Node had already read is fed to the decoder. */
  freezeInput(): void;
  /** Undoes `freezeInput()`: reading starts again. */
  thawInput(): void;
  /** Every received byte not yet taken as a line, taken out of the decoder. */
  takeInput(): Buffer;
  /** Puts bytes back in front of the decoder (a hand-off that was taken back, or bytes carried from a predecessor). */
  restoreInput(data: Buffer): void;
  /** Calls `cb` once every byte written so far has reached the kernel. */
  whenWritten(cb: () => void): void;
  /** Lets the socket go without a close: listeners removed, this process's descriptor closed; the peer notices nothing. */
  release(): void;
}
