import { isIP } from 'node:net';
import type { CidrList } from '../admission/cidr.js';

/** The request headers a reverse proxy uses to name the client. */
export interface ForwardedHeaders {
  forwarded?: string | string[] | undefined;
  'x-forwarded-for'?: string | string[] | undefined;
  'x-real-ip'?: string | string[] | undefined;
}

/** Which one header the reverse proxy in front sets. */
export type ForwardedHeader = 'x-forwarded-for' | 'forwarded' | 'x-real-ip';

/**
 * The client's address as trusted reverse proxies report it in `header`, or
 * `undefined` when it names none. Exactly one header is read, the one the
 * proxy is configured to set: a proxy rewrites or appends to its own header
 * and passes every other one through untouched, so a client could write
 * another header itself (nginx's usual `X-Forwarded-For` setup forwards a
 * client's own `Forwarded: for=…` as it came). Hops are read right to left
 * (each proxy appends the peer it saw), skipping the trusted proxies
 * themselves, so an entry the client put in front of what the proxy appended
 * is never taken: the first untrusted hop is the client. An unreadable hop
 * ends the chain: then nothing is taken, and the proxy stays the peer.
 */
export function forwardedClient(headers: ForwardedHeaders, trusted: CidrList, header: ForwardedHeader): string | undefined {
  const value = join(headers[header]);
  if (value === undefined) return undefined;
  switch (header) {
    case 'forwarded':
      return pick(
        value.split(',').map((element) => {
          for (const pair of element.split(';')) {
            const eq = pair.indexOf('=');
            if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === 'for') return pair.slice(eq + 1);
          }
          return '';
        }),
        trusted,
      );
    case 'x-forwarded-for':
      return pick(value.split(','), trusted);
    case 'x-real-ip':
      // One address, set (not appended) by the proxy.
      return address(value);
  }
}

function pick(hops: string[], trusted: CidrList): string | undefined {
  for (let i = hops.length - 1; i >= 0; i--) {
    const addr = address(hops[i] as string);
    // An unreadable hop ("unknown", an obfuscated name) ends the chain: nothing past it is trustworthy.
    if (addr === undefined) return undefined;
    if (!trusted.has(addr) || i === 0) return addr;
  }
  return undefined;
}

/** An address out of one hop: quotes, `[v6]:port`, `v4:port` and spaces removed. */
function address(hop: string): string | undefined {
  let s = hop.trim();
  if (s.startsWith('"') && s.endsWith('"') && s.length >= 2) s = s.slice(1, -1);
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    s = end < 0 ? '' : s.slice(1, end);
  } else if (s.includes('.') && s.split(':').length === 2) {
    s = s.slice(0, s.indexOf(':'));
  }
  return isIP(s) === 0 ? undefined : s.toLowerCase();
}

function join(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}
