/** `ircsock relay` command line: argv → RelayOptions, or one line saying what is wrong. */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { IrcArgumentError, parseCidr, parseFingerprint, type FloodOptions } from '../../index.js';
import { isServerName } from './link/handshake.js';
import { DEFAULT_DRAIN, DEFAULT_IDLE, type Endpoint, type RelayOptions } from './server.js';

/**
 * The command's flood control: a paste of 20 lines goes through at once, then
 * 5 lines a second; a client that keeps going past 10 s of delay is dropped
 * with `Excess Flood`. Looser than an ircd's (Ergo: 5 lines, then 2 a second)
 * because the relay is also a test target for client developers.
 */
export const CLI_FLOOD: Readonly<FloodOptions> = Object.freeze({ rate: 5, burst: 20, mode: 'delay' });

export const RELAY_USAGE = `Usage: ircsock relay [options]

A demo IRC server built on ircsock: channels, private messages, IRCv3
message-tags, server-time and echo-message. No modes, operators or services.

Options:
  --listen HOST:PORT       listen for plain TCP (repeatable; IPv6 as [::1]:6667)
  --tls-listen HOST:PORT   listen for TLS (repeatable); needs --tls-cert and --tls-key
  --ws-listen HOST:PORT    listen for IRC over WebSocket (repeatable); plain HTTP
                           requests to it get the web chat page at /
  --wss-listen HOST:PORT   the same over TLS: wss:// and https:// (repeatable);
                           needs --tls-cert and --tls-key
  --tls-cert FILE          certificate chain, PEM
  --tls-key FILE           private key, PEM
  --tls-sni NAME:CERT:KEY  another certificate for clients asking for NAME (SNI;
                           an exact name or *.example.net); repeatable
  --no-tls-watch           do not reload the certificates when their files
                           change (certbot and lego renewals are followed by
                           default); SIGHUP reloads them either way
  --sts-duration SECONDS   advertise IRCv3 STS: on plain connections the first
                           --tls-listen port, on TLS ones this duration (0
                           withdraws the policy); needs --tls-listen
  --unix-listen PATH       listen on a Unix-domain socket (repeatable); a stale
                           socket file is replaced, a live one never. Its clients
                           have no address: their host is 'localhost'
  --unix-mode MODE         the socket files' mode, octal (e.g. 660: owner and
                           group may connect); default: what the umask gives
  --proxy-listen HOST:PORT plain TCP behind a proxy (haproxy, nginx, a load
                           balancer): every connection must start with a PROXY
                           protocol header (v1 or v2); the client's host is the
                           address the header names (repeatable)
  --proxy-tls-listen HOST:PORT
                           the same, with TLS after the header (repeatable);
                           needs --tls-cert and --tls-key
  --proxy-from CIDR        who may send PROXY headers, an address or a block like
                           10.0.0.0/8 (repeatable; replaces the default, loopback
                           only: 127.0.0.0/8 and ::1); anyone else is refused
  --name SERVERNAME        server name in replies (default ircsock.relay)
  --idle SECONDS           PING a client silent this long, drop it after as long
                           again without an answer (default ${DEFAULT_IDLE / 1000}; 0: never)
  --flood RATE:BURST       flood control: BURST lines at once, then RATE a second
                           (default ${CLI_FLOOD.rate}:${CLI_FLOOD.burst}); 'off' for load tests
  --link NAME@HOST:PORT    link to the server NAME (another relay, ngIRCd) as a
                           server (repeatable); dialled again whenever it drops
  --accept-link NAME       let the server NAME link in on the listeners (repeatable)
  --link-password PASS     the link password, both ways (ngIRCd's MyPassword and
                           PeerPassword, set equal); needed with links
  --link-tls               the --link connections use TLS, the peer's certificate
                           verified (system CAs, or --link-ca)
  --link-ca FILE           the CA (or the peer's self-signed certificate) that
                           --link-tls verifies against, PEM
  --link-fingerprint FP    pin the --link peers' certificates instead of a CA:
                           sha256:HEX or sha512:HEX, as 'openssl x509
                           -fingerprint' or the peer's log prints it (repeatable:
                           any of them matches); implies --link-tls
  --no-link-compress       do not offer zlib on links (offered by default, used
                           when the peer offers it too, as ngIRCd's 'Z')
  --drain-timeout SECONDS  after a hand-off (SIGUSR2), how long the old process
                           keeps serving the links that cannot move (TLS,
                           WebSocket, compressed) before it closes them
                           (default ${DEFAULT_DRAIN / 1000})
  -h, --help               show this help

With no listener option at all, the relay listens on 127.0.0.1:6667 (TCP)
and 127.0.0.1:8067 (WebSocket, the web chat page at http://127.0.0.1:8067/).
Started by systemd socket activation (LISTEN_FDS), it serves the sockets it
was given instead (named by FileDescriptorName: irc, ircs or tls, ws, wss).
kill -USR2 <pid> starts a successor from the installed code and hands it the
listeners and every plain TCP and Unix client, who notice nothing.
`;

