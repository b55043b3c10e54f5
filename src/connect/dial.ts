import type { IncomingMessage } from 'node:http';
import net, { type Socket } from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import type { Limits } from '../limits.js';
import { StreamTransport } from '../transport/stream.js';
import { tcpEndpoints } from '../transport/tcp.js';
import { checkPinned, tlsInfo } from '../transport/tls.js';
import { BINARY_PROTOCOL, TEXT_PROTOCOL, WsTransport } from '../transport/websocket.js';
import { WebSocket } from 'ws';
import { socksHandshake, type SocksOptions } from './socks.js';

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
  /** Connect through this SOCKS proxy (TCP targets only): `host` goes to the proxy unresolved. */
  socks?: Readonly<SocksOptions> | undefined;
  /** Name resolution for Happy Eyeballs (Node's `lookup` option; tests inject one). */
  lookup?: net.LookupFunction | undefined;
  /** Happy Eyeballs: ms before the next address is tried (Node's `autoSelectFamilyAttemptTimeout`). */
  attemptDelay?: number | undefined;
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
  const socks = target.socks;
  // Happy Eyeballs (RFC 8305) by Node's racer: with a host name and no family
  // pinned, addresses of both families are tried in turn, each given
  // `attemptDelay` before the next starts, so a dead IPv6 route costs that
  // delay and not the whole connect timeout.
  const race: Partial<net.TcpNetConnectOpts> =
    target.family === undefined
      ? {
          autoSelectFamily: true,
          ...(target.attemptDelay === undefined ? {} : { autoSelectFamilyAttemptTimeout: target.attemptDelay }),
        }
      : { family: target.family };
  const raw: net.NetConnectOpts =
    target.path !== undefined
      ? { path: target.path }
      : {
          host: socks === undefined ? target.host : socks.host,
          port: socks === undefined ? target.port : socks.port,
          ...(target.bindAddr === undefined ? {} : { localAddress: target.bindAddr }),
          ...(socks === undefined ? race : { autoSelectFamily: true }),
          ...(target.lookup === undefined ? {} : { lookup: target.lookup }),
        };

  let abortSocks: ((err: Error) => void) | undefined;
  const abort = (err: Error): void => {
    if (abortSocks !== undefined) abortSocks(err);
    else fail(err);
  };

  if (target.tls !== undefined && header === undefined && socks === undefined) {
    // SNI carries host names only (RFC 6066): never an address literal.
    const servername = target.host !== undefined && net.isIP(target.host) === 0 ? target.host : undefined;
    socket = tls.connect({ ...raw, servername, ...target.tls });
    socket.once('error', fail);
    socket.once('secureConnect', () => { opened(socket); });
    return { abort };
  }
  const connected = (): void => {
    if (settled) return;
    if (header !== undefined) socket.write(header);
    if (target.tls === undefined) {
      opened(socket);
      return;
    }
    // TLS over the stream that carried the PROXY header, or the SOCKS tunnel:
    // verified against the destination's name, as on a direct connection.
    const servername = target.host !== undefined && net.isIP(target.host) === 0 ? target.host : undefined;
    const secure = tls.connect({ socket, servername, ...target.tls });
    socket.off('error', fail);
    socket = secure;
    secure.once('error', fail);
    secure.once('secureConnect', () => { opened(secure); });
  };
  socket = net.connect(raw);
  socket.once('error', fail);
  socket.once('connect', () => {
    if (settled) return;
    if (socks === undefined) {
      connected();
      return;
    }
    // The socks client owns the socket's errors until the tunnel is up.
    socket.off('error', fail);
    const handshake = socksHandshake(socket, socks, { host: target.host as string, port: target.port }, (err) => {
      abortSocks = undefined;
      if (err !== undefined) {
        fail(err);
        return;
      }
      socket.once('error', fail);
      connected();
    });
    abortSocks = handshake.abort;
  });
  return { abort };
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
        role: 'client',
      }),
    );
  });
  return { abort: fail };
}
