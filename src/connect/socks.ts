import type { Socket } from 'node:net';
import { SocksClient, type SocksClientError } from 'socks';
import { IrcSocksError, type IrcSocksCode } from '../errors.js';

/** A SOCKS proxy to connect through (Tor's is `{ host: '127.0.0.1', port: 9050 }`). */
export interface SocksOptions {
  host: string;
  port: number;
  /** 5 (the default) or 4 (SOCKS4a when the destination is a host name). */
  version?: 4 | 5;
  /** SOCKS5 user name (RFC 1929), or SOCKS4's user id. */
  userId?: string;
  /** SOCKS5 password (RFC 1929). */
  password?: string;
  /** Milliseconds for the proxy to answer, once connected to it (`ERR_SOCKS_TIMEOUT`). Default 10 000. */
  timeout?: number;
}

export const DEFAULT_SOCKS_TIMEOUT = 10_000;

/**
 * Asks a SOCKS proxy, over `socket` (already connected to it), for a stream
 * to `host:port`. The host name goes to the proxy as it is — never resolved
 * here — so `.onion` names work through Tor and DNS does not leak. `done` is
 * called exactly once, with the same socket (now a pipe to the destination).
 */
export function socksHandshake(
  socket: Socket,
  proxy: Readonly<SocksOptions>,
  destination: { host: string; port: number },
  done: (err: Error | undefined) => void,
): { abort: (err: Error) => void } {
  let settled = false;
  const finish = (err: Error | undefined): void => {
    if (settled) return;
    settled = true;
    done(err);
  };
  const client = new SocksClient({
    command: 'connect',
    destination,
    proxy: {
      host: proxy.host,
      port: proxy.port,
      type: proxy.version ?? 5,
      ...(proxy.userId === undefined ? {} : { userId: proxy.userId }),
      ...(proxy.password === undefined ? {} : { password: proxy.password }),
    },
    timeout: proxy.timeout ?? DEFAULT_SOCKS_TIMEOUT,
    existing_socket: socket,
  });
  client.once('error', (err: SocksClientError) => {
    finish(socksError(err, proxy, destination));
  });
  client.once('established', () => {
    finish(undefined);
  });
  client.connect(socket);
  return {
    abort: (err: Error): void => {
      socket.destroy();
      finish(err);
    },
  };
}

// The socks package reports by message only: its messages are stable
// constants, with the proxy's reply name after ' - ' or in parentheses.
function socksError(err: Error, proxy: Readonly<SocksOptions>, dest: { host: string; port: number }): IrcSocksError {
  const msg = err.message;
  const reply = /(?: - \(?)(\w+)\)?$/.exec(msg)?.[1];
  const via = `SOCKS${String(proxy.version ?? 5)} proxy ${proxy.host}:${proxy.port}`;
  let code: IrcSocksCode;
  let what: string;
  if (msg.startsWith('Proxy connection timed out')) {
    code = 'ERR_SOCKS_TIMEOUT';
    what = `${via} did not answer within ${proxy.timeout ?? DEFAULT_SOCKS_TIMEOUT} ms`;
  } else if (msg.startsWith('Socks5 Authentication failed') || msg.includes('no accepted authentication type') || reply === 'RejectedIdent') {
    code = 'ERR_SOCKS_AUTH';
    what = `${via} refused our credentials`;
  } else if (reply === 'NetworkUnreachable' || reply === 'HostUnreachable' || reply === 'TTLExpired') {
    code = 'ERR_SOCKS_UNREACHABLE';
    what = `${via} cannot reach ${dest.host}:${dest.port} (${reply})`;
  } else if (reply !== undefined) {
    // ConnectionRefused, NotAllowed, Failure (SOCKS5); Failed/Rejected (SOCKS4 has no finer reply).
    code = 'ERR_SOCKS_REFUSED';
    what = `${via} did not connect us to ${dest.host}:${dest.port} (${reply})`;
  } else {
    code = 'ERR_SOCKS_PROTOCOL';
    what = `${via}: ${msg}`;
  }
  return new IrcSocksError(code, what, reply, { cause: err });
}
