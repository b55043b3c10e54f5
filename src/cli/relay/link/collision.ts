/**
 * Nick collisions (RFC 2813 5.2): a NICK from a link for a nick this server
 * already knows. RFC 2813 kills both; RFC 2813 has no timestamps to pick one.
 * Here each server refuses the newcomer it was told about and sends a KILL
 * for it back down the link it came from. At a burst both sides do that, so
 * each KILL takes the user of its own side: both go, as the RFC asks,
 * without either server guessing which one came first. A collision with a
 * nick already taken later (a NICK change) is handled the same way.
 */
import type { Link } from './link.js';
import type { Network } from './network.js';

/** True when `nick` is free; else the newcomer is killed back towards `link` and false returned. */
export function claimNick(net: Network, link: Link, nick: string): boolean {
  const holder = net.ctx.state.findNick(nick);
  if (holder === undefined) return true;
  const me = net.me.name;
  net.ctx.config.log(`nick collision on ${nick} from ${link.server?.name ?? '?'}: killed the newcomer`);
  net.send(link, { source: me, command: 'KILL', params: [nick, `${me} (Nick collision)`] });
  return false;
}
