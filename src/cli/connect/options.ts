import { readFileSync } from 'node:fs';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { formatLine } from '../../index.js';

/** What `ircsock connect` was asked to do, checked and complete. */
export interface ConnectOptions {
  /** The server's host and port; `''` and 0 with `path`. */
  host: string;
  port: number;
  /** A Unix-domain socket to connect to instead of `host:port` (`--unix`). */
  path: string | undefined;
  /** A WebSocket URL to connect to instead (`--ws`). */
  url: string | undefined;
  /** A SOCKS5 proxy to go through (`--socks`, `--socks-user`, `--socks-password`). */
  socks: { host: string; port: number; userId?: string; password?: string } | undefined;
  /** Connect again, with backoff, when the connection is lost (`--reconnect`). */
  reconnect: boolean;
  /** Print the ISUPPORT tokens the server announced, to stderr, at the end of the MOTD (`--show-isupport`). */
  showIsupport: boolean;
  /** `host:port` as the user would write it (IPv6 in brackets), or the socket path, for messages. */
  target: string;
  /** `false`, `true` (system CAs) or the connector's TLS options. */
  tls: boolean | { ca?: Buffer; rejectUnauthorized?: boolean; servername?: string };
  nick: string | undefined;
  user: string;
  realname: string;
  join: string[];
  timestamps: boolean;
}

export type ParsedCommand = { kind: 'help' } | { kind: 'run'; options: ConnectOptions };

/** A mistake in the command line: one line for stderr, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const USAGE = `Usage: ircsock connect HOST[:PORT] [options]
       ircsock connect --unix PATH [options]
       ircsock connect --ws ws[s]://HOST[:PORT]/PATH [options]

A raw IRC console: prints every line the server sends, exactly as it came,
and sends every line typed on stdin as it is (after checking that it parses).
Answers PING by itself. At end of input (Ctrl-D) it sends QUIT and waits for
the server to close the connection.

  HOST[:PORT]        server to connect to; IPv6 as [::1]:6667. PORT defaults
                     to 6667, or 6697 with TLS
  --unix PATH        connect to the Unix-domain socket PATH instead
  --ws URL           connect over WebSocket (IRCv3) to a ws:// or wss:// URL
  --socks HOST[:PORT]
                     go through a SOCKS5 proxy (PORT defaults to 1080); the
                     server's name is resolved by the proxy (Tor: 127.0.0.1:9050)
  --socks-user USER  the proxy's user name; --socks-password PASSWORD its password
  --reconnect        when the connection is lost, connect again (exponential
                     backoff with jitter, 1 s doubling to 60 s), register again
  --show-isupport    print the server's ISUPPORT (005) tokens to stderr after the MOTD
  --tls              connect with TLS, verifying the server's certificate
                     (over --unix, against the name 'localhost' unless
                     --tls-servername is given)
  --tls-ca FILE      trust the CA (or self-signed certificate) in FILE; implies --tls
  --tls-servername NAME
                     the name to send (SNI) and verify the certificate against,
                     instead of HOST; implies --tls
  --insecure         TLS without certificate verification; implies --tls
  --nick NICK        register: NICK NICK, then USER
  --user USER        the USER name (default: the nick)
  --realname NAME    the real name (default: "ircsock connect")
  --join CHANNEL     join CHANNEL once registered (after 001); repeatable
  --timestamps       prefix each received line with an ISO 8601 time
  --help             show this help

Exit status: 0 after a clean QUIT, 1 when the connection failed or was
lost, 2 for a mistake on the command line.
`;

const DEFAULT_PORT = 6667;
const DEFAULT_TLS_PORT = 6697;

/**
 * Reads the command line. Throws {@link UsageError} with a message fit for
 * one line of stderr.
 */
