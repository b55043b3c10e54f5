import type { SecureContextOptions, TlsOptions } from 'node:tls';
import { IrcArgumentError, IrcTlsError } from '../../errors.js';
import type { AcceptorOptions } from './acceptor.js';
import type { TlsContextSpec } from './context.js';
import { loadTlsFiles } from './files.js';
import { SniMap } from './sni.js';

/** How a TLS listener treats client certificates. */
export type ClientCertMode = 'none' | 'request' | 'require' | 'verify';

/**
 * A TLS server context: key and certificate (PEM text, Buffers or file
 * paths) and any other Node secure-context option, a few Node server
 * options, and ircsock's own: `sni`, `watch`, `clientCert`.
 */
export type ServerTlsOptions = SecureContextOptions &
  Pick<TlsOptions, 'requestCert' | 'rejectUnauthorized' | 'handshakeTimeout' | 'ALPNProtocols'> & {
    /**
     * More certificates, chosen by the name the client asks for (SNI): exact
     * names or `*.example.net` (one label). Each entry has its own `key` and
     * `cert`; every other option comes from the default context. A client
     * that sends no name, or one not listed, gets the default certificate.
     */
    sni?: Readonly<Record<string, SecureContextOptions>>;
    /**
     * Reload when the key or certificate files change on disk (certbot's and
     * lego's renewals included). `true`: debounced by 1 s; `{ debounce }` in
     * milliseconds. Default off. Only files given as paths are watched.
     */
    watch?: boolean | { debounce?: number };
    /**
     * Client certificates: `'request'` (default: asked for, never required;
     * `conn.tls.authorized` says whether it verified against `ca`),
     * `'require'` (a peer without one is refused, `ERR_TLS_CLIENT_CERT`; any
     * certificate will do, CertFP style), `'verify'` (required and verified
     * against `ca`: the handshake fails otherwise), `'none'` (not asked for).
     * Replaces Node's `requestCert`/`rejectUnauthorized`; give one or the other.
     */
    clientCert?: ClientCertMode;
  };

/** Options that are the server's, not the secure context's: a listener giving only these shares the backend's context. */
export const SERVER_ONLY_KEYS: ReadonlySet<string> = new Set(['requestCert', 'rejectUnauthorized', 'handshakeTimeout', 'ALPNProtocols', 'clientCert', 'watch']);

const DEFAULT_DEBOUNCE = 1_000;

/** A server TLS setup, checked and sorted into the context and the acceptor's part. */
export interface ServerTlsPlan {
  spec: TlsContextSpec;
  acceptor: AcceptorOptions;
  requireCert: boolean;
  /** Debounce of the file watch, or `undefined` for none. */
  watch: number | undefined;
  /** Whether there is a key and certificate (or pfx) to serve. */
  hasKey: boolean;
}

export function planServerTls(where: string, opts: ServerTlsOptions): ServerTlsPlan {
  if (typeof opts !== 'object' || (opts as unknown) === null) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'tls' must be an object of TLS options`);
  const { sni, watch, clientCert, requestCert, rejectUnauthorized, handshakeTimeout, ALPNProtocols, ...context } = opts;
  // Unreadable files fail now, where the option was given; the contexts read them again when they are built.
  loadTlsFiles(where, context);
  const base: SecureContextOptions = { minVersion: 'TLSv1.2', ...context };
  const entries: [string, SecureContextOptions][] = [];
  if (sni !== undefined) {
    if (typeof sni !== 'object' || (sni as unknown) === null) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: tls.sni must be { 'irc.example.net': { key, cert }, '*.example.net': { key, cert } }`);
    }
    for (const [name, entry] of Object.entries(sni)) {
      try {
        SniMap.check(name);
      } catch (err) {
        throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: tls.sni ${(err as Error).message}`);
      }
      if (typeof entry !== 'object' || (entry as unknown) === null || (entry.key === undefined && entry.pfx === undefined) || (entry.cert === undefined && entry.pfx === undefined)) {
        throw new IrcTlsError(`${where}: tls.sni[${JSON.stringify(name)}] needs its own key and cert`);
      }
      loadTlsFiles(`${where} tls.sni[${JSON.stringify(name)}]`, entry);
      entries.push([name, entry]);
    }
  }
  let watchMs: number | undefined;
  if (watch === true) watchMs = DEFAULT_DEBOUNCE;
  else if (typeof watch === 'object' && (watch as unknown) !== null) {
    const d = watch.debounce ?? DEFAULT_DEBOUNCE;
    if (typeof d !== 'number' || !Number.isFinite(d) || d < 0) throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: tls.watch.debounce must be milliseconds, 0 or more`);
    watchMs = d;
  } else if (watch !== undefined && watch !== false) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: tls.watch must be true, false or { debounce }`);
  }
  const acceptor: AcceptorOptions = {};
  if (handshakeTimeout !== undefined) acceptor.handshakeTimeout = handshakeTimeout;
  if (ALPNProtocols !== undefined) acceptor.ALPNProtocols = ALPNProtocols;
  let requireCert = false;
  if (clientCert !== undefined) {
    if (requestCert !== undefined || rejectUnauthorized !== undefined) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: give tls.clientCert or Node's requestCert/rejectUnauthorized, not both`);
    }
    if (clientCert === 'verify' && context.ca === undefined) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: tls.clientCert 'verify' needs tls.ca, the CA the client certificates must chain to`);
    }
    switch (clientCert) {
      case 'none':
        acceptor.requestCert = false;
        break;
      case 'request':
      case 'require':
        acceptor.requestCert = true;
        acceptor.rejectUnauthorized = false;
        requireCert = clientCert === 'require';
        break;
      case 'verify':
        acceptor.requestCert = true;
        acceptor.rejectUnauthorized = true;
        break;
      default:
        throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: tls.clientCert must be 'none', 'request', 'require' or 'verify'`);
    }
  } else {
    // IRC servers ask for a client certificate (CertFP, SASL EXTERNAL) but do not require one.
    acceptor.requestCert = requestCert ?? true;
    acceptor.rejectUnauthorized = rejectUnauthorized ?? false;
  }
  return {
    spec: { base, sni: entries },
    acceptor,
    requireCert,
    watch: watchMs,
    hasKey: (context.key !== undefined && context.cert !== undefined) || context.pfx !== undefined,
  };
}
