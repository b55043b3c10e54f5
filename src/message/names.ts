import type { Isupport } from './isupport.js';

/** The channel types and length limits to judge names by; by default, an ISUPPORT with nothing announced. */
export type NameRules = Pick<Isupport, 'chantypes' | 'nicklen' | 'channellen'>;

// RFC 2812 2.3.1: letters, digits, the specials [ ] \ ` _ ^ { | } and '-'; not first: a digit or '-'.
const NICK = /^[A-Za-z[\]\\`_^{|}][A-Za-z0-9[\]\\`_^{|}-]*$/;
const DEFAULT_CHANNELLEN = 50;

/**
 * Whether a nick is valid: RFC 2812's characters, not longer than the
 * server's `NICKLEN` (no limit when it announced none), not starting with a
 * channel type.
 */
export function isValidNick(nick: string, rules?: NameRules): boolean {
  if (!NICK.test(nick)) return false;
  const max = rules?.nicklen;
  if (max !== undefined && nick.length > max) return false;
  const types = rules?.chantypes ?? '#&';
  return !types.includes(nick.charAt(0));
}

/**
 * Whether a channel name is valid: it starts with one of the server's
 * `CHANTYPES`, holds no space, comma, BEL, NUL, CR or LF, and fits
 * `CHANNELLEN` (50, the RFC's, when none was announced).
 */
export function isValidChannel(name: string, rules?: NameRules): boolean {
  const types = rules?.chantypes ?? '#&';
  if (name.length < 2 || !types.includes(name.charAt(0))) return false;
  if (/[\s,\0]/.test(name) || name.includes('\x07')) return false;
  return name.length <= (rules?.channellen ?? DEFAULT_CHANNELLEN);
}

// A DNS label: letters, digits and hyphens, no hyphen at either end, 1 to 63 characters.
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/**
 * Whether a server or host name is valid as a server should judge it (the
 * ircdocs vectors): dot-separated DNS labels (IDNA's `xn--` form for
 * non-ASCII), at least one dot (`services.` is fine, `irc` is not), no
 * underscore, at most 253 characters. Clients should not validate the
 * hostnames a server sends them: vhosts are free-form.
 */
export function isValidHostname(host: string): boolean {
  if (host.length === 0 || host.length > 254 || !host.includes('.')) return false;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => LABEL.test(label));
}