export function parseConnectArgs(argv: readonly string[]): ParsedCommand {
  const { values, positionals } = readArgs(argv);
  if (values.help === true) return { kind: 'help' };

  const path = values.unix;
  const url = values.ws;
  if (path !== undefined && url !== undefined) throw new UsageError('--unix PATH or --ws URL, not both');
  if (url !== undefined) {
    if (positionals.length > 0) throw new UsageError(`--ws URL or HOST[:PORT], not both: got ${positionals.join(' ')} too`);
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== 'ws:' && parsed.protocol !== 'wss:')) {
      throw new UsageError(`--ws '${url}': give a ws:// or wss:// URL, e.g. wss://irc.example.net/webirc`);
    }
  } else if (path !== undefined) {
    if (positionals.length > 0) throw new UsageError(`--unix PATH or HOST[:PORT], not both: got ${positionals.join(' ')} too`);
    if (path === '') throw new UsageError('--unix: give the path of the socket file');
  } else {
    if (positionals.length === 0) throw new UsageError('missing HOST[:PORT] (e.g. irc.libera.chat:6697 --tls) or --unix PATH');
    if (positionals.length > 1) throw new UsageError(`one HOST[:PORT] only, got ${positionals.length}: ${positionals.join(' ')}`);
  }

  const caFile = values['tls-ca'];
  const insecure = values.insecure === true;
  if (caFile !== undefined && insecure) {
    throw new UsageError('--tls-ca and --insecure contradict each other: trust FILE, or verify nothing');
  }
  let tls: ConnectOptions['tls'] = values.tls === true;
  if (caFile !== undefined) {
    let ca: Buffer;
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new UsageError(`cannot read --tls-ca ${caFile}: ${describeFsError(err)}`);
    }
    tls = { ca };
  } else if (insecure) {
    tls = { rejectUnauthorized: false };
  }
  const servername = values['tls-servername'];
  if (servername !== undefined) {
    checkServername(servername);
    tls = { ...(typeof tls === 'object' ? tls : {}), servername };
  }

  if (url !== undefined && tls !== false && !url.startsWith('wss:')) throw new UsageError('--tls options go with a wss:// URL');
  const { host, port } =
    path !== undefined || url !== undefined
      ? { host: '', port: 0 }
      : parseHostPort(positionals[0] as string, tls === false ? DEFAULT_PORT : DEFAULT_TLS_PORT);
  const socks = readSocks(values['socks'], values['socks-user'], values['socks-password']);
  if (socks !== undefined && (path !== undefined || url !== undefined)) throw new UsageError('--socks goes with HOST[:PORT] only (not --unix or --ws)');
  const nick = values.nick;
  const user = values.user ?? nick ?? '';
  const realname = values.realname ?? 'ircsock connect';
  if (nick !== undefined) {
    checkWord('--nick', nick);
    checkWord('--user', user);
    checkLine('--realname', { command: 'USER', params: [user, '0', '*', realname] });
  } else if (values.user !== undefined || values.realname !== undefined) {
    throw new UsageError('--user and --realname need --nick (they are sent with it, to register)');
  }
  const join = values.join ?? [];
  for (const chan of join) checkWord('--join', chan);

  return {
    kind: 'run',
    options: {
      host,
      port,
      path,
      url,
      socks,
      reconnect: values.reconnect === true,
      showIsupport: values['show-isupport'] === true,
      target: url ?? path ?? `${net.isIPv6(host) ? `[${host}]` : host}:${port}`,
      tls,
      nick,
      user,
      realname,
      join,
      timestamps: values.timestamps === true,
    },
  };
}

function readArgs(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        tls: { type: 'boolean' },
        'tls-ca': { type: 'string' },
        'tls-servername': { type: 'string' },
        unix: { type: 'string' },
        ws: { type: 'string' },
        socks: { type: 'string' },
        'socks-user': { type: 'string' },
        'socks-password': { type: 'string' },
        reconnect: { type: 'boolean' },
        'show-isupport': { type: 'boolean' },
        insecure: { type: 'boolean' },
        nick: { type: 'string' },
        user: { type: 'string' },
        realname: { type: 'string' },
        join: { type: 'string', multiple: true },
        timestamps: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    // Node's own message ends in advice about `--` that fits no IRC option: keep its first sentence.
    throw new UsageError(firstSentence(err instanceof Error ? err.message : String(err)));
  }
}

