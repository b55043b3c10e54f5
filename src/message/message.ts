import { formatLine } from './format.js';
import { newTags, parseTags, type IrcTags } from './tags.js';
import { parseSource, type IrcSourceParts } from './source.js';

/** What a message is made of; what `send` and `formatLine` accept. */
export interface IrcMessageInit {
  /** Tag key → value. A tag without a value has the value `''` and is written as the bare key. */
  tags?: Readonly<Record<string, string>> | undefined;
  /** The seed's `prefix`, without its colon: `nick!user@host` or a server name. */
  source?: string | undefined;
  command: string;
  params?: readonly string[] | undefined;
  /** Per-message override of the colonify default: `true` always writes the last param with `:`. */
  colonify?: boolean | undefined;
}

const EMPTY_PARAMS: readonly string[] = Object.freeze([]);
const EMPTY_TAGS: Readonly<IrcTags> = Object.freeze(newTags());

const WIRE: unique symbol = Symbol('ircsock.wire');

/**
 * One IRC message. Messages parsed from the wire keep their raw line and
 * parse their tags only when `tags` is first read: most handlers dispatch on
 * `command` and never look at tags, so most lines never pay for them.
 */
export class IrcMessage implements IrcMessageInit {
  readonly command: string;
  readonly source: string | undefined;
  readonly params: readonly string[];
  /** The line this message was parsed from (without CR/LF), or `undefined` when built in code. */
  readonly raw: string | undefined;
  readonly colonify: boolean | undefined;
  #tags: Readonly<IrcTags> | undefined;
  #rawTags: string | undefined;
  #sourceParts: IrcSourceParts | undefined;

  constructor(init: IrcMessageInit);
  /** @internal */
  constructor(init: IrcMessageInit, token: typeof WIRE, raw: string, rawTags: string | undefined);
  constructor(init: IrcMessageInit, token?: typeof WIRE, raw?: string, rawTags?: string) {
    this.command = init.command;
    this.source = init.source;
    this.colonify = init.colonify;
    if (token === WIRE) {
      // The parser hands over arrays nobody else holds: no copy needed.
      this.params = init.params ?? EMPTY_PARAMS;
      this.raw = raw;
      this.#rawTags = rawTags;
      this.#tags = rawTags === undefined ? EMPTY_TAGS : undefined;
    } else {
      this.params = init.params && init.params.length > 0 ? init.params.slice() : EMPTY_PARAMS;
      this.raw = undefined;
      this.#rawTags = undefined;
      this.#tags = init.tags ? Object.assign(newTags(), init.tags) : EMPTY_TAGS;
    }
    this.#sourceParts = undefined;
  }

  /** Tag key → unescaped value (`''` for a tag without a value). */
  get tags(): Readonly<IrcTags> {
    if (this.#tags === undefined) this.#tags = parseTags(this.#rawTags ?? '');
    return this.#tags;
  }

  hasTags(): boolean {
    if (this.#tags === undefined) return (this.#rawTags ?? '') !== '';
    for (const _ in this.#tags) return true;
    return false;
  }

  hasTag(key: string): boolean {
    return Object.hasOwn(this.tags, key);
  }

  getTag(key: string): string | undefined {
    return Object.hasOwn(this.tags, key) ? this.tags[key] : undefined;
  }

  /** `nick`, `user` and `host` of the source, or `undefined` when there is no source. */
  get sourceParts(): IrcSourceParts | undefined {
    if (this.source === undefined) return undefined;
    this.#sourceParts ??= parseSource(this.source);
    return this.#sourceParts;
  }

  /** The source's nick (or server name), as IRC::Message::Object's `prefix` users expect. */
  get nick(): string | undefined {
    return this.sourceParts?.nick;
  }

  /** A new message with some fields replaced; the rest is shared. */
  with(changes: Partial<IrcMessageInit>): IrcMessage {
    return new IrcMessage({
      tags: this.tags,
      source: this.source,
      command: this.command,
      params: this.params,
      colonify: this.colonify,
      ...changes,
    });
  }

  /** The wire form, without CR/LF. Throws `IrcFormatError` as `formatLine` does. */
  toString(): string {
    return formatLine(this);
  }

  toJSON(): { tags: Readonly<IrcTags>; source: string | undefined; command: string; params: readonly string[] } {
    return { tags: this.tags, source: this.source, command: this.command, params: this.params };
  }
}

/** @internal The parser's constructor: no copies, tags kept raw until read. */
export function wireMessage(
  command: string,
  source: string | undefined,
  params: string[],
  raw: string,
  rawTags: string | undefined,
): IrcMessage {
  return new IrcMessage({ command, source, params }, WIRE, raw, rawTags);
}
