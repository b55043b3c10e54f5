/**
 * The burst: what a new peer is told right after the handshake — every other
 * server (uplinks first), every user (server-form NICK), every channel's
 * members (NJOIN) — all but what lies behind the peer itself.
 */
import type { Link } from './link.js';
import { introduction, type Network } from './network.js';

// Room for the nicks of one NJOIN: 512 less the source, command and channel name.
const NJOIN_BYTES = 400;

export function sendBurst(net: Network, link: Link): void {
  const me = net.me;
  for (const s of net.servers.others()) {
    if (s.link === link || s.uplink === undefined) continue;
    net.send(link, { source: s.uplink.name, command: 'SERVER', params: [s.name, String(s.hops + 1), String(s.token), s.info] });
  }
  for (const user of net.ctx.state.nicks.values()) {
    if (user.local ? !user.registered : user.server.link === link) continue;
    net.send(link, introduction(me, user));
  }
  for (const channel of net.ctx.state.channels.values()) {
    let line = '';
    const flush = (): void => {
      if (line !== '') net.send(link, { source: me.name, command: 'NJOIN', params: [channel.name, line] });
      line = '';
    };
    const add = (nick: string): void => {
      if (line !== '' && line.length + 1 + nick.length > NJOIN_BYTES) flush();
      line = line === '' ? nick : `${line},${nick}`;
    };
    for (const m of channel.members) add(m.target);
    for (const m of channel.remote) if (m.server.link !== link) add(m.nick);
    flush();
  }
  // Measures the link and tells the peer our burst is over (ngIRCd does the same).
  net.send(link, { source: me.name, command: 'PING', params: [me.name] });
  link.conn.pingPending = true;
}