/** `host`, `host:port`, `[v6]`, `[v6]:port`; a bare IPv6 address is taken whole, without a port. */
export function parseHostPort(spec: string, defaultPort: number): { host: string; port: number } {
  let host: string;
  let portText: string | undefined;
  if (spec.startsWith('[')) {
    const close = spec.indexOf(']');
    if (close < 0) throw new UsageError(`'${spec}': missing ']' after the IPv6 address`);
    host = spec.slice(1, close);
    const rest = spec.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new UsageError(`'${spec}': expected ':PORT' after ']'`);
      portText = rest.slice(1);
    }
    if (!net.isIPv6(host)) throw new UsageError(`'${spec}': '${host}' is not an IPv6 address`);
  } else if (spec.indexOf(':') !== spec.lastIndexOf(':')) {
    // Two or more colons: an IPv6 address, whose last group cannot be told from a port.
    if (!net.isIPv6(spec)) throw new UsageError(`'${spec}': write an IPv6 address with a port as [ADDRESS]:PORT`);
    host = spec;
  } else {
    const colon = spec.indexOf(':');
    host = colon < 0 ? spec : spec.slice(0, colon);
    portText = colon < 0 ? undefined : spec.slice(colon + 1);
  }
  if (host === '') throw new UsageError(`'${spec}': the host is missing`);
  if (portText === undefined) return { host, port: defaultPort };
  const port = /^[0-9]{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new UsageError(`'${spec}': the port must be a number from 1 to 65535`);
  return { host, port };
}

const DEFAULT_SOCKS_PORT = 1080;

function readSocks(spec: string | undefined, user: string | undefined, password: string | undefined): ConnectOptions['socks'] {
  if (spec === undefined) {
    if (user !== undefined || password !== undefined) throw new UsageError('--socks-user and --socks-password need --socks HOST[:PORT]');
    return undefined;
  }
  if (password !== undefined && user === undefined) throw new UsageError('--socks-password needs --socks-user');
  for (const [option, v] of [['--socks-user', user], ['--socks-password', password]] as const) {
    if (v !== undefined && (v === '' || Buffer.byteLength(v) > 255)) throw new UsageError(`${option}: 1 to 255 bytes`);
  }
  const { host, port } = parseHostPort(spec, DEFAULT_SOCKS_PORT);
  return { host, port, ...(user === undefined ? {} : { userId: user }), ...(password === undefined ? {} : { password }) };
}

const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/;

/** A DNS name: SNI carries host names only (RFC 6066 §3), never an address literal. */
function checkServername(name: string): void {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (net.isIP(name) !== 0 || bare.length > 253 || !bare.split('.').every((label) => HOST_LABEL.test(label))) {
    throw new UsageError(`--tls-servername '${name}': must be a host name such as irc.example.net (SNI carries no IP addresses)`);
  }
}

// A nick, user name or channel goes out as one middle parameter: no spaces, commas are the user's business.
function checkWord(option: string, value: string): void {
  if (value === '' || /[\s\0]/.test(value) || value.startsWith(':')) {
    throw new UsageError(`${option} '${value}': must be one word, without spaces, and not start with ':'`);
  }
}

function checkLine(option: string, msg: { command: string; params: string[] }): void {
  try {
    formatLine(msg);
  } catch (err) {
    throw new UsageError(`${option}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function firstSentence(msg: string): string {
  const end = msg.indexOf('. ');
  return end < 0 ? msg : msg.slice(0, end);
}

function describeFsError(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file (ENOENT)';
    case 'EACCES':
      return 'permission denied (EACCES)';
    case 'EISDIR':
      return 'is a directory (EISDIR)';
    default:
      return err instanceof Error ? err.message : String(err);
  }
}
