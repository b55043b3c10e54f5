/**
 * What a listener is made from: the options `createListener` takes, their
 * defaults, and the checks that turn the PROXY and WebSocket options into a
 * listener's configuration (a wrong or renamed option throws at once).
 */
import type { Admission, AdmissionOptions } from '../admission/admission.js';
import type { HandshakeBudget, HandshakeBudgetOptions } from '../admission/handshake-budget.js';
import { CidrList } from '../admission/cidr.js';
import { IrcArgumentError } from '../errors.js';
import type { FloodOptions, Limits } from '../limits.js';
import { checkDuration, checkKeys } from '../options.js';
import type { ServerTlsOptions } from '../transport/tls.js';
import type { ForwardedHeader } from '../transport/forwarded.js';
import { WsAcceptor, type WebSocketListenerOptions } from '../transport/websocket.js';
import type { InheritedListener } from './inherited.js';
import type { AdmissionCheck, ListenerConfig } from './listener.js';

export interface ListenerOptions {
  /** Address to bind. Default `'0.0.0.0'`, or `'::'` with `ipv6: true`. */
  addr?: string;
  /** Port to bind; 0 (the default) picks a free one, see `listener.port`. */
  port?: number;
  /** Bind an IPv6 socket (implied by an IPv6 `addr`). */
  ipv6?: boolean;
  /**
   * Listen on a Unix-domain socket at this path instead of `addr`/`port`. A
   * stale socket file (nobody answers on it) is removed first; a live one is
   * never taken (`EADDRINUSE`). The file is removed when the listener closes.
   */
  path?: string;
  /** The Unix socket file's mode, e.g. `0o660` (default: what the umask gives). */
  mode?: number;
  /** `true`: the backend's TLS context; an object: Node TLS server options over it. */
  tls?: boolean | ServerTlsOptions;
  /**
   * Require a PROXY protocol header (v1 or v2) before anything else, as
   * haproxy and other load balancers send it; honoured only from trusted
   * sources. `true`: from loopback only. The connection's peer is then the
   * client the header names; `conn.proxy` keeps the header and the proxy's
   * own endpoint.
   */
  proxy?: boolean | ProxyListenerOptions;
  /**
   * Speak WebSocket (IRCv3 WebSocket: subprotocols `binary.ircv3.net` and
   * `text.ircv3.net`, one message per line), over TLS too (`wss`). The
   * upgrade comes after PROXY, admission and TLS, before the `check` hook.
   */
  websocket?: boolean | WebSocketListenerOptions;
  /** Milliseconds without input before `connectionIdle` (repeating). Default 180 000; 0 disables. */
  idle?: number;
  /** Handed to every connection the listener accepts. */
  args?: unknown;
  limits?: Partial<Limits>;
  backlog?: number;
  /**
   * Who may connect: CIDR allow/deny lists, connections per IP (IPv6 by /64)
   * and in total, an accept-rate throttle per IP — on the client's address,
   * behind a PROXY header too. On by default with protective limits (see
   * `ADMISSION_DEFAULTS`; loopback is exempt from the per-IP ones). Unix-socket
   * peers have no address: only `maxTotal` applies to them. An `Admission`
   * instance may be shared by several listeners; `false` turns it off.
   */
  admission?: AdmissionOptions | Admission | false;
  /** An async hook that admits or refuses each peer before `listenerOpen` (e.g. a DNS blocklist). */
  check?: AdmissionCheck;
  /** Per-connection flood control (off by default). */
  flood?: FloodOptions | false;
  /**
   * Serve a listening socket that is already bound, by file descriptor:
   * systemd socket activation (see `listenFds()`). TCP or Unix, found out
   * from the socket; `addr`, `port`, `path` and `ipv6` do not go with it.
   */
  fd?: number;
  /** Serve a listening socket received from a predecessor process (a hand-off); as `fd`, no address options. */
  inherit?: InheritedListener;
  /**
   * On a TLS listener: failed or abandoned TLS handshakes allowed per client
   * address (IPv6 by /64) in a window, before its next attempts are refused
   * (`ERR_TLS_BUDGET`) without a handshake. On by default (see
   * `HANDSHAKE_BUDGET_DEFAULTS`; loopback exempt); an instance may be shared; `false` turns it off.
   */
  handshakeBudget?: HandshakeBudgetOptions | HandshakeBudget | false;
}

