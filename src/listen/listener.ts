import type { Server } from 'node:net';
import type { ForwardedHeader } from '../transport/forwarded.js';
import type { Admission } from '../admission/admission.js';
import type { HandshakeBudget } from '../admission/handshake-budget.js';
import type { CidrList } from '../admission/cidr.js';
import type { FloodOptions, Limits } from '../limits.js';
import type { TlsAcceptor, TlsCertificateFacts, TlsInfo } from '../transport/tls.js';
import type { WebSocketFacts, WsAcceptor } from '../transport/websocket.js';
import type { Endpoint, ProxyFacts } from '../transport/transport.js';

/** Who is knocking, as the `check` hook of a listener sees it. */
export interface AdmissionRequest {
  /** The client's address (behind a trusted PROXY header: the one it names); `''` on a Unix socket. */
  addr: string;
  port: number;
  /** The client's endpoint, Unix sockets included. */
  peer: Endpoint;
  /** The PROXY header and the proxy's own endpoint, when the listener requires one. */
  proxy: ProxyFacts | undefined;
  /** TLS facts on a TLS listener: the handshake is done before the hook runs (CertFP is known). */
  tls: TlsInfo | undefined;
  /** On a WebSocket listener: the upgrade is done (subprotocol, path, origin). */
  websocket: WebSocketFacts | undefined;
  listener: Listener;
}

/**
 * A listener's own admission hook (a DNS blocklist lookup, a ban list…), run
 * after the built-in limits and the TLS handshake, before `listenerOpen`:
 * `true` admits, `false` or a reason refuses.
 */
export type AdmissionCheck = (req: AdmissionRequest) => boolean | string | Promise<boolean | string>;

export type ListenerId = number;

/** @internal What a listener's accept pipeline needs to know. */
export interface ListenerConfig {
  readonly limits: Readonly<Limits>;
  readonly idle: number;
  readonly args: unknown;
  readonly admission: Admission | undefined;
  readonly check: AdmissionCheck | undefined;
  readonly flood: FloodOptions | undefined;
  readonly tlsAcceptor: TlsAcceptor | undefined;
  /** Failed TLS handshakes allowed per address, on a TLS listener. */
  readonly handshakeBudget: HandshakeBudget | undefined;
  /** Trusted PROXY sources and the header deadline, when the listener requires a header. */
  readonly proxy: { readonly from: CidrList; readonly timeout: number } | undefined;
  /** The WebSocket upgrade stage, on a WebSocket listener. */
  readonly websocket:
    | {
        readonly acceptor: WsAcceptor;
        readonly forwardedFrom: CidrList | undefined;
        readonly forwardedHeader: ForwardedHeader;
        readonly upgradeTimeout: number;
        readonly pingInterval: number;
      }
    | undefined;
}

/** A listening socket (the seed's POEx::IRC::Backend::Listener). */
export class Listener {
  readonly id: ListenerId;
  /** `tcp`, `tls`, `unix` (TLS over a Unix socket is `unix` with `tls: true`), `ws` or `wss`. */
  readonly kind: 'tcp' | 'tls' | 'unix' | 'ws' | 'wss';
  /** The address it was asked to bind (`''` for a Unix socket). */
  readonly addr: string;
  /** The port it is bound to (the real one when it was asked for port 0); 0 for a Unix socket. */
  port: number;
  /** The socket file of a Unix listener, else `undefined`. */
  readonly path: string | undefined;
  /** 4 or 6 for an IP listener, `undefined` for a Unix socket. */
  readonly family: 4 | 6 | undefined;
  /** Whether it speaks TLS. */
  readonly tls: boolean;
  /** Whether it requires a PROXY protocol header before anything else. */
  readonly proxy: boolean;
  /** Whether it speaks WebSocket (IRCv3 WebSocket). */
  readonly websocket: boolean;
  /** Idle time (ms) given to the connections it accepts. */
  readonly idle: number;
  /** Handed to every connection it accepts. */
  readonly args: unknown;
  /** The listener's admission control (counts, lists, throttle), or `undefined` when off. */
  readonly admission: Admission | undefined;
  /** @internal */
  readonly config: ListenerConfig;
  /** @internal */
  readonly server: Server;
  readonly #close: (l: Listener) => boolean;
  readonly #reloadTls: (l: Listener) => Promise<unknown>;

  /** @internal */
  constructor(init: {
    id: ListenerId;
    addr: string;
    port: number;
    path: string | undefined;
    family: 4 | 6 | undefined;
    config: ListenerConfig;
    server: Server;
    close: (l: Listener) => boolean;
    reloadTls: (l: Listener) => Promise<unknown>;
  }) {
    const c = init.config;
    this.id = init.id;
    this.addr = init.addr;
    this.port = init.port;
    this.path = init.path;
    this.family = init.family;
    this.tls = c.tlsAcceptor !== undefined;
    this.websocket = c.websocket !== undefined;
    this.kind = this.websocket ? (this.tls ? 'wss' : 'ws') : init.path !== undefined ? 'unix' : this.tls ? 'tls' : 'tcp';
    this.proxy = c.proxy !== undefined;
    this.idle = c.idle;
    this.args = c.args;
    this.admission = c.admission;
    this.config = c;
    this.server = init.server;
    this.#close = init.close;
    this.#reloadTls = init.reloadTls;
  }

  /**
   * Reads this listener's key and certificate files again and swaps in the
   * new context for the next handshakes (the backend's shared one for a
   * `tls: true` listener: every listener on it changes). Resolves with the
   * `tlsReload` info, rejects with `ERR_TLS_RELOAD` (the old context stays).
   * Throws `ERR_INVALID_ARG` on a listener without TLS.
   */
  reloadTls(): Promise<unknown> {
    return this.#reloadTls(this);
  }

  /** The certificates a TLS listener serves now (default first, then SNI entries); `[]` without TLS. */
  get tlsCertificates(): readonly TlsCertificateFacts[] {
    return this.config.tlsAcceptor?.credentials.current.certificates ?? [];
  }

  /** Stops listening; connections it accepted stay up. False when it was already closed. */
  close(): boolean {
    return this.#close(this);
  }
}
