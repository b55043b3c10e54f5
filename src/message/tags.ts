/**
 * IRCv3 message-tag escaping (https://ircv3.net/specs/extensions/message-tags).
 * Values are unescaped char by char so that `\\n` stays a backslash and an `n`.
 */

/** Tags of a message: key → value. A tag sent without a value has the value `''`. */
export type IrcTags = Record<string, string>;

const BACKSLASH = 0x5c;

export function unescapeTagValue(value: string): string {
  let i = value.indexOf('\\');
  if (i < 0) return value;
  let out = value.slice(0, i);
  const len = value.length;
  while (i < len) {
    const c = value.charCodeAt(i);
    if (c !== BACKSLASH) {
      const next = value.indexOf('\\', i);
      const end = next < 0 ? len : next;
      out += value.slice(i, end);
      i = end;
      continue;
    }
    // A lone trailing backslash is dropped.
    if (i + 1 >= len) break;
    const e = value.charCodeAt(i + 1);
    switch (e) {
      case 0x3a: out += ';'; break; // \:
      case 0x73: out += ' '; break; // \s
      case 0x5c: out += '\\'; break; // \\
      case 0x72: out += '\r'; break; // \r
      case 0x6e: out += '\n'; break; // \n
      // Any other escaped character stands for itself.
      default: out += value[i + 1] ?? '';
    }
    i += 2;
  }
  return out;
}

const NEEDS_ESCAPE = /[; \\\r\n]/;
const ESCAPE_ALL = /[; \\\r\n]/g;
const ESCAPES: Readonly<Record<string, string>> = {
  ';': '\\:',
  ' ': '\\s',
  '\\': '\\\\',
  '\r': '\\r',
  '\n': '\\n',
};

export function escapeTagValue(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(ESCAPE_ALL, (c) => ESCAPES[c] ?? c);
}

/**
 * The prototype of every tags object: empty, frozen, itself without a
 * prototype. Nothing is inherited (no `toString`, no `__proto__` accessor, so
 * `__proto__` is a plain key), and unlike a null-prototype object — which V8
 * keeps as a slow dictionary — an object made from it has fast properties:
 * building and reading every tag costs about half as much.
 */
export const TAGS_PROTO: object = Object.freeze(Object.create(null) as object);

/** A new, empty tags object. */
export function newTags(): IrcTags {
  return Object.create(TAGS_PROTO) as IrcTags;
}

/**
 * Parses the tag section of a line, without its leading `@`.
 * Each tag splits at its first `=` (the seed split at every `=` and lost values
 * holding one); the last of duplicate keys wins; empty keys are ignored.
 */
export function parseTags(raw: string): IrcTags {
  // Nothing inherited, so keys such as `__proto__` are plain data.
  const tags = newTags();
  let start = 0;
  const len = raw.length;
  while (start < len) {
    let end = raw.indexOf(';', start);
    if (end < 0) end = len;
    const eq = raw.indexOf('=', start);
    if (eq < 0 || eq > end) {
      if (end > start) tags[raw.slice(start, end)] = '';
    } else if (eq > start) {
      tags[raw.slice(start, eq)] = unescapeTagValue(raw.slice(eq + 1, end));
    }
    start = end + 1;
  }
  return tags;
}
