/** One direct server link: its connection, where its handshake stands, and the peer's tokens. */
import { TokenBucket, type Connection, type TokenBucketOptions } from '../../../index.js';
import type { ServerEntry } from './servers.js';

export class Link {
  readonly conn: Connection;
  /** `out`: we dialled (the peer's name is known in advance); `in`: it came to a listener. */
  readonly direction: 'in' | 'out';
  /** The name the peer must give in SERVER: the `--link NAME@…` name; undefined for incoming links. */
  readonly expected: string | undefined;
  /** The peer's PASS, once received: its password and whether it offers zlib. */
  pass: { password: string; compress: boolean } | undefined = undefined;
  /** The peer as a server of the table, once its SERVER has been accepted. */
  server: ServerEntry | undefined = undefined;
  /** Tokens the peer uses for the servers behind it (a token is the sender's own numbering). */
  readonly tokens = new Map<string, ServerEntry>();
  /** Lines a second the peer may send; past the burst it is dropped with `Excess Flood`. */
  readonly #flood: TokenBucket | undefined;

  constructor(conn: Connection, direction: 'in' | 'out', expected: string | undefined, flood: TokenBucketOptions | false) {
    this.conn = conn;
    this.direction = direction;
    this.expected = expected;
    this.#flood = flood === false ? undefined : new TokenBucket(flood);
  }

  get registered(): boolean {
    return this.server !== undefined;
  }

  /** Charges one line; true when the peer has gone past its burst. */
  flooding(): boolean {
    return this.#flood !== undefined && this.#flood.take() > 0;
  }
}
