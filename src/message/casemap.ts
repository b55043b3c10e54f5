/**
 * IRC casemappings (the `CASEMAPPING` ISUPPORT token): which names are the
 * same nick or channel. `rfc1459`: ASCII letters, and `[]\^` as the upper case
 * of `{}|~` (Scandinavian keyboards once put letters there); `strict-rfc1459`:
 * the same without `^`/`~`; `ascii`: letters only. Non-ASCII is kept as it is.
 */
export type Casemapping = 'rfc1459' | 'strict-rfc1459' | 'ascii';

function table(extra: readonly [number, number][]): Uint8Array {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) t[c] = c;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = c + 0x20;
  for (const [from, to] of extra) t[from] = to;
  return t;
}

// One table lookup per character: folding runs on every JOIN, PRIVMSG target and NICK.
const TABLES: Readonly<Record<Casemapping, Uint8Array>> = {
  ascii: table([]),
  'strict-rfc1459': table([
    [0x5b, 0x7b],
    [0x5c, 0x7c],
    [0x5d, 0x7d],
  ]),
  rfc1459: table([
    [0x5b, 0x7b],
    [0x5c, 0x7c],
    [0x5d, 0x7d],
    [0x5e, 0x7e],
  ]),
};

const RFC1459 = TABLES.rfc1459;

/** A casemapping, or what knows one: an `Isupport` (its parsed `CASEMAPPING`). */
export type CasemappingSource = Casemapping | { readonly casemapping: Casemapping };

/** The lower-case form of a nick or channel name under a casemapping (default `rfc1459`), or the one an `Isupport` announced. */
export function casefold(s: string, casemapping: CasemappingSource = 'rfc1459'): string {
  const fold = casemapping === 'rfc1459' ? RFC1459 : TABLES[typeof casemapping === 'string' ? casemapping : casemapping.casemapping];
  const n = s.length;
  let i = 0;
  // Most names are already folded: return them without building a new string.
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 128 && fold[c] !== c) break;
  }
  if (i === n) return s;
  let out = s.slice(0, i);
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    out += c < 128 ? String.fromCharCode(fold[c] as number) : s.charAt(i);
  }
  return out;
}

/** Whether two names are the same under a casemapping (default `rfc1459`). */
export function sameName(a: string, b: string, casemapping: CasemappingSource = 'rfc1459'): boolean {
  return a.length === b.length && casefold(a, casemapping) === casefold(b, casemapping);
}
