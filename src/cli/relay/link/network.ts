/**
 * The relay as a server of an IRC network: its direct links, the handshake
 * and compression switch, what local clients do told to the other servers,
 * and the netsplit when a link goes. What peers send is handled in
 * `routing.ts`; the burst is in `burst.ts`.
 */
import { casefold, type Connection, type ConnectionId, type IrcMessage, type IrcMessageInit, type TokenBucketOptions } from '../../../index.js';
import type { NetworkHooks, RelayContext } from '../context.js';
import { deliverToClients } from '../fanout.js';
import type { Channel, Client, User } from '../state.js';
import { sendBurst } from './burst.js';
import { passMessage, parsePass, parseServer, serverMessage, type PeerServer } from './handshake.js';
import { Link } from './link.js';
import { handleLinkMessage } from './routing.js';
import { ServerTable, type RemoteUser, type ServerEntry } from './servers.js';

export interface NetworkConfig {
  /** Sent in our PASS and required in the peer's (ngIRCd's `MyPassword` and `PeerPassword`, equal). */
  password: string;
  /** Server names (folded) that may link in on the relay's listeners. */
  accept: ReadonlySet<string>;
  /** Offer zlib (`Z`); it is used when the peer offers it too. */
  compress: boolean;
  /**
   * Lines a second a peer may send after its burst, or false for no bound. It
   * replaces the listener's client flood control once a connection speaks as
   * a server (a burst is thousands of lines at once); past it: `Excess Flood`.
   */
  flood: TokenBucketOptions | false;
  /** The SERVER info text. */
  info: string;
}

export class Network implements NetworkHooks {
  readonly ctx: RelayContext;
  readonly config: NetworkConfig;
  readonly servers: ServerTable;
  readonly #links = new Map<ConnectionId, Link>();

  constructor(ctx: RelayContext, config: NetworkConfig) {
    this.ctx = ctx;
    this.config = config;
    this.servers = new ServerTable(ctx.config.name, config.info);
  }

  get me(): ServerEntry {
    return this.servers.me;
  }

  linkOf(conn: Connection): Link | undefined {
    return this.#links.get(conn.id);
  }

  /** Registered links, in the order they came up. */
  *links(): Generator<Link> {
    for (const link of this.#links.values()) if (link.registered && link.conn.disconnecting === false) yield link;
  }

  // --- handshakes ----------------------------------------------------------

  /** A connection we dialled to the server `name`: our PASS and SERVER go first. */
  outgoing(conn: Connection, name: string): Link {
    const link = this.#adopt(conn, 'out', name);
    this.send(link, passMessage(this.config.password, this.config.compress));
    this.send(link, serverMessage(this.me.name, this.config.info));
    return link;
  }

  /** SERVER from a connection that came to a listener as a client and sent PASS first. */
  server(client: Client, msg: IrcMessage): void {
    const { state } = this.ctx;
    const conn = client.conn;
    if (client.registered) {
      this.ctx.reply(client, '462', 'You may not reregister');
      return;
    }
    // No longer a client: its reserved nick (if it sent NICK) goes, with no QUIT to anyone.
    state.remove(client);
    state.clients.delete(conn.id);
    const link = this.#adopt(conn, 'in', undefined);
    const pass = parsePass(client.pass ?? []);
    if (typeof pass === 'string') {
      this.drop(link, `No server PASS (${pass})`);
      return;
    }
    link.pass = pass;
    const peer = parseServer(msg);
    if (typeof peer === 'string') {
      this.drop(link, peer);
      return;
    }
    if (!this.config.accept.has(casefold(peer.name))) {
      this.ctx.config.log(`link refused from ${conn.peerAddr}: ${peer.name} is not an --accept-link server`);
      this.drop(link, `Server ${peer.name} not configured here`);
      return;
    }
    this.register(link, peer);
  }

  #adopt(conn: Connection, direction: 'in' | 'out', expected: string | undefined): Link {
    conn.isClient = false;
    conn.isPeer = true;
    const flood = this.config.flood;
    conn.setFlood(flood === false ? false : { rate: flood.rate, burst: flood.burst, mode: 'disconnect' });
    const link = new Link(conn, direction, expected);
    this.#links.set(conn.id, link);
    return link;
  }

