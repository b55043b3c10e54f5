/**
 * What a peer server sends: the handshake's PASS and SERVER, then the server
 * protocol (RFC 2813) — servers, users, channels, messages and their routing
 * to local clients and on to the other links. A malformed line in the burst
 * (a NICK or SERVER that cannot be read) closes that link with ERROR; lines
 * this server has no use for (MODE, CHANINFO, METADATA, AWAY, ...) are
 * ignored, as RFC 2813 servers do with what they do not support.
 */
import { isValidNick } from '../registration.js';
import { isValidChannel } from '../channels.js';
import { deliverToChannel, deliverToClients } from '../fanout.js';
import type { IrcMessage, IrcMessageInit } from '../../../index.js';
import type { Channel, Client, User } from '../state.js';
import { claimNick } from './collision.js';
import { isServerName, parsePass, parseServer } from './handshake.js';
import type { Link } from './link.js';
import type { Network } from './network.js';
import { RemoteUser, type ServerEntry } from './servers.js';

type Handler = (net: Network, link: Link, msg: IrcMessage) => void;

/** The prefixes NJOIN puts before a member's nick for its channel modes. */
const MEMBER_PREFIX = /^[@%+&~!]+/;

export function handleLinkMessage(net: Network, link: Link, msg: IrcMessage): void {
  if (!link.registered) {
    handshake(net, link, msg);
    return;
  }
  const handler = HANDLERS.get(msg.command);
  if (handler !== undefined) {
    handler(net, link, msg);
  } else if (/^\d{3}$/.test(msg.command)) {
    numeric(net, msg);
  }
}

function handshake(net: Network, link: Link, msg: IrcMessage): void {
  switch (msg.command) {
    case 'PASS': {
      const pass = parsePass(msg.params);
      if (typeof pass === 'string') net.drop(link, pass);
      else link.pass = pass;
      return;
    }
    case 'SERVER': {
      const peer = parseServer(msg);
      if (typeof peer === 'string') net.drop(link, peer);
      else net.register(link, peer);
      return;
    }
    case 'ERROR':
      error(net, link, msg);
      return;
    default:
    // NOTICE AUTH and the like, before the peer knows it talks to a server.
  }
}

const HANDLERS: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ['SERVER', server],
  ['NICK', nick],
  ['NJOIN', njoin],
  ['JOIN', join],
  ['PART', part],
  ['QUIT', quit],
  ['KILL', kill],
  ['KICK', kick],
  ['TOPIC', topic],
  ['PRIVMSG', message],
  ['NOTICE', message],
  ['SQUIT', squit],
  ['PING', ping],
  ['PONG', pong],
  ['ERROR', error],
]);

/** The user a line comes from: one behind this link, else undefined (a race with its QUIT, or a lie). */
function remoteSource(link: Link, msg: IrcMessage, net: Network): RemoteUser | undefined {
  const nick = msg.source?.split('!')[0];
  if (nick === undefined) return undefined;
  const user = net.ctx.state.findNick(nick);
  return user !== undefined && !user.local && user.server.link === link ? user : undefined;
}

/** A server behind this link (or the peer itself) named by the line's source. */
function sourceServer(net: Network, link: Link, msg: IrcMessage): ServerEntry | undefined {
  const source = msg.source;
  if (source === undefined) return link.server;
  const s = net.servers.find(source);
  return s?.link === link ? s : undefined;
}

function server(net: Network, link: Link, msg: IrcMessage): void {
  const [name, hops, token] = msg.params;
  const info = msg.params[msg.params.length - 1] ?? '';
  const uplink = sourceServer(net, link, msg);
  const h = Number(hops);
  if (name === undefined || token === undefined || msg.params.length < 4 || !isServerName(name) || !Number.isInteger(h) || h < 2) {
    net.drop(link, `Malformed SERVER: ${msg.params.join(' ')}`);
    return;
  }
  if (uplink === undefined) {
    net.drop(link, `SERVER ${name} from unknown server ${msg.source ?? ''}`);
    return;
  }
  if (net.servers.find(name) !== undefined) {
    net.drop(link, `ID "${name}" already registered`);
    return;
  }
  const entry = net.servers.add(name, info, h, uplink, link);
  link.tokens.set(token, entry);
  net.broadcast({ source: uplink.name, command: 'SERVER', params: [name, String(h + 1), String(entry.token), info] }, link);
}

