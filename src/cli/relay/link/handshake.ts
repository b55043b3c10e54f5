/**
 * The link handshake as ngIRCd speaks it (RFC 2813 4.1.1 with ngIRCd's IRC+
 * flags): `PASS <password> 0210-IRC+ ircsock|<version>:<flags> <options>`,
 * then `SERVER <name> 1 :<info>`. Compression is on when both sides offer
 * `Z` (in the IRC+ flags; RFC 2813 servers put it in the options); each side
 * switches right after the peer's SERVER line, so the exact byte is known.
 */
import { VERSION, type IrcMessage, type IrcMessageInit } from '../../../index.js';

/** RFC 2813's version field: protocol 2.10, with ngIRCd's IRC+ marker (which makes it read our flags). */
export const PROTOCOL_VERSION = '0210-IRC+';

export function passMessage(password: string, compress: boolean): IrcMessageInit {
  // `P`: RFC 2813's "anti-abuse protections" option, as ngIRCd sends it.
  return { command: 'PASS', params: [password, PROTOCOL_VERSION, `ircsock|${VERSION}:${compress ? 'Z' : ''}`, compress ? 'PZ' : 'P'] };
}

export function serverMessage(name: string, info: string): IrcMessageInit {
  return { command: 'SERVER', params: [name, '1', info] };
}

export interface PeerPass {
  password: string;
  compress: boolean;
}

/** A server's PASS, or the reason it is not one. A client's one-parameter PASS is not. */
export function parsePass(params: readonly string[]): PeerPass | string {
  const [password, version, flags, options] = params;
  if (password === undefined || version === undefined || flags === undefined) return 'PASS without version and flags';
  if (!/^\d{4}/.test(version)) return `PASS version ${JSON.stringify(version)} is not RFC 2813's`;
  // `impl|version:flags`: only an IRC+ peer's flags are its own to read.
  const ircPlus = version.includes('IRC+');
  const serverFlags = ircPlus ? (flags.split(':')[1] ?? '') : '';
  return { password, compress: serverFlags.includes('Z') || (options ?? '').includes('Z') };
}

export interface PeerServer {
  name: string;
  hops: number;
  info: string;
}

const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z0-9.-]*$/;

/** `SERVER name hops [token] :info` of a direct peer, or the reason it is malformed. */
export function parseServer(msg: IrcMessage): PeerServer | string {
  const [name, hops] = msg.params;
  const info = msg.params[msg.params.length - 1] ?? '';
  if (name === undefined || hops === undefined || msg.params.length < 3) return 'SERVER needs a name, a hop count and info';
  if (!isServerName(name)) return `${JSON.stringify(name)} is not a server name`;
  const n = Number(hops);
  if (!Number.isInteger(n) || n < 1) return `SERVER hop count ${JSON.stringify(hops)} is not a number`;
  return { name, hops: n, info };
}

export function isServerName(name: string): boolean {
  return name.length <= 63 && SERVER_NAME.test(name);
}
