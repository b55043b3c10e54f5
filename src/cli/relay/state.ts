import type { Connection, ConnectionId } from '../../index.js';
import { casefold } from '../../index.js';
import type { RemoteUser } from './link/servers.js';

/** Capability bits. The low two select a delivery group (see `fanout.ts`). */
export const CAP_MESSAGE_TAGS = 1;
export const CAP_SERVER_TIME = 2;
export const CAP_ECHO_MESSAGE = 4;

/** What `CAP LS` offers, by name. */
export const CAPS: ReadonlyMap<string, number> = new Map([
  ['message-tags', CAP_MESSAGE_TAGS],
  ['server-time', CAP_SERVER_TIME],
  ['echo-message', CAP_ECHO_MESSAGE],
]);

/**
 * A string of its own: a parameter is a slice of the line it came in (V8 keeps
 * the whole line, or the whole read, alive behind it), a concatenation a tree
 * of its pieces. The JSON round trip copies every code unit, lone surrogates
 * (escaped bytes) included.
 */
export function detach(s: string): string {
  return s.length < 13 ? s : (JSON.parse(JSON.stringify(s)) as string);
}

/** One connected client, registered or not. */
const NO_CHANNELS: ReadonlySet<Channel> = new Set();

export class Client {
  /** A client of this server; a `RemoteUser` (behind a server link) has `local: false`. On the prototype: a field less per client. */
  get local(): true {
    return true;
  }

  readonly conn: Connection;
  /**
   * The host shown in sources, WHO and USERHOST: the client's address (behind
   * a PROXY header, the one the header named), made safe as a middle
   * parameter; `localhost` on a Unix socket, which has no address.
   */
  readonly host: string;
  nick: string | undefined = undefined;
  /** `nick` folded, the key in `RelayState.nicks`. */
  folded: string | undefined = undefined;
  user: string | undefined = undefined;
  realname = '';
  registered = false;
  /** The parameters of the connection's PASS, kept for a SERVER registration (a server link). */
  pass: readonly string[] | undefined = undefined;
  /** CAP LS was sent and CAP END has not been: registration waits. */
  capNegotiating = false;
  caps = 0;
  /** Set once the client is gone from the tables, so a QUIT is relayed once. */
  removed = false;
  // Made on the first JOIN: an idle client in no channel carries no Set.
  #channels: Set<Channel> | undefined = undefined;
  #prefix: string | undefined;

  constructor(conn: Connection) {
    this.conn = conn;
    const addr = conn.peerAddr;
    // `::1` cannot start a middle parameter (it would read as a trailing one): ircds write `0::1`.
    this.host = addr.startsWith(':') ? `0${addr}` : addr !== '' ? addr : 'address' in conn.peer ? 'unknown' : 'localhost';
  }

  /** The channels the client is in. */
  get channels(): ReadonlySet<Channel> {
    return this.#channels ?? NO_CHANNELS;
  }

  joined(channel: Channel): void {
    (this.#channels ??= new Set()).add(channel);
  }

  left(channel: Channel): void {
    this.#channels?.delete(channel);
    if (this.#channels?.size === 0) this.#channels = undefined;
  }

  /** The nick for numerics: `*` until one is set. */
  get target(): string {
    return this.nick ?? '*';
  }

  /** `nick!user@host`, built once per nick rather than once per message. */
  get prefix(): string {
    // One flat string, not the tree of pieces a template leaves (kept for the client's life).
    this.#prefix ??= detach(`${this.target}!${this.user ?? 'unknown'}@${this.host}`);
    return this.#prefix;
  }

  setNick(nick: string): void {
    nick = detach(nick);
    this.nick = nick;
    this.folded = casefold(nick);
    this.#prefix = undefined;
  }

  setUser(user: string): void {
    this.user = user;
    this.#prefix = undefined;
  }

  has(cap: number): boolean {
    return (this.caps & cap) !== 0;
  }
}

/** A channel: created by its first JOIN, gone with its last member. */
export class Channel {
  /** The name as first written; lookups use `folded`. */
  readonly name: string;
  readonly folded: string;
  /** Unix seconds; a channel taken over from a predecessor keeps its own. */
  created = Math.floor(Date.now() / 1000);
  /** Members on this server: the fan-out's delivery groups are made from them. */
  readonly members = new Set<Client>();
  /** Members behind server links: a message reaches them once per link (see `link/network.ts`). */
  readonly remote = new Set<RemoteUser>();
  topic = '';
  topicBy = '';
  topicAt = 0;
  /** Members' connections by delivery group, rebuilt after a member or capability change. */
  groups: Connection[][] | undefined = undefined;

  constructor(name: string) {
    this.name = name;
    this.folded = casefold(name);
  }
}

/** Anyone with a nick: a client of this server or a user behind a server link. */
export type User = Client | RemoteUser;

/** Every table the relay keeps; in memory only, gone at exit. */
export class RelayState {
  readonly clients = new Map<ConnectionId, Client>();
  /** Nicks in use, registered or reserved by a client still registering, here or behind a link. */
  readonly nicks = new Map<string, User>();
  readonly channels = new Map<string, Channel>();

  findNick(nick: string): User | undefined {
    return this.nicks.get(casefold(nick));
  }

  findChannel(name: string): Channel | undefined {
    return this.channels.get(casefold(name));
  }

  join(client: Client, name: string): Channel {
    const channel = this.channel(name);
    channel.members.add(client);
    channel.groups = undefined;
    client.joined(channel);
    return channel;
  }

  part(client: Client, channel: Channel): void {
    channel.members.delete(client);
    channel.groups = undefined;
    client.left(channel);
    this.dropIfEmpty(channel);
  }

  /** A channel is gone with its last member, here or behind a link. */
  dropIfEmpty(channel: Channel): void {
    if (channel.members.size === 0 && channel.remote.size === 0) this.channels.delete(channel.folded);
  }

  /** The channel by name, made when it does not exist yet (a JOIN or NJOIN from a link). */
  channel(name: string): Channel {
    const folded = casefold(name);
    let channel = this.channels.get(folded);
    if (channel === undefined) {
      channel = new Channel(name);
      this.channels.set(folded, channel);
    }
    return channel;
  }

  /** Everyone who shares a channel with `client`, each once, `client` not included. */
  peers(client: Client): Set<Client> {
    const out = new Set<Client>();
    for (const channel of client.channels) for (const m of channel.members) if (m !== client) out.add(m);
    return out;
  }

  /**
   * Drops the client's nick and channels; returns false when that was already
   * done. Its `clients` entry stays until the connection is gone, for the log.
   */
  remove(client: Client): boolean {
    if (client.removed) return false;
    client.removed = true;
    if (client.folded !== undefined && this.nicks.get(client.folded) === client) this.nicks.delete(client.folded);
    for (const channel of [...client.channels]) this.part(client, channel);
    return true;
  }
}