function nick(net: Network, link: Link, msg: IrcMessage): void {
  if (msg.params.length >= 7) {
    introduce(net, link, msg);
    return;
  }
  const user = remoteSource(link, msg, net);
  const wanted = msg.params[0];
  if (user === undefined || wanted === undefined) return;
  if (!isValidNick(wanted)) {
    net.drop(link, `Malformed NICK: ${wanted}`);
    return;
  }
  const holder = net.ctx.state.findNick(wanted);
  if (holder !== undefined && holder !== user) {
    claimNick(net, link, wanted);
    // The others know it by its old nick: it goes everywhere.
    net.broadcast({ source: net.me.name, command: 'KILL', params: [user.nick, `${net.me.name} (Nick collision)`] }, link);
    net.removeUser(user, 'Killed (Nick collision)');
    return;
  }
  const { state } = net.ctx;
  const oldPrefix = user.prefix;
  const oldNick = user.nick;
  state.nicks.delete(user.folded);
  user.setNick(wanted);
  state.nicks.set(user.folded, user);
  const peers = new Set<Client>();
  for (const channel of user.channels) for (const m of channel.members) peers.add(m);
  if (peers.size > 0) deliverToClients(net.ctx.backend, peers, { source: oldPrefix, command: 'NICK', params: [wanted] });
  net.broadcast({ source: oldNick, command: 'NICK', params: [wanted] }, link);
}

/** `NICK nick hops user host token umodes :realname` (RFC 2813 4.1.3). */
function introduce(net: Network, link: Link, msg: IrcMessage): void {
  const [nickname, hops, username, host, token] = msg.params as [string, string, string, string, string];
  const realname = msg.params[6] ?? '';
  const h = Number(hops);
  if (!isValidNick(nickname) || !Number.isInteger(h) || h < 1 || username === '' || host === '' || /[\s!@]/.test(username + host)) {
    net.drop(link, `Malformed NICK: ${msg.params.slice(0, 5).join(' ')}`);
    return;
  }
  // The peer numbers servers its own way; its own users come with hop count 1, whatever token it uses.
  const server = h === 1 ? link.server : link.tokens.get(token);
  if (server === undefined || net.servers.find(server.name) !== server) {
    net.drop(link, `NICK ${nickname} on unknown server token ${token}`);
    return;
  }
  if (!claimNick(net, link, nickname)) return;
  const user = new RemoteUser(server, nickname, h, username, host, realname);
  net.addUser(user);
  net.broadcast({ source: net.me.name, command: 'NICK', params: [nickname, String(h + 1), username, host, String(server.token), msg.params[5] ?? '+', realname] }, link);
}

/** `NJOIN #channel :@nick,+nick,nick`: members of a channel, in a burst. */
function njoin(net: Network, link: Link, msg: IrcMessage): void {
  const [name, list] = msg.params;
  if (name === undefined || list === undefined) {
    net.drop(link, 'Malformed NJOIN');
    return;
  }
  if (!isValidChannel(name)) return; // `+` and `&` channels, which the relay's clients cannot join anyway.
  const joined: string[] = [];
  for (const entry of list.split(',')) {
    const user = net.ctx.state.findNick(entry.replace(MEMBER_PREFIX, ''));
    // A nick that lost a collision is not known: it is skipped, not an error.
    if (user === undefined || user.local || user.server.link !== link) continue;
    if (addMember(net, user, name)) joined.push(user.nick);
  }
  if (joined.length > 0) net.broadcast({ source: msg.source, command: 'NJOIN', params: [name, joined.join(',')] }, link);
}