  /** The peer's SERVER on a link whose PASS is known: checks, our reply, compression, burst. */
  register(link: Link, peer: PeerServer): void {
    const pass = link.pass;
    if (pass === undefined) {
      this.drop(link, 'SERVER before PASS');
      return;
    }
    if (pass.password !== this.config.password) {
      this.drop(link, 'Bad password');
      return;
    }
    if (link.expected !== undefined && casefold(link.expected) !== casefold(peer.name)) {
      this.drop(link, `Expected server ${link.expected}, got ${peer.name}`);
      return;
    }
    // A name already known means a second path to that server: a loop.
    if (this.servers.find(peer.name) !== undefined) {
      this.drop(link, `ID "${peer.name}" already registered`);
      return;
    }
    // zlib needs a byte stream: a server that links in over a WebSocket listener runs plain.
    const canZip = this.config.compress && link.conn.kind !== 'ws' && link.conn.kind !== 'wss';
    if (link.direction === 'in') {
      this.send(link, passMessage(this.config.password, canZip));
      this.send(link, serverMessage(this.me.name, this.config.info));
    }
    // Both sides switch right after the peer's SERVER line, as ngIRCd does: what we
    // queued so far (our PASS and SERVER) goes plain, the burst compressed.
    const compressed = canZip && pass.compress;
    if (compressed) this.ctx.backend.setCompressedLinkNow(link.conn);
    const entry = this.servers.add(peer.name, peer.info, 1, this.me, link);
    link.server = entry;
    const conn = link.conn;
    const how = [link.direction, compressed ? 'compressed' : 'plain', conn.tls === undefined ? '' : 'tls'].filter((s) => s !== '');
    this.ctx.config.log(`link ${peer.name} up (${how.join(', ')}) with ${conn.peerAddr}:${conn.peerPort}`);
    this.broadcast({ source: this.me.name, command: 'SERVER', params: [entry.name, '2', String(entry.token), entry.info] }, link);
    sendBurst(this, link);
  }

  // --- what peers send -----------------------------------------------------

  input(link: Link, msg: IrcMessage): void {
    if (link.conn.disconnecting !== false) return;
    link.conn.pingPending = false;
    handleLinkMessage(this, link, msg);
  }

  idle(link: Link): void {
    if (link.conn.pingPending) {
      this.drop(link, 'Ping timeout');
      return;
    }
    link.conn.pingPending = true;
    this.send(link, { source: this.me.name, command: 'PING', params: [this.me.name] });
  }

  /** The link's connection is gone: every server behind it splits off. True when it was a link. */
  lost(conn: Connection, reason: string): boolean {
    const link = this.#links.get(conn.id);
    if (link === undefined) return false;
    this.#links.delete(conn.id);
    const server = link.server;
    this.ctx.config.log(`link ${server?.name ?? link.expected ?? 'from ' + conn.peerAddr} down: ${reason}`);
    if (server !== undefined) this.split(server, reason, link);
    return true;
  }

  /** ERROR to the peer, then close once it is written. */
  drop(link: Link, reason: string): void {
    if (link.conn.disconnecting !== false) return;
    this.send(link, { command: 'ERROR', params: [`Closing link: ${reason}`] });
    this.close(link, reason);
  }

  /** Closes a link once its queue is written; a link we dialled comes back on its schedule. */
  close(link: Link, reason: string): void {
    const connector = link.conn.connector;
    if (connector !== undefined) connector.retry(reason);
    else this.ctx.backend.disconnect(link.conn, reason);
  }

