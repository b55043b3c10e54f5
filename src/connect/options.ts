/**
 * What a connector is made from: the options `createConnector` takes, their
 * defaults, and the checks of the family, Happy Eyeballs and SOCKS options
 * (a wrong or renamed option throws at once).
 */
import net from 'node:net';
import type { Connection } from '../connection/connection.js';
import { IrcArgumentError } from '../errors.js';
import type { Limits } from '../limits.js';
import { checkDuration, checkKeys, checkPort } from '../options.js';
import type { ProxyHeaderInit } from '../transport/proxy/encode.js';
import type { ClientTlsOptions } from '../transport/tls.js';
import type { Connector } from './connector.js';
import type { ReconnectOption } from './reconnect.js';
import type { SocksOptions } from './socks.js';

export interface ConnectorOptions {
  /** Host name or address to connect to (or give `path` or `url`). */
  addr?: string;
  port?: number;
  /** Connect to a Unix-domain socket at this path instead of `addr`/`port`. */
  path?: string;
  /** Connect over WebSocket instead: `ws://host:port/path` or `wss://…` (TLS verified as for TCP, with `tls` options). */
  url?: string;
  /** WebSocket subprotocols to offer, in order. Default `['binary.ircv3.net', 'text.ircv3.net']`. */
  protocols?: readonly string[];
  /** The Origin header of a WebSocket connector (some servers require one). */
  origin?: string;
  /** Local address to connect from. */
  bindAddr?: string;
  /** Resolve and connect over IPv6 only (the same as `family: 6`). */
  ipv6?: boolean;
  /**
   * Pin one IP family (4 or 6). Without it, a host name with both AAAA and A
   * records is dialled Happy Eyeballs style: the addresses are tried in turn,
   * each given `attemptDelay` before the next one starts racing it.
   */
  family?: 4 | 6;
  /** Happy Eyeballs: ms an address has before the next one is tried too (Node's `autoSelectFamilyAttemptTimeout`, at least 10). Default 250. */
  attemptDelay?: number;
  /** Name resolution in `dns.lookup`'s shape (called with `all: true`); default `dns.lookup`. */
  lookup?: net.LookupFunction;
  /**
   * Connect through a SOCKS5 (or SOCKS4a) proxy: the host name goes to the
   * proxy unresolved (so `.onion` names work through Tor), TLS is verified
   * end to end as on a direct connection. `conn.peerAddr` is then the proxy's.
   */
  socks?: SocksOptions;
  /**
   * Connect again after the connection drops or an attempt fails: `false`
   * (the default, as the seed), `true` (the defaults), `{ initialDelay,
   * maxDelay, factor, jitter, maxAttempts, resetAfter }` (exponential backoff
   * with full jitter), or `(attempt, cause) => delayMs | false`. A connection
   * closed by us (`disconnect`, `disconnectNow`, `shutdown`,
   * `connector.close()`) never reconnects.
   */
  reconnect?: ReconnectOption;
  /**
   * `true`: TLS with the system CAs, verifying the certificate and the host
   * name (with SNI). An object: Node's `tls.ConnectionOptions` — `ca`, `cert`,
   * `key`, `servername`, `rejectUnauthorized: false` to accept any certificate.
   * Over a Unix socket the name checked is `servername`, else `localhost`.
   * `fingerprint: 'sha256:…'` (or a list) pins the server's certificate
   * instead: accepted when, and only when, it matches (`ERR_TLS_FINGERPRINT`).
   * The minimum TLS version is 1.2 unless `minVersion` says otherwise.
   */
  tls?: boolean | ClientTlsOptions;
  /**
   * Send a PROXY protocol header first (before TLS): what a gateway or
   * bouncer uses to tell the server who its user really is. The server must
   * trust this host as a proxy.
   */
  proxyHeader?: ProxyHeaderInit;
  /** Milliseconds to wait for the connection (and TLS handshake). Default 30 000. */
  timeout?: number;
  /** Milliseconds without input before `connectionIdle` (repeating). Default 0: none. */
  idle?: number;
  /** Handed to the connection. */
  args?: unknown;
  limits?: Partial<Limits>;
}

/** `createConnector`'s promise of the first connection, carrying the connector that lives on. */
export type ConnectorPromise = Promise<Connection> & { readonly connector: Connector };

/** @internal */
export const CONNECTOR_KEYS = [
  'addr', 'port', 'path', 'url', 'protocols', 'origin', 'bindAddr', 'ipv6', 'family', 'tls', 'proxyHeader', 'timeout', 'idle', 'args', 'limits',
  'reconnect', 'socks', 'lookup', 'attemptDelay',
];

/** @internal */
export const SOCKS_KEYS = ['host', 'port', 'version', 'userId', 'password', 'timeout'];

/** @internal */
export const DEFAULT_CONNECT_TIMEOUT = 30_000;

/** @internal */
export function checkFamily(where: string, opts: ConnectorOptions): 4 | 6 | undefined {
  const family: unknown = opts.family;
  if (family !== undefined && family !== 4 && family !== 6) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'family' must be 4 or 6, got ${typeof family === 'number' ? family : typeof family}`);
  }
  if (opts.ipv6 === true && family === 4) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'ipv6: true' and 'family: 4' disagree`);
  if (opts.ipv6 === true) return 6;
  if (family !== undefined) return family;
  if (opts.addr !== undefined && net.isIP(opts.addr) !== 0) return net.isIPv6(opts.addr) ? 6 : 4;
  return undefined;
}

/** @internal */
export function checkAttemptDelay(where: string, value: unknown): number {
  // Node refuses less than 10 ms.
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 10) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'attemptDelay' must be a whole number of milliseconds, at least 10, got ${String(value)}`);
  }
  return value;
}

/** @internal */
export function checkSocks(where: string, socks: unknown): SocksOptions {
  if (typeof socks !== 'object' || socks === null) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'socks' must be { host, port, version?, userId?, password?, timeout? }`);
  }
  checkKeys(`${where} socks`, socks, SOCKS_KEYS);
  const o = socks as SocksOptions;
  if (typeof o.host !== 'string' || o.host === '') throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: socks.host must be the proxy's host name or address`);
  const port = checkPort(`${where} socks`, o.port);
  if (port === 0) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: socks.port must be 1 to 65535`);
  const version: unknown = o.version;
  if (version !== undefined && version !== 4 && version !== 5) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: socks.version must be 4 or 5`);
  for (const key of ['userId', 'password'] as const) {
    const v: unknown = o[key];
    // RFC 1929: one length byte each.
    if (v !== undefined && (typeof v !== 'string' || Buffer.byteLength(v) > 255)) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: socks.${key} must be a string of at most 255 bytes`);
    }
  }
  if (o.password !== undefined && version === 4) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: SOCKS4 has no password (use version 5)`);
  if (o.password !== undefined && o.userId === undefined) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: socks.password needs socks.userId`);
  const timeout = o.timeout === undefined ? undefined : checkDuration(`${where} socks`, 'timeout', o.timeout);
  return { host: o.host, port, ...(version === undefined ? {} : { version }), ...(o.userId === undefined ? {} : { userId: o.userId }), ...(o.password === undefined ? {} : { password: o.password }), ...(timeout === undefined ? {} : { timeout }) };
}
