/**
 * The relay's state across a hand-off: what a client record and the channel
 * table become as JSON on the old process, and how the successor rebuilds
 * them. A client keeps its nick, user, realname, capabilities, registration
 * and channels; a channel its name, creation time and topic.
 */
import type { Connection } from '../../index.js';
import type { RelayContext } from './context.js';
import { isValidNick } from './registration.js';
import { Client, type RelayState } from './state.js';

interface ClientRecord {
  nick: string | undefined;
  user: string | undefined;
  realname: string;
  registered: boolean;
  capNegotiating: boolean;
  caps: number;
  channels: string[];
}

interface ChannelRecord {
  name: string;
  created: number;
  topic: string;
  topicBy: string;
  topicAt: number;
}

export function serializeClient(state: RelayState, conn: Connection): ClientRecord | null {
  const client = state.clients.get(conn.id);
  if (client === undefined || client.removed) return null;
  return {
    nick: client.nick,
    user: client.user,
    realname: client.realname,
    registered: client.registered,
    capNegotiating: client.capNegotiating,
    caps: client.caps,
    channels: [...client.channels].map((c) => c.name),
  };
}

export function serializeChannels(state: RelayState): ChannelRecord[] {
  return [...state.channels.values()].map((c) => ({ name: c.name, created: c.created, topic: c.topic, topicBy: c.topicBy, topicAt: c.topicAt }));
}

/** The channels, empty, with their topics: members join as their connections arrive. */
export function restoreChannels(state: RelayState, data: unknown): void {
  if (!Array.isArray(data)) return;
  const byName = new Map<string, ChannelRecord>();
  // Made by the first member's join: a channel exists only while it has one.
  for (const rec of data as ChannelRecord[]) if (typeof rec.name === 'string') byName.set(rec.name, rec);
  savedChannels.set(state, byName);
}

const USER_RE = /^~?[A-Za-z0-9._-]+$/;

const savedChannels = new WeakMap<RelayState, Map<string, ChannelRecord>>();

/** A client record from the predecessor, on its adopted connection. */
export function restoreClient(ctx: RelayContext, conn: Connection, data: unknown): Client {
  const { state } = ctx;
  conn.isClient = true;
  const client = new Client(conn);
  state.clients.set(conn.id, client);
  if (data === null || typeof data !== 'object') return client;
  // From another process: every field checked, none trusted to have its type.
  const rec = data as Partial<Record<keyof ClientRecord, unknown>>;
  // Sources are written unchecked (messaging.ts plainLine): the user name keeps USER's characters.
  if (typeof rec.user === 'string' && USER_RE.test(rec.user)) client.setUser(rec.user);
  client.realname = typeof rec.realname === 'string' ? rec.realname : '';
  client.registered = rec.registered === true;
  client.capNegotiating = rec.capNegotiating === true;
  client.caps = typeof rec.caps === 'number' ? rec.caps : 0;
  if (typeof rec.nick === 'string' && isValidNick(rec.nick)) {
    client.setNick(rec.nick);
    // Two records for one nick cannot come from one predecessor; keep the first all the same.
    if (client.folded !== undefined && !state.nicks.has(client.folded)) state.nicks.set(client.folded, client);
  }
  for (const name of Array.isArray(rec.channels) ? rec.channels : []) {
    if (typeof name !== 'string') continue;
    const fresh = state.findChannel(name) === undefined;
    const channel = state.join(client, name);
    const saved = savedChannels.get(state)?.get(name);
    if (fresh && saved !== undefined) {
      channel.created = saved.created;
      channel.topic = saved.topic;
      channel.topicBy = saved.topicBy;
      channel.topicAt = saved.topicAt;
    }
  }
  return client;
}

/** The old side: clients that moved leave the tables without a QUIT (they did not quit). */
export function forgetMoved(state: RelayState, keep: ReadonlySet<Connection>): number {
  let n = 0;
  for (const [id, client] of [...state.clients]) {
    if (keep.has(client.conn)) continue;
    state.remove(client);
    state.clients.delete(id);
    n++;
  }
  return n;
}
