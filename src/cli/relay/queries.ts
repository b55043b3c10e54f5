/** Liveness and the queries clients send on their own: PING/PONG, QUIT, WHO, WHOIS, MODE, USERHOST, ISON. */
import type { IrcMessage } from '../../index.js';
import { SOFTWARE, type RelayContext } from './context.js';
import { members } from './channels.js';
import type { Client, User } from './state.js';

export function ping(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const token = msg.params[0];
  if (token === undefined || token === '') {
    ctx.reply(client, '409', 'No origin specified');
    return;
  }
  const name = ctx.config.name;
  ctx.sendTo(client, { source: name, command: 'PONG', params: [name, token] });
}

export function pong(): void {
  // Any input clears `pingPending` (see server.ts); a PONG needs nothing more.
}

export function quit(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const reason = msg.params[0];
  ctx.closeLink(client, reason === undefined || reason === '' ? 'Client Quit' : `Quit: ${reason}`);
}

export function who(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const mask = msg.params[0] ?? '';
  const channel = mask.startsWith('#') ? ctx.state.findChannel(mask) : undefined;
  if (channel !== undefined) {
    for (const m of members(channel)) whoLine(ctx, client, channel.name, m);
  } else if (mask !== '' && !mask.startsWith('#')) {
    const m = ctx.state.findNick(mask);
    if (m?.registered === true) whoLine(ctx, client, '*', m);
  }
  ctx.reply(client, '315', mask === '' ? '*' : mask, 'End of /WHO list');
}

function whoLine(ctx: RelayContext, client: Client, where: string, m: User): void {
  // "H": here (the relay has no AWAY); hop count 0 for this server's own users.
  const server = m.local ? ctx.config.name : m.server.name;
  const hops = m.local ? 0 : m.hops;
  ctx.reply(client, '352', where, m.user ?? '*', m.host, server, m.target, 'H', `${hops} ${m.realname}`);
}

export function whois(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  // `WHOIS server nick` has the nick last.
  const nick = msg.params[msg.params.length - 1] ?? '';
  const m = ctx.state.findNick(nick);
  if (m?.registered !== true) {
    ctx.reply(client, '401', nick, 'No such nick/channel');
  } else {
    ctx.reply(client, '311', m.target, m.user ?? '*', m.host, '*', m.realname);
    const chans = [...m.channels].map((c) => c.name).join(' ');
    if (chans !== '') ctx.reply(client, '319', m.target, chans);
    if (m.local) ctx.reply(client, '312', m.target, ctx.config.name, SOFTWARE);
    else ctx.reply(client, '312', m.target, m.server.name, m.server.info);
  }
  ctx.reply(client, '318', nick, 'End of /WHOIS list');
}

export function mode(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const target = msg.params[0] ?? '';
  const changes = msg.params[1];
  if (target.startsWith('#')) {
    const channel = ctx.state.findChannel(target);
    if (channel === undefined) {
      ctx.reply(client, '403', target, 'No such channel');
    } else if (changes === undefined) {
      ctx.reply(client, '324', channel.name, '+n');
      ctx.reply(client, '329', channel.name, String(channel.created));
    } else if (/^\+?b$/.test(changes) && msg.params.length === 2) {
      // Clients ask for the ban list on join: there is none.
      ctx.reply(client, '368', channel.name, 'End of channel ban list');
    } else {
      for (const ch of unknownModes(changes, 'n')) ctx.reply(client, '472', ch, 'is unknown mode char to me');
    }
    return;
  }
  const m = ctx.state.findNick(target);
  if (m?.registered !== true) {
    ctx.reply(client, '401', target, 'No such nick/channel');
  } else if (m !== client) {
    ctx.reply(client, '502', "Can't change mode for other users");
  } else if (changes === undefined) {
    ctx.reply(client, '221', '+i');
  } else if (unknownModes(changes, 'i').length > 0) {
    // Every user is +i already, so `MODE me +i` (irssi's default) is answered with silence.
    ctx.reply(client, '501', 'Unknown MODE flag');
  }
}

function unknownModes(changes: string, known: string): string[] {
  const out = new Set<string>();
  for (const ch of changes) if (ch !== '+' && ch !== '-' && !known.includes(ch)) out.add(ch);
  return [...out];
}

export function userhost(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const found: string[] = [];
  for (const nick of msg.params.slice(0, 5)) {
    const m = ctx.state.findNick(nick);
    if (m?.registered === true) found.push(`${m.target}=+${m.user ?? '*'}@${m.host}`);
  }
  ctx.reply(client, '302', found.join(' '));
}

export function ison(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  // Nicks may come as separate params or as one trailing list.
  const present: string[] = [];
  for (const nick of msg.params.join(' ').split(' ')) {
    const m = nick === '' ? undefined : ctx.state.findNick(nick);
    if (m?.registered === true) present.push(m.target);
  }
  ctx.reply(client, '303', present.join(' '));
}
