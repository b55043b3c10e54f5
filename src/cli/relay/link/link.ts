/** One direct server link: its connection, where its handshake stands, and the peer's tokens. */
import type { Connection } from '../../../index.js';
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

  constructor(conn: Connection, direction: 'in' | 'out', expected: string | undefined) {
    this.conn = conn;
    this.direction = direction;
    this.expected = expected;
  }

  get registered(): boolean {
    return this.server !== undefined;
  }
}
