/**
 * The network as this server sees it: the servers it knows (a tree rooted at
 * itself, each reached through one direct link) and the users behind them.
 */
import { casefold } from '../../../index.js';
import type { Channel } from '../state.js';
import type { Link } from './link.js';

/** One server of the network, this one included. */
export class ServerEntry {
  readonly name: string;
  readonly folded: string;
  readonly info: string;
  /** Hops from this server: 0 for itself, 1 for a direct peer. */
  readonly hops: number;
  /** Our token for it, sent in SERVER and in the NICKs of its users. Ours is 1. */
  readonly token: number;
  /** The server it hangs off (its uplink); `undefined` for this server. */
  readonly uplink: ServerEntry | undefined;
  /** The direct link it is reached through; `undefined` for this server. */
  readonly link: Link | undefined;
  readonly users = new Set<RemoteUser>();

  constructor(name: string, info: string, hops: number, token: number, uplink: ServerEntry | undefined, link: Link | undefined) {
    this.name = name;
    this.folded = casefold(name);
    this.info = info;
    this.hops = hops;
    this.token = token;
    this.uplink = uplink;
    this.link = link;
  }
}

/** A user of another server, known from a server-form NICK. */
export class RemoteUser {
  readonly local = false;
  readonly registered = true;
  readonly server: ServerEntry;
  readonly user: string;
  readonly host: string;
  readonly realname: string;
  /** Hops as the peer announced it (its own users: 1). */
  readonly hops: number;
  readonly channels = new Set<Channel>();
  nick: string;
  folded: string;
  removed = false;
  #prefix: string | undefined;

  constructor(server: ServerEntry, nick: string, hops: number, user: string, host: string, realname: string) {
    this.server = server;
    this.nick = nick;
    this.folded = casefold(nick);
    this.hops = hops;
    this.user = user;
    this.host = host;
    this.realname = realname;
  }

  get target(): string {
    return this.nick;
  }

  get prefix(): string {
    this.#prefix ??= `${this.nick}!${this.user}@${this.host}`;
    return this.#prefix;
  }

  setNick(nick: string): void {
    this.nick = nick;
    this.folded = casefold(nick);
    this.#prefix = undefined;
  }
}

/** Every known server by folded name, and the tokens this server hands out. */
export class ServerTable {
  readonly me: ServerEntry;
  readonly #byName = new Map<string, ServerEntry>();
  #nextToken = 2;

  constructor(name: string, info: string) {
    this.me = new ServerEntry(name, info, 0, 1, undefined, undefined);
    this.#byName.set(this.me.folded, this.me);
  }

  find(name: string): ServerEntry | undefined {
    return this.#byName.get(casefold(name));
  }

  add(name: string, info: string, hops: number, uplink: ServerEntry, link: Link): ServerEntry {
    const entry = new ServerEntry(name, info, hops, this.#nextToken++, uplink, link);
    this.#byName.set(entry.folded, entry);
    return entry;
  }

  /** Every server but this one, uplinks before the servers behind them (the order a burst needs). */
  others(): ServerEntry[] {
    return [...this.#byName.values()].filter((s) => s !== this.me).sort((a, b) => a.hops - b.hops);
  }

  /** `server` and every server behind it, removed from the table; the lost ones, `server` first. */
  removeTree(server: ServerEntry): ServerEntry[] {
    const lost = [server];
    for (let i = 0; i < lost.length; i++) {
      const up = lost[i] as ServerEntry;
      for (const s of this.#byName.values()) if (s.uplink === up) lost.push(s);
    }
    for (const s of lost) this.#byName.delete(s.folded);
    return lost;
  }
}
