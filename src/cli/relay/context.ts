import { VERSION, type Backend, type IrcMessage, type IrcMessageInit } from '../../index.js';
import { deliverToClients } from './fanout.js';
import type { RemoteUser } from './link/servers.js';
import type { Channel, Client, RelayState } from './state.js';

/** Announced in 002/004/351: the relay is a demo of ircsock, not an ircd. */
export const SOFTWARE = `ircsock-relay-${VERSION}`;
export const NICKLEN = 30;
export const CHANNELLEN = 50;
export const TOPICLEN = 390;
export const USERLEN = 10;

export interface RelayConfig {
  /** Server name: the source of numerics. */
  name: string;
  /** `NETWORK=` in 005 and the welcome text. */
  network: string;
  /** Milliseconds of silence before a PING; another as long without a PONG drops the client. 0: never. */
  idle: number;
  /** Where connect/disconnect lines go. */
  log: (line: string) => void;
  /**
   * The STS policy advertised in `CAP LS 302`: `port=` (the first TLS
   * listener's) on plain TCP, `duration=` on TLS. Undefined: none.
   */
  sts?: { port: number | undefined; duration: number };
}

/**
 * What the client commands tell the rest of the network (`link/network.ts`):
 * each is called after the local tables changed. Without links, nothing.
 */
export interface NetworkHooks {
  /** A connection that sent PASS and SERVER: a server linking in. */
  server(client: Client, msg: IrcMessage): void;
  introduce(client: Client): void;
  nickChanged(client: Client, oldNick: string): void;
  joined(client: Client, channel: Channel): void;
  /** Called before the client leaves the channel's tables. */
  parted(client: Client, channel: Channel, reason: string | undefined): void;
  quit(client: Client, reason: string): void;
  topic(client: Client, channel: Channel): void;
  channelMessage(client: Client, channel: Channel, command: string, text: string): void;
  privateMessage(client: Client, to: RemoteUser, command: string, text: string): void;
}

/** What every command handler works with. */
export class RelayContext {
  readonly backend: Backend;
  readonly state: RelayState;
  readonly config: RelayConfig;
  readonly created = new Date();
  /** The server links; set once by `startRelay` (links need the context to exist). */
  network: NetworkHooks | undefined = undefined;

  constructor(backend: Backend, state: RelayState, config: RelayConfig) {
    this.backend = backend;
    this.state = state;
    this.config = config;
  }

  /** A numeric reply: `:server NNN nick params...`. */
  reply(client: Client, numeric: string, ...params: string[]): void {
    this.backend.send({ source: this.config.name, command: numeric, params: [client.target, ...params] }, client.conn);
  }

  /** A message from the server to one client. */
  sendTo(client: Client, msg: IrcMessageInit): void {
    this.backend.send(msg, client.conn);
  }

  /** 461: the command needs more parameters. */
  needMoreParams(client: Client, command: string): void {
    this.reply(client, '461', command, 'Not enough parameters');
  }

  /**
   * Ends a client's session: its QUIT to everyone sharing a channel (each
   * once), `ERROR :Closing link` to the client, then a disconnect once its
   * queue has drained. Safe to call twice; the second call does nothing.
   */
  closeLink(client: Client, reason: string): void {
    this.relayQuit(client, reason);
    if (client.conn.disconnecting !== false) return;
    this.sendTo(client, { command: 'ERROR', params: [`Closing link (${client.prefix}) [${reason}]`] });
    this.backend.disconnect(client.conn, reason);
  }

  /** Drops the client from the tables and tells its peers, once. */
  relayQuit(client: Client, reason: string): void {
    const peers = client.registered ? this.state.peers(client) : undefined;
    if (!this.state.remove(client) || peers === undefined) return;
    this.network?.quit(client, reason);
    if (peers.size === 0) return;
    deliverToClients(this.backend, peers, { source: client.prefix, command: 'QUIT', params: [reason] });
  }
}
