import { IRC_LIMITS } from './message/limits.js';

/**
 * Per-connection bounds. Every one has a default that protects a public
 * server; `SECURITY.md` says why each default is what it is.
 */
export interface Limits {
  /** Tag section of an incoming line, `@` and space included. IRCv3: 8191. */
  maxTagBytes: number;
  /** Body of an incoming line, CRLF included. RFC 1459: 512. */
  maxBodyBytes: number;
  /**
   * Bytes queued for a peer (ours plus Node's socket buffer) past which the
   * connection is closed with `ERROR :SendQ exceeded`. Ergo uses 96 KiB,
   * InspIRCd a hard 1 MiB for clients; 1 MiB lets a client receive a full
   * NAMES/WHO/LIST burst of a large network while bounding a stuck reader.
   */
  sendQ: number;
  /** Queued bytes at which `sendQueueHigh` fires once, so the layer above can react. */
  sendQHighWater: number;
  /** How long `disconnect` waits for the queue to drain before closing by force (ms). */
  disconnectTimeout: number;
  /**
   * Received bytes held but not yet dispatched (while flood control holds
   * lines back, or a compressed link inflates faster than lines are taken)
   * past which the connection is closed with `Excess Flood`. Above one
   * socket read (64 KiB) so that a paused connection's last read always fits.
   */
  readQ: number;
  /** An accepted connection that sends no complete line within this (ms) is dropped. Slowloris guard. */
  firstLineTimeout: number;
  /** A TLS handshake on a listener that takes longer than this (ms) is abandoned. */
  tlsHandshakeTimeout: number;
  /** On a compressed link, the most bytes one socket read may inflate to (the bomb guard). */
  maxInflatePerRead: number;
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxTagBytes: IRC_LIMITS.tagSection,
  maxBodyBytes: IRC_LIMITS.body,
  sendQ: 1024 * 1024,
  sendQHighWater: 256 * 1024,
  disconnectTimeout: 10_000,
  readQ: 128 * 1024,
  firstLineTimeout: 30_000,
  tlsHandshakeTimeout: 10_000,
  maxInflatePerRead: 4 * 1024 * 1024,
});

/**
 * Per-connection flood control: a token bucket of `rate` lines per second
 * with room for `burst`. `'delay'` holds excess lines back and stops reading
 * (the ircd "fakelag" way) until the peer owes more than `maxDelay` ms, then
 * closes with `Excess Flood`; `'disconnect'` closes at the first excess line.
 */
export interface FloodOptions {
  rate: number;
  burst: number;
  mode?: 'delay' | 'disconnect';
  /** Most delay (ms) a peer may owe in `'delay'` mode. Default 10 000. */
  maxDelay?: number;
}
