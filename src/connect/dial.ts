import type { IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import type { Limits } from '../limits.js';
import { StreamTransport } from '../transport/stream.js';
import { tcpEndpoints } from '../transport/tcp.js';
import { checkPinned, tlsInfo } from '../transport/tls.js';
import { BINARY_PROTOCOL, TEXT_PROTOCOL, WsTransport } from '../transport/websocket.js';
import { WebSocket } from 'ws';

/** Where and how to dial: a TCP host and port, or a Unix socket path; plain or TLS. */
export interface DialTarget {
  host: string | undefined;
  port: number;
  path: string | undefined;
  bindAddr: string | undefined;
  family: 4 | 6 | undefined;
  /** Node TLS client options (files already loaded), or `undefined` for plain. */
  tls: ConnectionOptions | undefined;
  /** A PROXY header (encoded) to send first, before TLS if any. */
  proxyHeader: Buffer | undefined;
  limits: Readonly<Limits>;
}

/** A dial under way: `abort(err)` gives it up (the socket is destroyed, `done` hears `err`). */
export interface Dial {
  abort(err: Error): void;
}

/**
 * Opens the wire of a connector: TCP or Unix, a PROXY header if asked, then
 * TLS if asked; `done` is called exactly once, with the transport or the
 * error (the socket is then destroyed).
 */
export function dial(target: DialTarget, done: (err: Error | undefined, transport: StreamTransport | undefined) => void): Dial {
  let settled = false;
  let socket: Socket;
  const fail = (err: Error): void => {
    if (settled) return;
    settled = true;
    socket.destroy();
    done(err, undefined);
  };
  const opened = (s: Socket): void => {
    if (settled) return;
    // A pinned peer: its certificate decides, before a byte of IRC is written.
    const mismatch = s instanceof tls.TLSSocket ? checkPinned(target.tls, s) : undefined;
    if (mismatch !== undefined) {
      fail(mismatch);
      return;
    }
    settled = true;
    s.off('error', fail);
    done(undefined, transportOf(target, s));
  };

  const header = target.proxyHeader;
  const raw: net.NetConnectOpts =
    target.path !== undefined
      ? { path: target.path }
      : { host: target.host as string, port: target.port, ...(target.bindAddr === undefined ? {} : { localAddress: target.bindAddr }), ...(target.family === undefined ? {} : { family: target.family }) };

  if (target.tls !== undefined && header === undefined) {
    // SNI carries host names only (RFC 6066): never an address literal.
    const servername = target.host !== undefined && net.isIP(target.host) === 0 ? target.host : undefined;
    socket = tls.connect({ ...raw, servername, ...target.tls });
    socket.once('error', fail);
    socket.once('secureConnect', () => { opened(socket); });
    return { abort: fail };
  }
  socket = net.connect(raw);
  socket.once('error', fail);
  socket.once('connect', () => {
    if (settled) return;
    if (header !== undefined) socket.write(header);
    if (target.tls === undefined) {
      opened(socket);
      return;
    }
    // TLS over the stream that carried the PROXY header.
    const servername = target.host !== undefined && net.isIP(target.host) === 0 ? target.host : undefined;
    const secure = tls.connect({ socket, servername, ...target.tls });
    socket.off('error', fail);
    socket = secure;
    secure.once('error', fail);
    secure.once('secureConnect', () => { opened(secure); });
  });
  return { abort: fail };
}

function transportOf(target: DialTarget, socket: Socket): StreamTransport {
  const limits = target.limits;
  const secure = socket instanceof tls.TLSSocket;
  const ends =
    target.path !== undefined ? { peer: { path: target.path }, local: { path: '' } } : tcpEndpoints(socket);
  return new StreamTransport({
    socket,
    kind: target.path !== undefined ? 'unix' : secure ? 'tls' : 'tcp',
    peer: ends.peer,
    local: ends.local,
    tls: secure ? tlsInfo(socket) : undefined,
    proxy: undefined,
    maxTagBytes: limits.maxTagBytes,
    maxBodyBytes: limits.maxBodyBytes,
    maxOverlongBytes: limits.readQ,
    maxInflatePerRead: limits.maxInflatePerRead,
  });
}

/** A WebSocket connector's target: `ws://` or `wss://`, the subprotocols to offer, TLS options for wss. */
export interface WebSocketDialTarget {
  url: URL;
  protocols: readonly string[];
  origin: string | undefined;
  tls: ConnectionOptions | undefined;
  timeout: number;
  limits: Readonly<Limits>;
}

/**
 * Opens a WebSocket connector's wire: the HTTP upgrade offering the IRCv3
 * subprotocols (binary first, so bytes pass exactly), TLS verified as for any
 * connector on `wss://`; `done` is called exactly once.
 */
export function dialWebSocket(target: WebSocketDialTarget, done: (err: Error | undefined, transport: WsTransport | undefined) => void): Dial {
  let settled = false;
  let socket: Socket | undefined;
  const secure = target.url.protocol === 'wss:';
  const ws = new WebSocket(target.url, [...target.protocols], {
    ...(secure ? target.tls : {}),
    ...(target.origin === undefined ? {} : { origin: target.origin }),
    handshakeTimeout: target.timeout,
    maxPayload: Math.min(target.limits.maxTagBytes + target.limits.maxBodyBytes, 1024 * 1024),
    perMessageDeflate: false,
  });
  const fail = (err: Error): void => {
    if (settled) return;
    settled = true;
    ws.terminate();
    done(err, undefined);
  };
  ws.once('upgrade', (res: IncomingMessage) => {
    socket = res.socket;
  });
  ws.once('error', fail);
  ws.once('open', () => {
    if (settled) return;
    const mismatch = socket instanceof tls.TLSSocket ? checkPinned(target.tls, socket) : undefined;
    if (mismatch !== undefined) {
      fail(mismatch);
      return;
    }
    settled = true;
    ws.off('error', fail);
    const s = socket as Socket;
    const ends = tcpEndpoints(s);
    const protocol = ws.protocol === BINARY_PROTOCOL || ws.protocol === TEXT_PROTOCOL ? ws.protocol : undefined;
    done(
      undefined,
      new WsTransport({
        ws,
        socket: s,
        kind: secure ? 'wss' : 'ws',
        peer: ends.peer,
        local: ends.local,
        tls: s instanceof tls.TLSSocket ? tlsInfo(s) : undefined,
        proxy: undefined,
        websocket: { protocol, path: target.url.pathname, origin: target.origin, forwarded: false },
        maxTagBytes: target.limits.maxTagBytes,
        maxBodyBytes: target.limits.maxBodyBytes,
      }),
    );
  });
  return { abort: fail };
}
