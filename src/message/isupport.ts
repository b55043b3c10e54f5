import type { Casemapping } from './casemap.js';
import type { IrcMessageInit } from './message.js';

/** A token's value: the unescaped text, or `true` for a token without one. */
export type IsupportValue = string | true;

/** `CHANMODES=A,B,C,D`: list modes, modes with a parameter always, only when set, never. */
export interface ChanModes {
  /** Lists (bans, exceptions): a parameter always, a list when queried. */
  readonly a: string;
  /** A parameter always (a key). */
  readonly b: string;
  /** A parameter when set only (a limit). */
  readonly c: string;
  /** No parameter. */
  readonly d: string;
}

/** `PREFIX=(modes)prefixes`, paired in rank order. */
export interface Prefix {
  readonly modes: string;
  readonly prefixes: string;
}

const DEFAULT_CHANTYPES = '#&';
const DEFAULT_PREFIX: Prefix = Object.freeze({ modes: 'ov', prefixes: '@+' });

/**
 * The features a server announced in `RPL_ISUPPORT` (005), as a queryable
 * map. Feed it every 005 with `apply` (a later `-TOKEN` removes one, a later
 * value replaces one); read raw values with `get`, or the common tokens
 * through their typed accessors, which give the documented defaults when the
 * server sent nothing (or something malformed). Pure: no sockets.
 */
export class Isupport {
  readonly #tokens = new Map<string, IsupportValue>();

  /** From tokens (`['CASEMAPPING=ascii', 'NETWORK=Example', ...]`). */
  constructor(tokens: Iterable<string> = []) {
    this.applyTokens(tokens);
  }

  /**
   * Applies one `005` message: `params[0]` is our nick and the last param the
   * human text, both skipped. Returns false (and changes nothing) for any
   * other command.
   */
  apply(msg: Pick<IrcMessageInit, 'command' | 'params'>): boolean {
    if (msg.command !== '005') return false;
    const params = msg.params ?? [];
    // Some servers leave the trailing text out: then the last param is a token (it has no space).
    const last = params.length > 1 ? (params[params.length - 1] as string) : undefined;
    const end = last !== undefined && last.includes(' ') ? params.length - 1 : params.length;
    this.applyTokens(params.slice(1, end));
    return true;
  }

  /** Applies tokens: `NAME`, `NAME=value` (with `\xHH` escapes), `-NAME`. Malformed ones are skipped. */
  applyTokens(tokens: Iterable<string>): void {
    for (const token of tokens) {
      if (token.startsWith('-')) {
        const name = token.slice(1);
        if (isTokenName(name)) this.#tokens.delete(name);
        continue;
      }
      const eq = token.indexOf('=');
      const name = eq === -1 ? token : token.slice(0, eq);
      if (!isTokenName(name)) continue;
      const raw = eq === -1 ? '' : token.slice(eq + 1);
      // `NAME=` is the same as `NAME` (the spec says so).
      this.#tokens.set(name, raw === '' ? true : unescapeIsupportValue(raw));
    }
  }

  /** The value of a token, `true` for one without a value, `undefined` when it was not announced. */
  get(name: string): IsupportValue | undefined {
    return this.#tokens.get(name.toUpperCase());
  }

  has(name: string): boolean {
    return this.#tokens.has(name.toUpperCase());
  }

  /** Every token announced and not removed, in the order first seen. */
  entries(): IterableIterator<[string, IsupportValue]> {
    return this.#tokens.entries();
  }

  get size(): number {
    return this.#tokens.size;
  }

  /**
   * `CASEMAPPING`, as a casemapping `casefold` knows: `rfc1459` when absent
   * (the RFC's), and for a mapping it does not know (e.g. `rfc7613`) also
   * `rfc1459`, which folds ASCII the same; see `casemappingName` for the raw name.
   */
  get casemapping(): Casemapping {
    const v = this.#string('CASEMAPPING')?.toLowerCase();
    return v === 'ascii' || v === 'strict-rfc1459' || v === 'rfc1459' ? v : 'rfc1459';
  }

  /** The `CASEMAPPING` name as sent (lower-cased), or `undefined`. */
  get casemappingName(): string | undefined {
    return this.#string('CASEMAPPING')?.toLowerCase();
  }

  /** `CHANTYPES`: default `#&`; a bare `CHANTYPES` means none. */
  get chantypes(): string {
    const v = this.#tokens.get('CHANTYPES');
    return v === undefined ? DEFAULT_CHANTYPES : v === true ? '' : v;
  }

  /** `PREFIX`: default `(ov)@+`; a bare `PREFIX` means none; a malformed one the default. */
  get prefix(): Prefix {
    const v = this.#tokens.get('PREFIX');
    if (v === undefined) return DEFAULT_PREFIX;
    if (v === true) return { modes: '', prefixes: '' };
    const m = /^\(([^()]*)\)(.*)$/.exec(v);
    if (m === null || (m[1] as string).length !== (m[2] as string).length) return DEFAULT_PREFIX;
    return { modes: m[1] as string, prefixes: m[2] as string };
  }

  /** `CHANMODES`, or `undefined` when absent; groups past the fourth are ignored (the spec allows more). */
  get chanmodes(): ChanModes | undefined {
    const v = this.#string('CHANMODES');
    if (v === undefined) return undefined;
    const [a = '', b = '', c = '', d = ''] = v.split(',');
    return { a, b, c, d };
  }

