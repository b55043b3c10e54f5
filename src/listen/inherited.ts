import type { Server, Socket } from 'node:net';
import type { Listener } from './listener.js';

/** What kind of listener a predecessor ran on an inherited listening socket. */
export type InheritedKind = 'tcp' | 'tls' | 'unix' | 'ws' | 'wss';

/**
 * A listening socket received from a predecessor process during a hand-off:
 * already bound and accepting. Give it to `createListener({ inherit })` with
 * the options the new code wants (TLS, WebSocket…); `kind` and `proxy` say
 * what the predecessor ran on it. Until then the connections it accepts wait
 * here, unread, so none is dropped between the hand-off and the listener.
 */
export class InheritedListener {
  /** `addr:port` (`[addr]:port` for IPv6) or `unix:/path`: how both sides name the socket. */
  readonly key: string;
  readonly kind: InheritedKind;
  /** Whether the predecessor required a PROXY header on it. */
  readonly proxy: boolean;
  /** @internal */
  readonly server: Server;
  /** @internal The listener that took it up. */
  listener: Listener | undefined = undefined;
  #waiting: Socket[] = [];
  #accept: ((socket: Socket) => void) | undefined = undefined;

  /** @internal Made by the hand-off receiver. */
  constructor(key: string, kind: InheritedKind, proxy: boolean, server: Server) {
    this.key = key;
    this.kind = kind;
    this.proxy = proxy;
    this.server = server;
    server.on('connection', (socket: Socket) => {
      this.offer(socket);
    });
  }

  /** Whether a listener has taken it up. */
  get claimed(): boolean {
    return this.#accept !== undefined;
  }

  /** @internal A connection for this socket: accepted here, or forwarded by the predecessor. */
  offer(socket: Socket): void {
    if (this.#accept !== undefined) {
      this.#accept(socket);
      return;
    }
    socket.pause();
    socket.on('error', noop);
    this.#waiting.push(socket);
  }

  /** @internal The backend takes it up: waiting connections first. */
  claim(accept: (socket: Socket) => void): void {
    this.#accept = accept;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const socket of waiting) {
      socket.off('error', noop);
      accept(socket);
    }
  }

  /** @internal Nobody took it up: close it here (the predecessor may still hold its own copy). */
  close(): void {
    for (const socket of this.#waiting) socket.destroy();
    this.#waiting = [];
    this.server.close();
  }
}

function noop(): void {
  // A waiting socket's error shows again once a listener takes it up, or not at all.
}
