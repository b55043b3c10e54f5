/** The command table and the one place that checks registration and parameter counts. */
import type { IrcMessage } from '../../index.js';
import { join, names, part, topic } from './channels.js';
import type { RelayContext } from './context.js';
import { message } from './messaging.js';
import { ison, mode, ping, pong, quit, userhost, who, whois } from './queries.js';
import { cap, motd, nick, pass, server, user } from './registration.js';
import type { Client } from './state.js';

type Handler = (ctx: RelayContext, client: Client, msg: IrcMessage) => void;

interface Command {
  run: Handler;
  /** Parameters below this many get 461. */
  minParams: number;
  /** Usable before registration is complete. */
  preRegistration: boolean;
}

const cmd = (run: Handler, minParams = 0, preRegistration = false): Command => ({ run, minParams, preRegistration });

const COMMANDS: ReadonlyMap<string, Command> = new Map([
  ['CAP', cmd(cap, 1, true)],
  ['NICK', cmd(nick, 0, true)],
  ['USER', cmd(user, 4, true)],
  ['PASS', cmd(pass, 1, true)],
  // PASS with version and flags, then SERVER: a server linking in (see link/network.ts).
  ['SERVER', cmd(server, 3, true)],
  ['PING', cmd(ping, 0, true)],
  ['PONG', cmd(pong, 0, true)],
  ['QUIT', cmd(quit, 0, true)],
  ['JOIN', cmd(join, 1)],
  ['PART', cmd(part, 1)],
  ['NAMES', cmd(names)],
  ['TOPIC', cmd(topic, 1)],
  // PRIVMSG/NOTICE without recipient or text get 411/412, not 461.
  ['PRIVMSG', cmd(message)],
  ['NOTICE', cmd(message)],
  ['TAGMSG', cmd(message)],
  ['WHO', cmd(who)],
  ['WHOIS', cmd(whois, 1)],
  ['MODE', cmd(mode, 1)],
  ['USERHOST', cmd(userhost, 1)],
  ['ISON', cmd(ison, 1)],
  ['MOTD', cmd(motd)],
]);

export function dispatch(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const command = COMMANDS.get(msg.command);
  if (command === undefined) {
    ctx.reply(client, '421', msg.command, 'Unknown command');
  } else if (!client.registered && !command.preRegistration) {
    ctx.reply(client, '451', 'You have not registered');
  } else if (msg.params.length < command.minParams) {
    ctx.needMoreParams(client, msg.command);
  } else {
    command.run(ctx, client, msg);
  }
}
