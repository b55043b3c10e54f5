/** Registration: CAP negotiation, NICK, USER, and the welcome burst. */
import type { IrcMessage } from '../../index.js';
import { casefold, stsValueFor } from '../../index.js';
import { CHANNELLEN, NICKLEN, SOFTWARE, TOPICLEN, USERLEN, type RelayContext } from './context.js';
import { deliverToClients } from './fanout.js';
import { CAPS, detach, type Client } from './state.js';

const NICK_RE = /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]*$/;
const CAP_LS = [...CAPS.keys()].join(' ');

export function isValidNick(nick: string): boolean {
  return nick.length <= NICKLEN && NICK_RE.test(nick);
}

export function cap(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const sub = (msg.params[0] ?? '').toUpperCase();
  const reply = (verb: string, text: string): void => {
    ctx.sendTo(client, { source: ctx.config.name, command: 'CAP', params: [client.target, verb, text] });
  };
  switch (sub) {
    case 'LS':
      // CAP LS (any version) holds registration until CAP END, as the spec asks.
      if (!client.registered) client.capNegotiating = true;
      reply('LS', capLs(ctx, client, Number(msg.params[1] ?? '0')));
      return;
    case 'LIST':
      reply('LIST', [...CAPS].filter(([, bit]) => client.has(bit)).map(([name]) => name).join(' '));
      return;
    case 'REQ': {
      if (!client.registered) client.capNegotiating = true;
      const text = msg.params[1] ?? '';
      const wanted = text.split(' ').filter((s) => s !== '');
      // All or nothing: one unknown capability and none of the request applies.
      let caps = client.caps;
      for (const token of wanted) {
        const off = token.startsWith('-');
        const bit = CAPS.get(off ? token.slice(1) : token);
        if (bit === undefined) {
          reply('NAK', text);
          return;
        }
        caps = off ? caps & ~bit : caps | bit;
      }
      if (wanted.length === 0) {
        reply('NAK', text);
        return;
      }
      setCaps(client, caps);
      reply('ACK', text);
      return;
    }
    case 'END':
      if (client.capNegotiating) {
        client.capNegotiating = false;
        tryRegister(ctx, client);
      }
      return;
    default:
      ctx.reply(client, '410', sub === '' ? '*' : sub, 'Invalid CAP command');
  }
}

/**
 * `CAP LS`, with `sts` for clients of `CAP LS 302` (the only ones that see
 * values) on plain TCP and TLS connections: a WebSocket's browser has its own
 * HSTS, and a PROXY listener's client may have come through a TLS terminator.
 */
function capLs(ctx: RelayContext, client: Client, version: number): string {
  const sts = ctx.config.sts;
  const kind = client.conn.kind;
  if (sts === undefined || !(version >= 302) || (kind !== 'tcp' && kind !== 'tls') || client.conn.proxy !== undefined) return CAP_LS;
  const value = stsValueFor(kind === 'tls', sts);
  return value === undefined ? CAP_LS : `${CAP_LS} sts=${value}`;
}

function setCaps(client: Client, caps: number): void {
  if (caps === client.caps) return;
  client.caps = caps;
  // The client's delivery group changed: its channels sort their members again.
  for (const channel of client.channels) channel.groups = undefined;
}

export function nick(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const wanted = msg.params[0] ?? '';
  if (wanted === '') {
    ctx.reply(client, '431', 'No nickname given');
    return;
  }
  if (!isValidNick(wanted)) {
    ctx.reply(client, '432', wanted, 'Erroneous nickname');
    return;
  }
  if (wanted === client.nick) return;
  const folded = casefold(wanted);
  const holder = ctx.state.nicks.get(folded);
  if (holder !== undefined && holder !== client) {
    ctx.reply(client, '433', wanted, 'Nickname is already in use');
    return;
  }
  const oldPrefix = client.prefix;
  const oldNick = client.target;
  // A registering client reserves its nick, so two clients cannot both be welcomed with it.
  if (client.folded !== undefined) ctx.state.nicks.delete(client.folded);
  client.setNick(wanted);
  ctx.state.nicks.set(folded, client);
  if (!client.registered) {
    tryRegister(ctx, client);
    return;
  }
  const audience = ctx.state.peers(client);
  audience.add(client);
  deliverToClients(ctx.backend, audience, { source: oldPrefix, command: 'NICK', params: [wanted] });
  ctx.network?.nickChanged(client, oldNick);
}

export function user(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  if (client.registered) {
    ctx.reply(client, '462', 'You may not reregister');
    return;
  }
  // No ident lookup: the `~` says the user name is the client's own claim, as ircds mark it.
  const name = (msg.params[0] ?? '').replace(/[^A-Za-z0-9._-]/g, '').slice(0, USERLEN - 1) || 'user';
  client.setUser(`~${name}`);
  client.realname = detach(msg.params[3] ?? '');
  tryRegister(ctx, client);
}

export function pass(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  // Clients need no password; a server's PASS is kept for its SERVER line.
  if (client.registered) ctx.reply(client, '462', 'You may not reregister');
  else client.pass = msg.params;
}

export function server(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  if (ctx.network === undefined) ctx.reply(client, '421', 'SERVER', 'Unknown command');
  else ctx.network.server(client, msg);
}

function tryRegister(ctx: RelayContext, client: Client): void {
  if (client.registered || client.capNegotiating || client.nick === undefined || client.user === undefined) return;
  client.registered = true;
  ctx.network?.introduce(client);
  const { name, network } = ctx.config;
  ctx.reply(client, '001', `Welcome to the ${network} IRC Network ${client.prefix}`);
  ctx.reply(client, '002', `Your host is ${name}, running version ${SOFTWARE}`);
  ctx.reply(client, '003', `This server was created ${ctx.created.toUTCString()}`);
  // No modes beyond what the relay does anyway: users are +i (WHO shows only shared channels' members)
  // and channels +n (no messages from outside).
  ctx.reply(client, '004', name, SOFTWARE, 'i', 'n');
  ctx.reply(
    client,
    '005',
    'CASEMAPPING=rfc1459',
    'CHANTYPES=#',
    `NICKLEN=${NICKLEN}`,
    `CHANNELLEN=${CHANNELLEN}`,
    `TOPICLEN=${TOPICLEN}`,
    `NETWORK=${network}`,
    'PREFIX=',
    'CHANMODES=,,,n',
    'are supported by this server',
  );
  motd(ctx, client);
}

export function motd(ctx: RelayContext, client: Client): void {
  ctx.reply(client, '422', 'MOTD File is missing');
}