/** Puts a remote user in a channel and shows its JOIN to the local members; false when it was there. */
function addMember(net: Network, user: RemoteUser, name: string): boolean {
  const channel = net.ctx.state.channel(name);
  if (channel.remote.has(user)) return false;
  channel.remote.add(user);
  user.channels.add(channel);
  deliverToChannel(net.ctx.backend, channel, { source: user.prefix, command: 'JOIN', params: [channel.name] }, undefined);
  return true;
}

function removeMember(net: Network, user: RemoteUser, channel: Channel, out: IrcMessageInit & { source: string }): void {
  deliverToChannel(net.ctx.backend, channel, { source: out.source, command: out.command, params: out.params ?? [] }, undefined);
  channel.remote.delete(user);
  user.channels.delete(channel);
  net.ctx.state.dropIfEmpty(channel);
}

function join(net: Network, link: Link, msg: IrcMessage): void {
  const user = remoteSource(link, msg, net);
  const list = msg.params[0];
  if (user === undefined || list === undefined) return;
  if (list === '0') {
    for (const channel of [...user.channels]) removeMember(net, user, channel, { source: user.prefix, command: 'PART', params: [channel.name] });
  } else {
    // RFC 2813: `#channel^Gov` carries the member's modes after a BEL.
    for (const item of list.split(',')) {
      const name = item.split('\x07')[0] ?? '';
      if (isValidChannel(name)) addMember(net, user, name);
    }
  }
  net.broadcast({ source: user.nick, command: 'JOIN', params: [list] }, link);
}

function part(net: Network, link: Link, msg: IrcMessage): void {
  const user = remoteSource(link, msg, net);
  const list = msg.params[0];
  if (user === undefined || list === undefined) return;
  const reason = msg.params[1];
  for (const name of list.split(',')) {
    const channel = net.ctx.state.findChannel(name);
    if (channel === undefined || !channel.remote.has(user)) continue;
    const params = reason === undefined || reason === '' ? [channel.name] : [channel.name, reason];
    removeMember(net, user, channel, { source: user.prefix, command: 'PART', params });
  }
  net.broadcast({ source: user.nick, command: 'PART', params: msg.params }, link);
}

function quit(net: Network, link: Link, msg: IrcMessage): void {
  const user = remoteSource(link, msg, net);
  if (user === undefined) return;
  const reason = msg.params[0] ?? '';
  net.removeUser(user, reason);
  net.broadcast({ source: user.nick, command: 'QUIT', params: [reason] }, link);
}

/** `KILL nick :path`: a local client is disconnected, a remote one dropped; the others are told. */
function kill(net: Network, link: Link, msg: IrcMessage): void {
  const [nickname, path] = msg.params;
  if (nickname === undefined) return;
  const user = net.ctx.state.findNick(nickname);
  const sender = linkSender(net, link, msg);
  if (user === undefined || sender === undefined) return;
  const reason = `Killed (${sender.wire} (${path ?? ''}))`;
  net.broadcast({ source: sender.wire, command: 'KILL', params: msg.params }, link);
  if (user.local) {
    net.ctx.closeLink(user, reason);
  } else {
    net.removeUser(user, reason);
  }
}

function kick(net: Network, link: Link, msg: IrcMessage): void {
  const [name, nickname, reason] = msg.params;
  if (name === undefined || nickname === undefined) return;
  const channel = net.ctx.state.findChannel(name);
  const victim = net.ctx.state.findNick(nickname);
  const sender = linkSender(net, link, msg);
  if (channel === undefined || victim === undefined || sender === undefined) return;
  const source = sender.prefix;
  const params = [channel.name, victim.target, reason ?? victim.target];
  if (victim.local) {
    if (!channel.members.has(victim)) return;
    deliverToChannel(net.ctx.backend, channel, { source, command: 'KICK', params }, undefined);
    net.ctx.state.part(victim, channel);
  } else {
    if (!channel.remote.has(victim)) return;
    removeMember(net, victim, channel, { source, command: 'KICK', params });
  }
  net.broadcast({ source: sender.wire, command: 'KICK', params: msg.params }, link);
}

