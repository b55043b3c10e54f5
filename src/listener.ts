import type { Server } from 'node:net';
import type { Admission } from './admission/admission.js';
import type { FloodOptions, Limits } from './limits.js';

/** Who is knocking, as the `check` hook of a listener sees it. */
export interface AdmissionRequest {
  addr: string;
  port: number;
  listener: Listener;
}

/**
 * A listener's own admission hook (a DNS blocklist lookup, a ban list…), run
 * after the built-in limits and before `listenerOpen`: `true` admits,
 * `false` or a reason refuses.
 */
export type AdmissionCheck = (req: AdmissionRequest) => boolean | string | Promise<boolean | string>;

export type ListenerId = number;

/** A listening socket (the seed's POEx::IRC::Backend::Listener). */
export class Listener {
  readonly id: ListenerId;
  /** The address it was asked to bind. */
  readonly addr: string;
  /** The port it is bound to (the real one when it was asked for port 0). */
  port: number;
  readonly protocol: 4 | 6;
  /** Whether it speaks TLS. */
  readonly tls: boolean;
  /** Idle time (ms) given to the connections it accepts. */
  readonly idle: number;
  /** Handed to every connection it accepts. */
  readonly args: unknown;
  /** @internal */
  readonly limits: Readonly<Limits>;
  /** @internal */
  readonly server: Server;
  /** The listener's admission control (counts, lists, throttle), or `undefined` when off. */
  readonly admission: Admission | undefined;
  /** @internal */
  readonly check: AdmissionCheck | undefined;
  /** @internal */
  readonly flood: FloodOptions | undefined;
  readonly #close: (l: Listener) => boolean;

  /** @internal */
  constructor(init: {
    id: ListenerId;
    addr: string;
    port: number;
    protocol: 4 | 6;
    tls: boolean;
    idle: number;
    args: unknown;
    limits: Readonly<Limits>;
    server: Server;
    admission: Admission | undefined;
    check: AdmissionCheck | undefined;
    flood: FloodOptions | undefined;
    close: (l: Listener) => boolean;
  }) {
    this.id = init.id;
    this.addr = init.addr;
    this.port = init.port;
    this.protocol = init.protocol;
    this.tls = init.tls;
    this.idle = init.idle;
    this.args = init.args;
    this.limits = init.limits;
    this.server = init.server;
    this.admission = init.admission;
    this.check = init.check;
    this.flood = init.flood;
    this.#close = init.close;
  }

  /** Stops listening; connections it accepted stay up. False when it was already closed. */
  close(): boolean {
    return this.#close(this);
  }
}