export type RelayArgs =
  | { kind: 'run'; options: RelayOptions }
  | { kind: 'help' }
  | { kind: 'error'; message: string };

/** Parses the arguments after `relay`. Never throws: a bad argument is `{ kind: 'error' }`. */
export function parseRelayArgs(argv: readonly string[]): RelayArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        listen: { type: 'string', multiple: true },
        'tls-listen': { type: 'string', multiple: true },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-sni': { type: 'string', multiple: true },
        'no-tls-watch': { type: 'boolean' },
        'sts-duration': { type: 'string' },
        'unix-listen': { type: 'string', multiple: true },
        'unix-mode': { type: 'string' },
        'proxy-listen': { type: 'string', multiple: true },
        'proxy-tls-listen': { type: 'string', multiple: true },
        'proxy-from': { type: 'string', multiple: true },
        'ws-listen': { type: 'string', multiple: true },
        'wss-listen': { type: 'string', multiple: true },
        name: { type: 'string' },
        idle: { type: 'string' },
        'drain-timeout': { type: 'string' },
        flood: { type: 'string' },
        link: { type: 'string', multiple: true },
        'accept-link': { type: 'string', multiple: true },
        'link-password': { type: 'string' },
        'link-tls': { type: 'boolean' },
        'link-ca': { type: 'string' },
        'link-fingerprint': { type: 'string', multiple: true },
        'no-link-compress': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    // Node's text goes on about `--` and positionals; its first sentence is the useful part.
    const text = err instanceof Error ? (err.message.split('. ')[0] ?? err.message) : String(err);
    return { kind: 'error', message: text.replace(/^\w/, (c) => c.toLowerCase()) };
  }
  if (values.help === true) return { kind: 'help' };

  try {
    const options: RelayOptions = { flood: parseFlood(values.flood) };
    if (values.listen !== undefined) options.listen = values.listen.map((s) => parseEndpoint('--listen', s));
    if (values['tls-listen'] !== undefined) options.tlsListen = values['tls-listen'].map((s) => parseEndpoint('--tls-listen', s));
    if (values['unix-listen'] !== undefined) options.unixListen = values['unix-listen'].map((s) => parseSocketPath('--unix-listen', s));
    if (values['unix-mode'] !== undefined) {
      if (options.unixListen === undefined) throw new Error('--unix-mode goes with --unix-listen PATH');
      options.unixMode = parseMode('--unix-mode', values['unix-mode']);
    }
    if (values['proxy-listen'] !== undefined) options.proxyListen = values['proxy-listen'].map((s) => parseEndpoint('--proxy-listen', s));
    if (values['proxy-tls-listen'] !== undefined) {
      options.proxyTlsListen = values['proxy-tls-listen'].map((s) => parseEndpoint('--proxy-tls-listen', s));
    }
    if (values['proxy-from'] !== undefined) {
      if (options.proxyListen === undefined && options.proxyTlsListen === undefined) {
        throw new Error('--proxy-from goes with --proxy-listen or --proxy-tls-listen HOST:PORT');
      }
      options.proxyFrom = values['proxy-from'].map((s) => parseTrusted('--proxy-from', s));
    }
    if (values['ws-listen'] !== undefined) options.wsListen = values['ws-listen'].map((s) => parseEndpoint('--ws-listen', s));
    if (values['wss-listen'] !== undefined) options.wssListen = values['wss-listen'].map((s) => parseEndpoint('--wss-listen', s));
    const cert = values['tls-cert'];
    const key = values['tls-key'];
    const tlsFlag =
      options.tlsListen !== undefined
        ? '--tls-listen'
        : options.proxyTlsListen !== undefined
          ? '--proxy-tls-listen'
          : options.wssListen !== undefined
            ? '--wss-listen'
            : undefined;
    if (tlsFlag !== undefined) {
      if (cert === undefined || key === undefined) throw new Error(`${tlsFlag} needs --tls-cert FILE and --tls-key FILE`);
      options.tlsCert = readable('--tls-cert', cert);
      options.tlsKey = readable('--tls-key', key);
    } else if (cert !== undefined || key !== undefined) {
      throw new Error('--tls-cert and --tls-key go with --tls-listen or --proxy-tls-listen or --wss-listen HOST:PORT');
    }
    const sni = values['tls-sni'];
    const noWatch = values['no-tls-watch'] === true;
    if ((sni !== undefined || noWatch) && tlsFlag === undefined) {
      throw new Error(`${sni !== undefined ? '--tls-sni' : '--no-tls-watch'} goes with --tls-listen, --proxy-tls-listen or --wss-listen HOST:PORT`);
    }
    if (sni !== undefined) options.tlsSni = sni.map(parseSni);
    if (noWatch) options.tlsWatch = false;
    const sts = values['sts-duration'];
    if (sts !== undefined) {
      if (options.tlsListen === undefined) throw new Error('--sts-duration needs --tls-listen HOST:PORT (the port STS sends clients to)');
      if (!/^\d+$/.test(sts) || Number(sts) > 2 ** 31) throw new Error(`--sts-duration ${JSON.stringify(sts)}: give whole seconds, e.g. 2592000 (30 days), or 0 to withdraw`);
      options.stsDuration = Number(sts);
    }
    if (values.name !== undefined) {
      if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(values.name) || !values.name.includes('.')) {
        // A name without a dot could be taken for a nick in a message source.
        throw new Error(`--name ${JSON.stringify(values.name)}: a server name has a dot and only letters, digits, '.' and '-'`);
      }
      options.name = values.name;
    }
    if (values.idle !== undefined) {
      const secs = Number(values.idle);
      if (values.idle.trim() === '' || !Number.isFinite(secs) || secs < 0 || secs > 86_400) {
        throw new Error(`--idle ${JSON.stringify(values.idle)}: give seconds, 0 to 86400`);
      }
      options.idle = Math.round(secs * 1000);
    }
    parseLinks(values, options);
    const drain = values['drain-timeout'];
    if (drain !== undefined) {
      const secs = Number(drain);
      if (drain.trim() === '' || !Number.isFinite(secs) || secs < 0 || secs > 86_400) {
        throw new Error(`--drain-timeout ${JSON.stringify(drain)}: give seconds, 0 to 86400`);
      }
      options.drainTimeout = Math.round(secs * 1000);
    }
    return { kind: 'run', options };
  } catch (err) {
    return { kind: 'error', message: (err as Error).message };
  }
}

