export type ConnectorId = number;

/** An outgoing connection attempt (the seed's POEx::IRC::Backend::Connector). */
export class Connector {
  readonly id: ConnectorId;
  /** Host name or address it connects to. */
  readonly addr: string;
  readonly port: number;
  readonly bindAddr: string | undefined;
  /** 6 when asked for IPv6 or given an IPv6 address, else 4. */
  readonly protocol: 4 | 6;
  readonly tls: boolean;
  /** Handed to the connection it makes. */
  readonly args: unknown;

  /** @internal */
  constructor(init: {
    id: ConnectorId;
    addr: string;
    port: number;
    bindAddr: string | undefined;
    protocol: 4 | 6;
    tls: boolean;
    args: unknown;
  }) {
    this.id = init.id;
    this.addr = init.addr;
    this.port = init.port;
    this.bindAddr = init.bindAddr;
    this.protocol = init.protocol;
    this.tls = init.tls;
    this.args = init.args;
  }
}
