import { readFileSync } from 'node:fs';
import { Server as NetServer, type Socket } from 'node:net';
import tls, { type TLSSocket, type TlsOptions } from 'node:tls';
import { IrcTlsError } from '../errors.js';

/** TLS facts of a secure connection. */
export interface TlsInfo {
  /** Negotiated protocol, e.g. `TLSv1.3`. */
  protocol: string | null;
  /** Negotiated cipher suite name (OpenSSL's). */
  cipher: string;
  /** SHA-256 fingerprint of the peer's certificate (`AB:CD:…`), when it sent one (CertFP). */
  fingerprint: string | undefined;
  /** Whether the peer's certificate was verified against the trusted CAs. */
  authorized: boolean;
}

export function tlsInfo(socket: TLSSocket): TlsInfo {
  const cert = socket.getPeerCertificate();
  const fingerprint = typeof cert.fingerprint256 === 'string' && cert.fingerprint256 !== '' ? cert.fingerprint256 : undefined;
  return {
    protocol: socket.getProtocol(),
    cipher: socket.getCipher().name,
    fingerprint,
    authorized: socket.authorized,
  };
}

type PemInput = string | Buffer | readonly (string | Buffer)[];

/**
 * A PEM option may be given as PEM text, a Buffer, or a file path (as the seed
 * took file names). Files are read once, when the option is given.
 */
export function loadPem(where: string, name: string, value: PemInput): string | Buffer | (string | Buffer)[] {
  if (Array.isArray(value)) return value.map((v: string | Buffer) => loadOne(where, name, v));
  return loadOne(where, name, value as string | Buffer);
}

function loadOne(where: string, name: string, value: string | Buffer): string | Buffer {
  if (typeof value !== 'string' || value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value);
  } catch (err) {
    throw new IrcTlsError(`${where}: cannot read tls.${name} from '${value}'`, { cause: err });
  }
}

const PEM_KEYS = ['key', 'cert', 'ca', 'pfx', 'crl', 'dhparam'] as const;

/** Replaces file paths by file contents in a Node TLS options object. */
export function loadTlsFiles<T extends object>(where: string, opts: T): T {
  const out = { ...opts } as Record<string, unknown>;
  for (const k of PEM_KEYS) {
    const v = out[k];
    if (typeof v === 'string' || Buffer.isBuffer(v) || Array.isArray(v)) out[k] = loadPem(where, k, v as PemInput);
  }
  return out as unknown as T;
}

/**
 * Server-side TLS handshakes on sockets that were accepted elsewhere (the
 * accept pipeline reads a PROXY header first), with Node's own server
 * machinery: client-certificate verification (`authorized`), the handshake
 * timeout, SNI, session tickets — none of which a bare `new TLSSocket` does.
 *
 * A `tls.Server` that never listens is the engine. Each handshake runs
 * Node's connection listener on a one-connection view of it (an object whose
 * prototype is the engine), whose own `emit` catches that connection's
 * `secureConnection` or `tlsClientError`: so the outcome is tied to the raw
 * socket it started from, with no private field of Node's (such as
 * `TLSSocket#_parent`) and no address-keyed lookup, which Unix sockets could
 * not have.
 */
export class TlsAcceptor {
  readonly #engine: tls.Server;

  constructor(options: TlsOptions) {
    this.#engine = tls.createServer(options);
  }

  /**
   * Starts the handshake on `raw`; `done` is called exactly once, with the
   * secure socket or with the failure (the socket is then destroyed).
   */
  handshake(raw: Socket, done: (err: Error | undefined, socket: TLSSocket | undefined) => void): void {
    const engine = this.#engine;
    let settled = false;
    const settle = (err: Error | undefined, socket: TLSSocket | undefined): void => {
      if (settled) return;
      settled = true;
      if (err !== undefined) socket?.destroy();
      done(err, err === undefined ? socket : undefined);
    };
    const view = Object.create(engine) as tls.Server;
    view.emit = function (this: tls.Server, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'secureConnection') {
        settle(undefined, args[0] as TLSSocket);
        return true;
      }
      if (event === 'tlsClientError') {
        settle(args[0] as Error, args[1] as TLSSocket);
        return true;
      }
      // keylog, session and OCSP events belong to the engine.
      return engine.emit(event, ...args);
    } as tls.Server['emit'];
    (NetServer.prototype.emit as (this: NetServer, event: string, ...args: unknown[]) => boolean).call(view, 'connection', raw);
  }
}