interface LinkValues {
  link?: string[];
  'accept-link'?: string[];
  'link-password'?: string;
  'link-tls'?: boolean;
  'link-ca'?: string;
  'link-fingerprint'?: string[];
  'no-link-compress'?: boolean;
}

function parseLinks(values: LinkValues, options: RelayOptions): void {
  const links = values.link ?? [];
  const accept = values['accept-link'] ?? [];
  const password = values['link-password'];
  if (links.length + accept.length === 0) {
    const stray = (['link-password', 'link-tls', 'link-ca', 'link-fingerprint', 'no-link-compress'] as const).find((k) => values[k] !== undefined);
    if (stray !== undefined) throw new Error(`--${stray} goes with --link NAME@HOST:PORT or --accept-link NAME`);
    return;
  }
  if (password === undefined || password === '' || /\s/.test(password)) {
    throw new Error('server links need --link-password PASS (one word, the same on both servers)');
  }
  options.links = links.map((text) => {
    const at = text.indexOf('@');
    const name = text.slice(0, at);
    if (at < 1 || !isServerName(name)) throw new Error(`--link ${JSON.stringify(text)}: expected NAME@HOST:PORT, NAME a server name with a dot`);
    return { name, ...parseEndpoint('--link', text.slice(at + 1)) };
  });
  for (const name of accept) {
    if (!isServerName(name)) throw new Error(`--accept-link ${JSON.stringify(name)}: a server name has a dot and only letters, digits, '.' and '-'`);
  }
  options.acceptLinks = accept;
  options.linkPassword = password;
  if (values['no-link-compress'] === true) options.linkCompress = false;
  const ca = values['link-ca'];
  const pins = values['link-fingerprint'];
  if (pins !== undefined) {
    if (ca !== undefined) throw new Error('--link-fingerprint and --link-ca are two ways to trust a peer: give one');
    // Checked by the connector; a malformed pin fails here, at start, through the same parser.
    for (const pin of pins) parseFingerprint('--link-fingerprint', pin);
    options.linkTls = { fingerprint: pins };
  } else if (values['link-tls'] === true) {
    options.linkTls = ca === undefined ? true : { ca: readFileSync(readable('--link-ca', ca)) };
  } else if (ca !== undefined) {
    throw new Error('--link-ca goes with --link-tls');
  }
}