  /**
   * `server` and everything behind it leave the network: their users quit
   * with the netsplit reason `uplink server`, the other links get SQUIT.
   */
  split(server: ServerEntry, reason: string, from: Link): void {
    const uplink = server.uplink ?? this.me;
    const lost = this.servers.removeTree(server);
    // A peer's token for a server that is gone must not bring users back onto it.
    const gone = new Set(lost);
    for (const l of this.#links.values()) for (const [token, entry] of l.tokens) if (gone.has(entry)) l.tokens.delete(token);
    const why = `${uplink.name} ${server.name}`;
    for (const s of lost) for (const user of [...s.users]) this.removeUser(user, why);
    this.broadcast({ source: uplink.name, command: 'SQUIT', params: [server.name, reason] }, from);
  }

  // --- the tables ----------------------------------------------------------

  addUser(user: RemoteUser): void {
    user.server.users.add(user);
    this.ctx.state.nicks.set(user.folded, user);
  }

  /** Drops a remote user from every table; its local channel peers see QUIT. */
  removeUser(user: RemoteUser, reason: string): void {
    if (user.removed) return;
    user.removed = true;
    const { state } = this.ctx;
    const peers = new Set<Client>();
    for (const channel of user.channels) {
      for (const m of channel.members) peers.add(m);
      channel.remote.delete(user);
      state.dropIfEmpty(channel);
    }
    user.channels.clear();
    user.server.users.delete(user);
    if (state.nicks.get(user.folded) === user) state.nicks.delete(user.folded);
    if (peers.size > 0) deliverToClients(this.ctx.backend, peers, { source: user.prefix, command: 'QUIT', params: [reason] });
  }

  // --- sending -------------------------------------------------------------

  send(link: Link, msg: IrcMessageInit): void {
    this.ctx.backend.send(msg, link.conn);
  }

  /** To every registered link but `except` (the one a message came from). */
  broadcast(msg: IrcMessageInit, except?: Link): void {
    const conns: Connection[] = [];
    for (const link of this.links()) if (link !== except) conns.push(link.conn);
    if (conns.length > 0) this.ctx.backend.send(msg, conns);
  }

  /** To each link with a member of `channel` behind it, once, but `except`. */
  toChannelLinks(channel: Channel, msg: IrcMessageInit, except?: Link): void {
    if (channel.remote.size === 0) return;
    const conns = new Set<Connection>();
    for (const user of channel.remote) {
      const link = user.server.link;
      if (link !== undefined && link !== except && link.registered) conns.add(link.conn);
    }
    if (conns.size > 0) this.ctx.backend.send(msg, [...conns]);
  }

  /** The server a user is on: this one for a local client. */
  serverOf(user: User): ServerEntry {
    return user.local ? this.me : user.server;
  }

  // --- what local clients do (NetworkHooks) --------------------------------

  introduce(client: Client): void {
    this.broadcast(introduction(this.me, client));
  }

  nickChanged(client: Client, oldNick: string): void {
    this.broadcast({ source: oldNick, command: 'NICK', params: [client.target] });
  }

  joined(client: Client, channel: Channel): void {
    this.broadcast({ source: client.target, command: 'JOIN', params: [channel.name] });
  }

  parted(client: Client, channel: Channel, reason: string | undefined): void {
    const params = reason === undefined || reason === '' ? [channel.name] : [channel.name, reason];
    this.broadcast({ source: client.target, command: 'PART', params });
  }

  quit(client: Client, reason: string): void {
    this.broadcast({ source: client.target, command: 'QUIT', params: [reason] });
  }

  topic(client: Client, channel: Channel): void {
    this.broadcast({ source: client.target, command: 'TOPIC', params: [channel.name, channel.topic] });
  }

  channelMessage(client: Client, channel: Channel, command: string, text: string): void {
    this.toChannelLinks(channel, { source: client.target, command, params: [channel.name, text] });
  }

  privateMessage(client: Client, to: RemoteUser, command: string, text: string): void {
    const link = to.server.link;
    if (link !== undefined) this.send(link, { source: client.target, command, params: [to.nick, text] });
  }
}

/** The server-form NICK (RFC 2813 4.1.3) of a user: `NICK nick hops user host token umodes :realname`. */
export function introduction(me: ServerEntry, user: User): IrcMessageInit {
  const hops = user.local ? 1 : user.hops + 1;
  const token = user.local ? me.token : user.server.token;
  const params = [user.target, String(hops), user.user ?? '*', user.host, String(token), '+', user.realname === '' ? user.target : user.realname];
  return { source: me.name, command: 'NICK', params };
}