/** Where a listener takes PROXY headers from. */
export interface ProxyListenerOptions {
  /**
   * Addresses or CIDR blocks of the proxies (default: loopback, 127.0.0.0/8
   * and ::1). A peer outside them is refused (`ERR_PROXY_UNTRUSTED`) before
   * any byte is read. Unix-socket peers are trusted: the file's mode guards them.
   */
  from?: readonly string[];
  /** Milliseconds for the whole header to arrive (`ERR_PROXY_TIMEOUT`). Default 5000; the spec asks for at least 3000. */
  timeout?: number;
}

/** @internal */
export const LISTENER_KEYS = ['addr', 'port', 'ipv6', 'path', 'mode', 'tls', 'proxy', 'websocket', 'idle', 'args', 'limits', 'backlog', 'admission', 'check', 'flood', 'fd', 'inherit', 'handshakeBudget'];

/** @internal */
export const PROXY_KEYS = ['from', 'timeout'];

/** @internal */
export const WEBSOCKET_KEYS = ['path', 'origins', 'requireOrigin', 'forwardedFrom', 'forwardedHeader', 'perMessageDeflate', 'upgradeTimeout', 'pingInterval', 'onRequest'];

/** @internal */
export const DEFAULT_UPGRADE_TIMEOUT = 10_000;

/** @internal */
export const DEFAULT_PING_INTERVAL = 60_000;

/** @internal */
export const DEFAULT_IDLE = 180_000;

/** @internal */
export const DEFAULT_PROXY_FROM: readonly string[] = ['127.0.0.0/8', '::1/128'];

/** @internal */
export const DEFAULT_PROXY_TIMEOUT = 5_000;

/** @internal */
export function checkWebSocket(where: string, ws: boolean | WebSocketListenerOptions | undefined, limits: Limits): ListenerConfig['websocket'] {
  if (ws === undefined || ws === false) return undefined;
  const opts: WebSocketListenerOptions = ws === true ? {} : ws;
  if (typeof opts !== 'object' || (opts as unknown) === null) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'websocket' must be true or { path, origins, forwardedFrom, ... }`);
  }
  checkKeys(`${where} websocket`, opts, WEBSOCKET_KEYS);
  if (opts.path !== undefined && (typeof opts.path !== 'string' || !opts.path.startsWith('/'))) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: websocket.path must start with '/', e.g. '/webirc'`);
  }
  if (opts.origins !== undefined && (!Array.isArray(opts.origins) || opts.origins.some((o) => typeof o !== 'string'))) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: websocket.origins must be an array of origins, e.g. ['https://chat.example.net']`);
  }
  if (opts.onRequest !== undefined && typeof opts.onRequest !== 'function') {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: websocket.onRequest must be a function (req, res) => void`);
  }
  // A frame far past the line limits is refused by ws (1009) before it is buffered.
  const maxPayload = Math.min(limits.maxTagBytes + limits.maxBodyBytes, 1024 * 1024);
  return {
    acceptor: new WsAcceptor(opts, Number.isFinite(maxPayload) ? maxPayload : 1024 * 1024),
    forwardedFrom: opts.forwardedFrom === undefined ? undefined : new CidrList(opts.forwardedFrom, `${where} websocket.forwardedFrom`),
    forwardedHeader: checkForwardedHeader(where, opts.forwardedHeader),
    upgradeTimeout: checkDuration(where, 'websocket.upgradeTimeout', opts.upgradeTimeout ?? DEFAULT_UPGRADE_TIMEOUT),
    pingInterval: checkDuration(where, 'websocket.pingInterval', opts.pingInterval ?? DEFAULT_PING_INTERVAL, true),
  };
}

/** @internal */
export function checkProxy(where: string, proxy: boolean | ProxyListenerOptions | undefined): ListenerConfig['proxy'] {
  if (proxy === undefined || proxy === false) return undefined;
  if (proxy === true) return { from: new CidrList(DEFAULT_PROXY_FROM, `${where} proxy.from`), timeout: DEFAULT_PROXY_TIMEOUT };
  if (typeof proxy !== 'object' || (proxy as unknown) === null) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'proxy' must be true or { from: [CIDR, ...], timeout }`);
  }
  checkKeys(`${where} proxy`, proxy, PROXY_KEYS);
  const timeout = checkDuration(where, 'proxy.timeout', proxy.timeout ?? DEFAULT_PROXY_TIMEOUT);
  return { from: new CidrList(proxy.from ?? DEFAULT_PROXY_FROM, `${where} proxy.from`), timeout };
}

function checkForwardedHeader(where: string, header: unknown): ForwardedHeader {
  if (header === undefined) return 'x-forwarded-for';
  if (header !== 'x-forwarded-for' && header !== 'forwarded' && header !== 'x-real-ip') {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: websocket.forwardedHeader must be 'x-forwarded-for', 'forwarded' or 'x-real-ip'`);
  }
  return header;
}