function parseFlood(text: string | undefined): FloodOptions | false {
  if (text === undefined) return { ...CLI_FLOOD };
  if (text === 'off') return false;
  const m = /^(\d+(?:\.\d+)?):(\d+)$/.exec(text);
  const rate = Number(m?.[1]);
  const burst = Number(m?.[2]);
  if (m === null || rate <= 0 || burst < 1) throw new Error(`--flood ${JSON.stringify(text)}: give RATE:BURST (e.g. 5:20) or off`);
  return { rate, burst, mode: 'delay' };
}

/** `HOST:PORT`, `[IPV6]:PORT`, or a bare `PORT` on 127.0.0.1. */
export function parseEndpoint(option: string, text: string): Endpoint {
  let host: string;
  let port: string;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (v6 !== null) {
    host = v6[1] as string;
    port = v6[2] as string;
    if (!net.isIPv6(host)) throw new Error(`${option} ${text}: ${host} is not an IPv6 address`);
  } else if (/^\d+$/.test(text)) {
    host = '127.0.0.1';
    port = text;
  } else {
    const m = /^([^:[\]\s]+):(\d+)$/.exec(text);
    if (m === null) throw new Error(`${option} ${JSON.stringify(text)}: expected HOST:PORT, e.g. 127.0.0.1:6667 or [::1]:6667`);
    host = m[1] as string;
    port = m[2] as string;
  }
  const n = Number(port);
  if (n > 65535) throw new Error(`${option} ${text}: port ${port} is out of range (0 to 65535)`);
  return { host, port: n };
}

// sun_path holds 108 bytes on Linux, 104 on the BSDs and macOS, the final NUL included.
const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;

/** A socket file to create: short enough for `sun_path`, in a directory that exists. */
export function parseSocketPath(option: string, file: string): string {
  if (file === '') throw new Error(`${option}: give the path of the socket file to create`);
  const bytes = Buffer.byteLength(file);
  if (bytes > MAX_SOCKET_PATH) {
    throw new Error(`${option} ${file}: too long for a Unix socket (${bytes} bytes, at most ${MAX_SOCKET_PATH}); use a shorter or relative path`);
  }
  const dir = path.dirname(file);
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    throw new Error(`${option} ${file}: no directory ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  if (!isDir) throw new Error(`${option} ${file}: ${dir} is not a directory`);
  return file;
}

/** An octal file mode: `660`, `0660` or `0o660`. */
function parseMode(option: string, text: string): number {
  const m = /^(?:0o?)?([0-7]{3})$/i.exec(text);
  if (m === null) throw new Error(`${option} ${JSON.stringify(text)}: give an octal file mode, e.g. 660 (owner and group) or 600 (owner only)`);
  return Number.parseInt(m[1] as string, 8);
}

/** An address or CIDR block, checked as the listener will read it; bad ones are refused before anything binds. */
function parseTrusted(option: string, text: string): string {
  try {
    parseCidr(text, option);
  } catch (err) {
    // parseCidr writes `LABEL: "entry" why`: as every other message here, `--flag "entry" why`.
    if (err instanceof IrcArgumentError) throw new Error(err.message.replace(`${option}: `, `${option} `), { cause: err });
    throw err;
  }
  return text.trim();
}

/** `NAME:CERT:KEY`: the name has no colon; the key file is after the last one. */
function parseSni(text: string): { name: string; cert: string; key: string } {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last <= first + 1 || last === text.length - 1) {
    throw new Error(`--tls-sni ${JSON.stringify(text)}: expected NAME:CERT:KEY, e.g. irc.example.net:/etc/irc/irc.crt:/etc/irc/irc.key`);
  }
  const name = text.slice(0, first);
  if (!/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/.test(name)) {
    throw new Error(`--tls-sni ${JSON.stringify(text)}: ${JSON.stringify(name)} is not a server name like irc.example.net or *.example.net`);
  }
  return { name, cert: readable('--tls-sni', text.slice(first + 1, last)), key: readable('--tls-sni', text.slice(last + 1)) };
}

function readable(option: string, file: string): string {
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    throw new Error(`${option} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  return file;
}