function topic(net: Network, link: Link, msg: IrcMessage): void {
  const [name, text] = msg.params;
  if (name === undefined || text === undefined) return;
  const channel = net.ctx.state.findChannel(name);
  const sender = linkSender(net, link, msg);
  if (channel === undefined || sender === undefined) return;
  channel.topic = text;
  channel.topicBy = sender.prefix;
  channel.topicAt = Math.floor(Date.now() / 1000);
  deliverToChannel(net.ctx.backend, channel, { source: sender.prefix, command: 'TOPIC', params: [channel.name, text] }, undefined);
  net.broadcast({ source: sender.wire, command: 'TOPIC', params: msg.params }, link);
}

/**
 * Who sent a line over `link`, when it is someone behind that link: a user
 * (`prefix` its `nick!user@host`, `wire` its nick) or a server (its name,
 * the peer itself when the line has no source). Anything else — a local
 * user, one behind another link, another server, a malformed source — is
 * refused: a peer speaks only for its own side of the network.
 */
function linkSender(net: Network, link: Link, msg: IrcMessage): { prefix: string; wire: string } | undefined {
  const user = remoteSource(link, msg, net);
  if (user !== undefined) return { prefix: user.prefix, wire: user.nick };
  const server = sourceServer(net, link, msg);
  return server === undefined ? undefined : { prefix: server.name, wire: server.name };
}

/** PRIVMSG and NOTICE from a user (or a server) behind the link, to channels and nicks. */
function message(net: Network, link: Link, msg: IrcMessage): void {
  const [targets, text] = msg.params;
  if (targets === undefined || text === undefined) return;
  const sender = linkSender(net, link, msg);
  if (sender === undefined) return;
  const { prefix: source, wire } = sender;
  const { state, backend } = net.ctx;
  for (const target of targets.split(',')) {
    if (target.startsWith('#')) {
      const channel = state.findChannel(target);
      if (channel === undefined) continue;
      deliverToChannel(backend, channel, { source, command: msg.command, params: [channel.name, text] }, undefined);
      net.toChannelLinks(channel, { source: wire, command: msg.command, params: [channel.name, text] }, link);
      continue;
    }
    const rcpt: User | undefined = state.findNick(target.split('@')[0] ?? target);
    if (rcpt === undefined) continue;
    if (rcpt.local) {
      deliverToClients(backend, [rcpt], { source, command: msg.command, params: [rcpt.target, text] });
    } else if (rcpt.server.link !== undefined && rcpt.server.link !== link) {
      net.send(rcpt.server.link, { source: wire, command: msg.command, params: [rcpt.nick, text] });
    }
  }
}

function squit(net: Network, link: Link, msg: IrcMessage): void {
  const [name, reason] = msg.params;
  if (name === undefined) return;
  const target = net.servers.find(name);
  if (target === net.me || target === link.server) {
    net.drop(link, `SQUIT: ${reason ?? ''}`);
    return;
  }
  if (target?.link !== link) return;
  net.split(target, reason ?? '', link);
}

function ping(net: Network, link: Link, msg: IrcMessage): void {
  const me = net.me.name;
  net.send(link, { source: me, command: 'PONG', params: [me, msg.params[0] ?? me] });
}

function pong(): void {
  // Any line clears `pingPending` (Network.input); a PONG needs nothing more.
}

function error(net: Network, link: Link, msg: IrcMessage): void {
  const text = msg.params[0] ?? '';
  net.ctx.config.log(`link ${link.server?.name ?? link.expected ?? link.conn.peerAddr} sent ERROR: ${text}`);
  net.close(link, `ERROR from peer: ${text}`);
}

/** A numeric routed to one of our clients (a reply to something it asked a remote server). */
function numeric(net: Network, msg: IrcMessage): void {
  const rcpt = net.ctx.state.findNick(msg.params[0] ?? '');
  if (rcpt?.local === true) net.ctx.sendTo(rcpt, { source: msg.source, command: msg.command, params: msg.params });
}
