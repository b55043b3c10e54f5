export type ConnectorId = number;

/** An outgoing connection attempt (the seed's POEx::IRC::Backend::Connector). */
export class Connector {
  readonly id: ConnectorId;
  /** `tcp`, `tls`, `unix` (TLS over a Unix socket is `unix` with `tls: true`), `ws` or `wss`. */
  readonly kind: 'tcp' | 'tls' | 'unix' | 'ws' | 'wss';
  /** Host name or address it connects to (`''` for a Unix socket). */
  readonly addr: string;
  /** 0 for a Unix socket. */
  readonly port: number;
  /** The socket file it connects to, for a Unix socket. */
  readonly path: string | undefined;
  /** The URL of a WebSocket connector. */
  readonly url: string | undefined;
  readonly bindAddr: string | undefined;
  /** 6 when asked for IPv6 or given an IPv6 address, 4 otherwise; `undefined` for a Unix socket. */
  readonly family: 4 | 6 | undefined;
  readonly tls: boolean;
  /** Whether it sends a PROXY header before anything else. */
  readonly proxy: boolean;
  /** Handed to the connection it makes. */
  readonly args: unknown;

  /** @internal */
  constructor(init: {
    id: ConnectorId;
    addr: string;
    port: number;
    path: string | undefined;
    url: string | undefined;
    bindAddr: string | undefined;
    family: 4 | 6 | undefined;
    tls: boolean;
    proxy: boolean;
    args: unknown;
  }) {
    this.id = init.id;
    this.addr = init.addr;
    this.port = init.port;
    this.path = init.path;
    this.url = init.url;
    this.bindAddr = init.bindAddr;
    this.family = init.family;
    this.tls = init.tls;
    this.kind = init.url !== undefined ? (init.tls ? 'wss' : 'ws') : init.path !== undefined ? 'unix' : init.tls ? 'tls' : 'tcp';
    this.proxy = init.proxy;
    this.args = init.args;
  }
}
