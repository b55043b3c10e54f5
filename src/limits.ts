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
}

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxTagBytes: IRC_LIMITS.tagSection,
  maxBodyBytes: IRC_LIMITS.body,
  sendQ: 1024 * 1024,
  sendQHighWater: 256 * 1024,
  disconnectTimeout: 10_000,
});
