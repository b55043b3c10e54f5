/**
 * Outgoing links that come back: one reconnecting connector per `--link`.
 * A link that drops, or that the relay drops for a protocol error, is dialled
 * again on the backoff schedule (`connector.retry()`), from `min` doubling to
 * `max` with full jitter; a link that stayed up a while starts over at `min`.
 */
import type { Backend, ClientTlsOptions, Connection, Connector } from '../../../index.js';

export interface LinkSpec {
  /** The peer's server name, checked against its SERVER line. */
  name: string;
  host: string;
  port: number;
}

export interface DialerOptions {
  /** TLS for the link: Node's connection options (`ca`, `servername`, ...) or true (system CAs). */
  tls: boolean | ClientTlsOptions | undefined;
  /** Idle milliseconds before the link is PINGed. */
  idle: number;
  retry: { min: number; max: number };
  log: (line: string) => void;
  /** Makes the link of a fresh connection (sends PASS and SERVER). */
  open: (conn: Connection, name: string) => void;
}

export interface Dialer {
  stop(): void;
}

export function startDialer(backend: Backend, spec: LinkSpec, opts: DialerOptions): Dialer {
  const pending = backend.createConnector({
    addr: spec.host,
    port: spec.port,
    tls: opts.tls,
    idle: opts.idle,
    timeout: 10_000,
    reconnect: { initialDelay: opts.retry.min, maxDelay: opts.retry.max, factor: 2, jitter: 'full' },
  });
  const connector = pending.connector;
  // Every outcome is told by the events below; the first connection's promise adds nothing.
  pending.catch(() => undefined);
  const onOpen = (conn: Connection, c: Connector): void => {
    if (c === connector) opts.open(conn, spec.name);
  };
  const onRetry = (c: Connector, delay: number, cause: Error): void => {
    if (c !== connector) return;
    const why = (cause as NodeJS.ErrnoException).code ?? cause.message;
    opts.log(`link ${spec.name} to ${connector.target}: ${why}; again in ${(delay / 1000).toFixed(1)} s`);
  };
  backend.on('connectorOpen', onOpen);
  backend.on('connectorRetry', onRetry);
  return {
    stop() {
      backend.off('connectorOpen', onOpen);
      backend.off('connectorRetry', onRetry);
      connector.close('Server shutting down');
    },
  };
}
