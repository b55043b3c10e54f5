import { isIP } from 'node:net';
import type { CidrList } from '../admission/cidr.js';

/** The request headers a reverse proxy uses to name the client. */
export interface ForwardedHeaders {
  forwarded?: string | string[] | undefined;
  'x-forwarded-for'?: string | string[] | undefined;
  'x-real-ip'?: string | string[] | undefined;
}

/**
 * The client's address as trusted reverse proxies report it, or `undefined`
 * when the headers name none. Hops are read right to left (each proxy
 * appends the peer it saw), skipping the trusted proxies themselves, so a
 * client cannot forge its address by sending a header of its own: the first
 * untrusted hop is the client. `Forwarded` (RFC 7239) wins over
 * `X-Forwarded-For`, which wins over `X-Real-IP`.
 */
export function forwardedClient(headers: ForwardedHeaders, trusted: CidrList): string | undefined {
  const forwarded = join(headers.forwarded);
  if (forwarded !== undefined) {
    const hops = forwarded.split(',').map((element) => {
      for (const pair of element.split(';')) {
        const eq = pair.indexOf('=');
        if (eq > 0 && pair.slice(0, eq).trim().toLowerCase() === 'for') return pair.slice(eq + 1);
      }
      return '';
    });
    const found = pick(hops, trusted);
    if (found !== undefined) return found;
  }
  const xff = join(headers['x-forwarded-for']);
  if (xff !== undefined) {
    const found = pick(xff.split(','), trusted);
    if (found !== undefined) return found;
  }
  const real = join(headers['x-real-ip']);
  return real === undefined ? undefined : address(real);
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
