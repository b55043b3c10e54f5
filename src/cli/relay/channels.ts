/** Channels: JOIN, PART, NAMES, TOPIC. */
import type { IrcMessage } from '../../index.js';
import { CHANNELLEN, TOPICLEN, type RelayContext } from './context.js';
import { deliverToChannel } from './fanout.js';
import type { Channel, Client, User } from './state.js';

// Room for the names in one 353 line: 512 less the source, numeric, nick and channel.
const NAMES_BYTES = 400;

export function isValidChannel(name: string): boolean {
  if (name.length < 2 || name.length > CHANNELLEN || !name.startsWith('#')) return false;
  // No space, comma or BEL (RFC 2812), nor any other control character.
  for (let i = 1; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c === 0x2c || c === 0x7f) return false;
  }
  return true;
}

export function join(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const list = msg.params[0] ?? '';
  if (list === '0') {
    for (const channel of [...client.channels]) leave(ctx, client, channel, 'Left all channels');
    return;
  }
  for (const name of list.split(',')) {
    if (name === '') continue;
    if (!isValidChannel(name)) {
      ctx.reply(client, '403', name, 'No such channel');
      continue;
    }
    const existing = ctx.state.findChannel(name);
    if (existing?.members.has(client) === true) continue;
    const channel = ctx.state.join(client, name);
    deliverToChannel(ctx.backend, channel, { source: client.prefix, command: 'JOIN', params: [channel.name] }, undefined);
    ctx.network?.joined(client, channel);
    if (channel.topic !== '') sendTopic(ctx, client, channel);
    sendNames(ctx, client, channel);
  }
}

export function part(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const reason = msg.params[1];
  for (const name of (msg.params[0] ?? '').split(',')) {
    if (name === '') continue;
    const channel = ctx.state.findChannel(name);
    if (channel === undefined) ctx.reply(client, '403', name, 'No such channel');
    else if (!channel.members.has(client)) ctx.reply(client, '442', channel.name, "You're not on that channel");
    else leave(ctx, client, channel, reason);
  }
}

function leave(ctx: RelayContext, client: Client, channel: Channel, reason: string | undefined): void {
  const params = reason === undefined || reason === '' ? [channel.name] : [channel.name, reason];
  // The one who leaves sees its own PART too: clients close the window on it.
  deliverToChannel(ctx.backend, channel, { source: client.prefix, command: 'PART', params }, undefined);
  ctx.network?.parted(client, channel, reason);
  ctx.state.part(client, channel);
}

export function names(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const list = msg.params[0];
  if (list === undefined || list === '') {
    ctx.reply(client, '366', '*', 'End of /NAMES list');
    return;
  }
  for (const name of list.split(',')) {
    const channel = ctx.state.findChannel(name);
    if (channel === undefined) ctx.reply(client, '366', name, 'End of /NAMES list');
    else sendNames(ctx, client, channel);
  }
}

export function sendNames(ctx: RelayContext, client: Client, channel: Channel): void {
  let line = '';
  for (const m of members(channel)) {
    const nick = m.target;
    if (line !== '' && line.length + 1 + nick.length > NAMES_BYTES) {
      ctx.reply(client, '353', '=', channel.name, line);
      line = '';
    }
    line = line === '' ? nick : `${line} ${nick}`;
  }
  if (line !== '') ctx.reply(client, '353', '=', channel.name, line);
  ctx.reply(client, '366', channel.name, 'End of /NAMES list');
}

/** Everyone in a channel: the local members, then those behind server links. */
export function* members(channel: Channel): Generator<User> {
  yield* channel.members;
  yield* channel.remote;
}

export function topic(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const name = msg.params[0] ?? '';
  const channel = ctx.state.findChannel(name);
  if (channel === undefined) {
    ctx.reply(client, '403', name, 'No such channel');
    return;
  }
  const text = msg.params[1];
  if (text === undefined) {
    if (channel.topic === '') ctx.reply(client, '331', channel.name, 'No topic is set');
    else sendTopic(ctx, client, channel);
    return;
  }
  if (!channel.members.has(client)) {
    ctx.reply(client, '442', channel.name, "You're not on that channel");
    return;
  }
  channel.topic = truncate(text, TOPICLEN);
  channel.topicBy = client.prefix;
  channel.topicAt = Math.floor(Date.now() / 1000);
  deliverToChannel(ctx.backend, channel, { source: client.prefix, command: 'TOPIC', params: [channel.name, channel.topic] }, undefined);
  ctx.network?.topic(client, channel);
}

function sendTopic(ctx: RelayContext, client: Client, channel: Channel): void {
  ctx.reply(client, '332', channel.name, channel.topic);
  ctx.reply(client, '333', channel.name, channel.topicBy, String(channel.topicAt));
}

/** The first `max` code points of `s`: never cut inside a surrogate pair. */
function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  let i = 0;
  for (let n = 0; n < max && i < s.length; n++) i += (s.codePointAt(i) as number) > 0xffff ? 2 : 1;
  return s.slice(0, i);
}
