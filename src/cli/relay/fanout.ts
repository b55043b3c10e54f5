/**
 * Sending one message to many clients, formatted once per group of clients
 * that see the same bytes — never once per recipient. A client's group is its
 * `message-tags` and `server-time` bits: plain, client tags, time, or both.
 * `backend.send` then queues the one Buffer it formats to every connection of
 * the group; that is what keeps a channel's fan-out cheap.
 */
import type { Backend, Connection, IrcMessageInit } from '../../index.js';
import { CAP_MESSAGE_TAGS, CAP_SERVER_TIME, type Channel, type Client } from './state.js';

/** Source, command and params: what every group shares. */
export interface Outgoing {
  source: string;
  command: string;
  params: readonly string[];
}

export type Groups = readonly (readonly Connection[])[];

const GROUP_MASK = 3; // CAP_MESSAGE_TAGS | CAP_SERVER_TIME

/** The connections of `clients`, sorted into the four delivery groups. */
export function groupClients(clients: Iterable<Client>): Connection[][] {
  const groups: Connection[][] = [[], [], [], []];
  for (const c of clients) (groups[c.caps & GROUP_MASK] as Connection[]).push(c.conn);
  return groups;
}

/** A channel's groups, kept until its members or their capabilities change. */
export function channelGroups(channel: Channel): Groups {
  channel.groups ??= groupClients(channel.members);
  return channel.groups;
}

/** The groups with one client taken out (the sender, when it did not ask for echo-message). */
export function withoutClient(groups: Groups, client: Client): Groups {
  const k = client.caps & GROUP_MASK;
  const group = groups[k] as readonly Connection[];
  const at = group.indexOf(client.conn);
  if (at < 0) return groups;
  const out = groups.slice();
  out[k] = group.filter((c) => c !== client.conn);
  return out;
}

/** The current time as IRCv3 `server-time` wants it: ISO 8601, UTC, milliseconds. */
export function serverTime(): string {
  return new Date().toISOString();
}

/**
 * Delivers `out` to every group: client-only tags (`+key`) only to the
 * `message-tags` groups, a `time` tag only to the `server-time` groups.
 * `tagsOnly` (TAGMSG) skips the groups without `message-tags`.
 */
export function deliver(
  backend: Backend,
  groups: Groups,
  out: Outgoing,
  clientTags: Readonly<Record<string, string>> | undefined,
  tagsOnly = false,
): void {
  const [plain, tagged, timed, both] = groups as [Connection[], Connection[], Connection[], Connection[]];
  const withTime = timed.length + both.length > 0;
  const time = withTime ? serverTime() : '';
  if (tagsOnly) {
    sendAll(backend, { ...out, tags: clientTags }, tagged);
    if (both.length > 0) sendAll(backend, { ...out, tags: { ...clientTags, time } }, both);
    return;
  }
  if (clientTags === undefined) {
    // Without client tags, message-tags changes nothing: two formats, not four.
    sendAll(backend, out, plain, tagged);
    if (withTime) sendAll(backend, { ...out, tags: { time } }, timed, both);
    return;
  }
  sendAll(backend, out, plain);
  sendAll(backend, { ...out, tags: clientTags }, tagged);
  sendAll(backend, { ...out, tags: { time } }, timed);
  sendAll(backend, { ...out, tags: { ...clientTags, time } }, both);
}

/** Delivers to the members of a channel, `except` one of them (or none). */
export function deliverToChannel(
  backend: Backend,
  channel: Channel,
  out: Outgoing,
  except: Client | undefined,
  clientTags?: Readonly<Record<string, string>>,
  tagsOnly = false,
): void {
  let groups = channelGroups(channel);
  if (except !== undefined) groups = withoutClient(groups, except);
  deliver(backend, groups, out, clientTags, tagsOnly);
}

/** Delivers to a set of clients (QUIT and NICK to everyone sharing a channel, a private message). */
export function deliverToClients(
  backend: Backend,
  clients: Iterable<Client>,
  out: Outgoing,
  clientTags?: Readonly<Record<string, string>>,
  tagsOnly = false,
): void {
  deliver(backend, groupClients(clients), out, clientTags, tagsOnly);
}

/**
 * Delivers to one client (a private message): the one format its group gets,
 * without sorting it into groups first.
 */
export function deliverToClient(
  backend: Backend,
  client: Client,
  out: Outgoing,
  clientTags?: Readonly<Record<string, string>>,
  tagsOnly = false,
): void {
  const tagged = (client.caps & CAP_MESSAGE_TAGS) !== 0;
  if (tagsOnly && !tagged) return;
  const tags = tagged ? clientTags : undefined;
  if ((client.caps & CAP_SERVER_TIME) === 0) {
    backend.send(tags === undefined ? out : { ...out, tags }, client.conn);
  } else {
    backend.send({ ...out, tags: { ...tags, time: serverTime() } }, client.conn);
  }
}

function sendAll(backend: Backend, msg: IrcMessageInit, a: readonly Connection[], b: readonly Connection[] = []): void {
  // Arrays go as they are: one format, no spread, any size.
  if (a.length + b.length > 0) backend.send(msg, a, b);
}
