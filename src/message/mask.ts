import { casefold, type Casemapping } from './casemap.js';

/**
 * Whether a `nick!user@host` (or any name) matches an IRC mask: `*` is any
 * run of characters, `?` exactly one, everything else itself — `[` included,
 * unlike a shell glob. Compared under a casemapping (default `rfc1459`), as
 * servers compare ban masks. Linear in practice: on a mismatch it goes back
 * only to the last `*`, never further.
 */
export function matchMask(mask: string, subject: string, casemapping: Casemapping = 'rfc1459'): boolean {
  const m = casefold(mask, casemapping);
  const s = casefold(subject, casemapping);
  let mi = 0;
  let si = 0;
  let star = -1;
  let resume = 0;
  while (si < s.length) {
    const c = m.charCodeAt(mi);
    if (mi < m.length && (c === 0x3f /* ? */ || (c !== 0x2a && c === s.charCodeAt(si)))) {
      mi++;
      si++;
    } else if (mi < m.length && c === 0x2a /* * */) {
      star = mi++;
      resume = si;
    } else if (star >= 0) {
      mi = star + 1;
      si = ++resume;
    } else {
      return false;
    }
  }
  while (mi < m.length && m.charCodeAt(mi) === 0x2a) mi++;
  return mi === m.length;
}
