/**
 * Outgoing links that come back: dial, run the link until it drops, wait,
 * dial again — the delay doubling from `min` to `max` while attempts fail,
 * back to `min` once a link got through its handshake. Kept apart so that
 * the backend's reconnecting connectors (`reconnect:`) can replace it.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Backend, Connection } from '../../../index.js';
import type { Link } from './link.js';

export interface LinkSpec {
  /** The peer's server name, checked against its SERVER line. */
  name: string;
  host: string;
  port: number;
}

export interface DialerOptions {
  /** TLS for the link: Node's connection options (`ca`, `servername`, ...) or true (system CAs). */
  tls: boolean | ConnectionOptions | undefined;
  /** Idle milliseconds before the link is PINGed. */
  idle: number;
  retry: { min: number; max: number };
  log: (line: string) => void;
  /** Makes the link of a fresh connection (sends PASS and SERVER). */
  open: (conn: Connection, name: string) => Link;
}

export interface Dialer {
  stop(): void;
}

export function startDialer(backend: Backend, spec: LinkSpec, opts: DialerOptions): Dialer {
  let stopped = false;
  let delay = opts.retry.min;
  let timer: NodeJS.Timeout | undefined;
  let current: Connection | undefined;
  let link: Link | undefined;

  const again = (): void => {
    if (stopped) return;
    timer = setTimeout(attempt, delay);
    delay = Math.min(delay * 2, opts.retry.max);
  };
  const onDisconnect = (conn: Connection): void => {
    if (conn !== current) return;
    backend.off('disconnect', onDisconnect);
    // A link that registered went wrong later: come back soon.
    if (link?.registered === true) delay = opts.retry.min;
    current = undefined;
    link = undefined;
    again();
  };
  const attempt = (): void => {
    timer = undefined;
    if (stopped) return;
    backend
      .createConnector({ addr: spec.host, port: spec.port, tls: opts.tls, idle: opts.idle, timeout: 10_000 })
      .then((conn) => {
        if (stopped) {
          backend.disconnectNow(conn, 'Server shutting down');
          return;
        }
        current = conn;
        backend.on('disconnect', onDisconnect);
        link = opts.open(conn, spec.name);
      })
      .catch((err: unknown) => {
        if (stopped) return;
        const e = err as NodeJS.ErrnoException;
        opts.log(`link ${spec.name} to ${spec.host}:${spec.port} failed: ${e.code ?? e.message}; again in ${delay / 1000} s`);
        again();
      });
  };
  attempt();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      backend.off('disconnect', onDisconnect);
    },
  };
}
