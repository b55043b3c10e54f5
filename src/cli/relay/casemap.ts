/**
 * RFC 1459 casemapping, the one the relay announces (`CASEMAPPING=rfc1459`):
 * ASCII letters, and `[]\~` as the upper case of `{}|^` (Scandinavian
 * keyboards once put those letters there). Nicks and channel names are looked
 * up by their folded form and shown as they were first written.
 */

// One table lookup per character: folding runs on every JOIN, PRIVMSG target and NICK.
const FOLD = new Uint8Array(128);
for (let c = 0; c < 128; c++) FOLD[c] = c;
for (let c = 0x41; c <= 0x5a; c++) FOLD[c] = c + 0x20;
FOLD[0x5b] = 0x7b; // [ → {
FOLD[0x5c] = 0x7c; // \ → |
FOLD[0x5d] = 0x7d; // ] → }
FOLD[0x7e] = 0x5e; // ~ → ^

/** The rfc1459 lower-case form of a nick or channel name; non-ASCII is kept as it is. */
export function foldRfc1459(s: string): string {
  const n = s.length;
  let i = 0;
  // Most names are already folded: return them without building a new string.
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && FOLD[c] !== c) break;
  }
  if (i === n) return s;
  let out = s.slice(0, i);
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    out += c < 128 ? String.fromCharCode(FOLD[c] as number) : s.charAt(i);
  }
  return out;
}

/** Whether two names are the same under rfc1459 casemapping. */
export function sameName(a: string, b: string): boolean {
  return a.length === b.length && foldRfc1459(a) === foldRfc1459(b);
}