  get network(): string | undefined {
    return this.#string('NETWORK');
  }

  /** `NICKLEN`, or `undefined` when absent or not a number. */
  get nicklen(): number | undefined {
    return this.#number('NICKLEN');
  }

  get channellen(): number | undefined {
    return this.#number('CHANNELLEN');
  }

  /** `TARGMAX`: the most targets per command (Infinity for a command listed without a number). */
  get targmax(): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    for (const item of (this.#string('TARGMAX') ?? '').split(',')) {
      const colon = item.indexOf(':');
      if (colon <= 0) continue;
      const n = item.slice(colon + 1);
      out.set(item.slice(0, colon).toUpperCase(), n === '' ? Infinity : /^\d+$/.test(n) ? Number(n) : Infinity);
    }
    return out;
  }

  /** `MAXLIST`: list-mode letters to the most entries they may hold together (`b` → 100 for `beI:100`). */
  get maxlist(): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    for (const item of (this.#string('MAXLIST') ?? '').split(',')) {
      const m = /^([^:]+):(\d+)$/.exec(item);
      if (m === null) continue;
      for (const mode of m[1] as string) out.set(mode, Number(m[2]));
    }
    return out;
  }

  /** `STATUSMSG`: the prefixes a message target may carry (`@#chan`), `''` when absent. */
  get statusmsg(): string {
    return this.#string('STATUSMSG') ?? '';
  }

  /** `UTF8ONLY`: the server takes and sends UTF-8 only. */
  get utf8only(): boolean {
    return this.#tokens.has('UTF8ONLY');
  }

  #string(name: string): string | undefined {
    const v = this.#tokens.get(name);
    return typeof v === 'string' ? v : undefined;
  }

  #number(name: string): number | undefined {
    const v = this.#string(name);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  }
}

// Token names are upper-case letters and digits (the spec's grammar, relaxed to allow lower case some servers send).
function isTokenName(name: string): boolean {
  return /^[A-Za-z0-9]{1,30}$/.test(name);
}

/** Decodes `\xHH` escapes (bytes, read as UTF-8); a malformed escape is kept as it is. */
export function unescapeIsupportValue(value: string): string {
  if (!value.includes('\\x')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; ) {
    if (value.startsWith('\\x', i) && /^[0-9A-Fa-f]{2}$/.test(value.slice(i + 2, i + 4))) {
      bytes.push(parseInt(value.slice(i + 2, i + 4), 16));
      i += 4;
      continue;
    }
    const cp = value.codePointAt(i) as number;
    const ch = String.fromCodePoint(cp);
    bytes.push(...encoder.encode(ch));
    i += ch.length;
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

/** Escapes a value for the wire: space, `\`, `=` and control characters as `\xHH`. */
export function escapeIsupportValue(value: string): string {
  let out = '';
  for (const ch of value) {
    const c = ch.codePointAt(0) as number;
    out += c <= 0x20 || c === 0x5c || c === 0x3d || c === 0x7f ? `\\x${c.toString(16).toUpperCase().padStart(2, '0')}` : ch;
  }
  return out;
}

export interface IsupportBuildOptions {
  /** The client's nick (the first parameter). */
  nick: string;
  /** The server name, as the messages' source. */
  source?: string;
  /** Tokens per line: at most 13 (15 parameters with the nick and the text). */
  perLine?: number;
  /** Bytes per line, CRLF excluded (the body limit: 510). */
  maxBytes?: number;
  text?: string;
}

/**
 * Builds the `005` lines a server sends: tokens (`true` for a bare one,
 * `false` to announce removal as `-NAME`) split over as many lines as the
 * 13-token and 510-byte limits need.
 *
 * @throws RangeError for a token name that is not letters and digits, or one token too long for a line.
 */
export function buildIsupport(tokens: Readonly<Record<string, string | number | boolean>>, opts: IsupportBuildOptions): IrcMessageInit[] {
  const perLine = Math.min(opts.perLine ?? 13, 13);
  const maxBytes = opts.maxBytes ?? 510;
  const text = opts.text ?? 'are supported by this server';
  const fixed = utf8Length(`${opts.source === undefined ? '' : `:${opts.source} `}005 ${opts.nick} :${text}`);
  const lines: IrcMessageInit[] = [];
  let current: string[] = [];
  let bytes = fixed;
  for (const [name, value] of Object.entries(tokens)) {
    if (!isTokenName(name)) throw new RangeError(`buildIsupport(): '${name}' is not a token name`);
    const token = value === false ? `-${name}` : value === true || value === '' ? name : `${name}=${escapeIsupportValue(String(value))}`;
    const size = utf8Length(token) + 1;
    if (fixed + size > maxBytes) throw new RangeError(`buildIsupport(): ${name} does not fit in a ${maxBytes}-byte line`);
    if (current.length === perLine || bytes + size > maxBytes) {
      lines.push(line(current));
      current = [];
      bytes = fixed;
    }
    current.push(token);
    bytes += size;
  }
  if (current.length > 0) lines.push(line(current));
  return lines;

  function line(list: string[]): IrcMessageInit {
    return { ...(opts.source === undefined ? {} : { source: opts.source }), command: '005', params: [opts.nick, ...list, text] };
  }
}

const encoder = new TextEncoder();
function utf8Length(s: string): number {
  return encoder.encode(s).length;
}
