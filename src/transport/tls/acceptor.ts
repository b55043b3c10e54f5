import { Server as NetServer, type Socket } from 'node:net';
import tls, { type TLSSocket, type TlsOptions } from 'node:tls';
import type { BuiltContexts, TlsContextUser, TlsCredentials } from './context.js';

/** Server settings that are not part of a secure context. */
export type AcceptorOptions = Pick<TlsOptions, 'requestCert' | 'rejectUnauthorized' | 'handshakeTimeout' | 'ALPNProtocols' | 'enableTrace'>;

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
 *
 * The certificates come from a {@link TlsCredentials}: its default context
 * is the engine's (swapped with the public `setSecureContext` on a reload,
 * which only new handshakes see) and its SNI map answers `SNICallback`.
 */
export class TlsAcceptor implements TlsContextUser {
  readonly #engine: tls.Server;
  readonly #credentials: TlsCredentials;
  /** The listener wants a client certificate, and refuses a peer without one after the handshake. */
  readonly requireCert: boolean;

  constructor(credentials: TlsCredentials, options: AcceptorOptions, requireCert = false) {
    this.#credentials = credentials;
    this.requireCert = requireCert;
    this.#engine = tls.createServer({
      ...options,
      ...credentials.current.defaultOptions,
      SNICallback: (servername, cb) => {
        cb(null, credentials.lookup(servername));
      },
    });
    credentials.subscribe(this);
  }

  /** A reload's new build: the next handshakes use it (called by its `TlsCredentials`). */
  use(built: BuiltContexts): void {
    this.#engine.setSecureContext(built.defaultOptions);
  }

  /** The listener closed: its credentials need not keep it (nor a watch for it). */
  close(): void {
    this.#credentials.unsubscribe(this);
  }

  get credentials(): TlsCredentials {
    return this.#credentials;
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
