/**
 * A deterministic, realistic corpus of IRC lines for the benchmarks: what a
 * busy server or bouncer sees. The same seed gives the same bytes on every run
 * and machine (a seeded PRNG, never Math.random).
 */

import { mulberry32 } from '../test/helpers/prng.js';

export interface CorpusOptions {
  /** Number of lines; default 200,000. */
  lines?: number;
  /** PRNG seed; default 0x1c50c. */
  seed?: number;
}

export interface Corpus {
  /** The lines, without CR/LF. */
  lines: string[];
  /** The lines as UTF-8, each ended with CRLF. */
  buffer: Buffer;
  /** Share of lines holding non-ASCII text. */
  nonAsciiShare: number;
}

export const DEFAULT_CORPUS_LINES = 200_000;
const DEFAULT_SEED = 0x1c50c;

const WORDS = (
  'the a to and of is in it you that for on with this be are have not was but at so just like ' +
  'what can do if get all my one no know about there think out they how up would now then ' +
  'server client channel netsplit ping lag ircd bouncer patch commit build test release merge ' +
  'branch kernel config deploy rollback docs issue tls cert sasl cap nick mode topic kick ban'
).split(' ');
const NON_ASCII_WORDS = [
  'café', 'naïve', 'über', 'señor', 'façade', 'smørrebrød', 'Ελληνικά', 'привет', 'спасибо',
  '日本語', 'こんにちは', '中文', '你好', '한국어', 'ありがとう', '🙂', '👍', '🎉', '🔥', '😂', '❤️',
];
const NICKS = Array.from({ length: 400 }, (_, i) => {
  const stems = ['alice', 'bob', 'carol', 'dave', 'eve', 'mallory', 'trent', 'peggy', 'victor', 'walter', 'zoe', 'Guest'];
  return `${stems[i % stems.length] ?? 'n'}${i < stems.length ? '' : String(i)}`;
});
const HOSTS = [
  'user/%s', 'gateway/web/irccloud.com/x-%s', '2001:db8::%x', '192.0.2.%d', '%s.users.example.net',
  'ip-198-51-100-%d.ec2.internal', 'unaffiliated/%s', 'staff/%s', 'cpe-%d-%d.cable.example.com',
];
const CHANNELS = ['#ircv3', '#node', '#linux', '#chat', '#help', '#dev', '#ops', '#random', '#typescript', '#ergo'];
const SERVER = 'irc.example.net';
const ISUPPORT = [
  'AWAYLEN=390', 'BOT=B', 'CASEMAPPING=ascii', 'CHANLIMIT=#:100', 'CHANMODES=Ibe,k,fl,CEMRUimnstu',
  'CHANNELLEN=64', 'CHANTYPES=#', 'ELIST=U', 'EXCEPTS', 'EXTBAN=,m', 'HOSTLEN=64', 'INVEX', 'KICKLEN=390',
  'MAXLIST=beI:60', 'MAXTARGETS=4', 'MODES', 'MONITOR=100', 'NETWORK=ExampleNet', 'NICKLEN=32',
  'PREFIX=(qaohv)~&@%+', 'STATUSMSG=~&@%+', 'TARGMAX=NAMES:1,LIST:1,KICK:,WHOIS:1,USERHOST:10,PRIVMSG:4',
  'TOPICLEN=390', 'UTF8ONLY', 'WHOX',
];

class Generator {
  readonly #r: () => number;
  #msgid = 0;
  #clock = Date.UTC(2024, 4, 1, 12, 0, 0);

  constructor(seed: number) {
    this.#r = mulberry32(seed);
  }

  rand(): number {
    return this.#r();
  }

  int(n: number): number {
    return Math.floor(this.#r() * n);
  }

  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)] as T;
  }

  nick(): string {
    return this.pick(NICKS);
  }

  source(nick = this.nick()): string {
    const host = this.pick(HOSTS)
      .replace('%s', nick.toLowerCase())
      .replace('%x', this.int(0xffff).toString(16))
      .replace(/%d/g, () => String(this.int(255)));
    return `${nick}!${this.rand() < 0.3 ? '~' : ''}${nick.slice(0, 9).toLowerCase()}@${host}`;
  }

  text(words: number, nonAscii: boolean): string {
    const out: string[] = [];
    for (let i = 0; i < words; i++) {
      out.push(nonAscii && this.rand() < 0.35 ? this.pick(NON_ASCII_WORDS) : this.pick(WORDS));
    }
    if (nonAscii && !out.some((w) => /[\u0080-\uffff]/.test(w))) out.push(this.pick(NON_ASCII_WORDS));
    return out.join(' ');
  }

  /** Text whose UTF-8 size is close to `bytes`, never over. */
  textOfBytes(bytes: number, nonAscii: boolean): string {
    let text = '';
    for (;;) {
      const word = nonAscii && this.rand() < 0.3 ? this.pick(NON_ASCII_WORDS) : this.pick(WORDS);
      const next = text === '' ? word : `${text} ${word}`;
      if (Buffer.byteLength(next) > bytes) return text;
      text = next;
    }
  }

  time(): string {
    this.#clock += this.int(900);
    return new Date(this.#clock).toISOString();
  }

  msgid(): string {
    this.#msgid++;
    return `${this.#msgid.toString(36).padStart(6, '0')}${this.int(0x7fffffff).toString(36)}`;
  }

  /** Server tags: time, msgid, account, sometimes a bot tag or an escaped vendor label. */
  serverTags(account: string): string {
    let tags = `@time=${this.time()};msgid=${this.msgid()}`;
    if (this.rand() < 0.7) tags += `;account=${account}`;
    const x = this.rand();
    if (x < 0.08) tags += ';bot';
    else if (x < 0.2) tags += `;example.com/label=a\\sb\\:c\\\\d${this.int(100)}`;
    else if (x < 0.26) tags += `;+draft/reply=${this.msgid()}`;
    return tags;
  }

  line(): { line: string; nonAscii: boolean } {
    const nonAscii = this.rand() < 0.1;
    const k = this.rand();
    const nick = this.nick();
    const chan = this.pick(CHANNELS);
    let line: string;
    if (k < 0.42) {
      // Tagged PRIVMSG, as a server with message-tags, server-time and account-tag relays it.
      const verb = this.rand() < 0.9 ? 'PRIVMSG' : 'NOTICE';
      line = `${this.serverTags(nick)} :${this.source(nick)} ${verb} ${chan} :${this.text(3 + this.int(18), nonAscii)}`;
    } else if (k < 0.5) {
      line = `:${this.source(nick)} PRIVMSG ${this.rand() < 0.5 ? chan : this.nick()} :${this.text(2 + this.int(12), nonAscii)}`;
    } else if (k < 0.57) {
      // extended-join
      line = `@time=${this.time()} :${this.source(nick)} JOIN ${chan} ${this.rand() < 0.6 ? nick : '*'} :${this.text(2, nonAscii)}`;
    } else if (k < 0.61) {
      line = `:${this.source(nick)} PART ${chan}${this.rand() < 0.5 ? ` :${this.text(3, nonAscii)}` : ''}`;
    } else if (k < 0.65) {
      line = `@time=${this.time()} :${this.source(nick)} QUIT :${this.rand() < 0.4 ? '*.net *.split' : this.text(4, nonAscii)}`;
    } else if (k < 0.68) {
      line = `:${SERVER} 005 ${nick} ${this.isupport()} :are supported by this server`;
    } else if (k < 0.71) {
      const names: string[] = [];
      for (let n = 8 + this.int(30); n > 0; n--) names.push(`${this.pick(['', '', '', '@', '+', '%'])}${this.nick()}`);
      line = `:${SERVER} 353 ${nick} = ${chan} :${names.join(' ')}`;
    } else if (k < 0.73) {
      line = `:${SERVER} ${this.pick(['332', '372', '311', '352', '366'])} ${nick} ${chan} :${this.text(6, nonAscii)}`;
    } else if (k < 0.83) {
      const token = `${SERVER}-${this.int(1e9)}`;
      line = this.rand() < 0.5 ? `PING :${token}` : `:${SERVER} PONG ${SERVER} :${token}`;
    } else if (k < 0.88) {
      // Long lines near the 512-byte body limit.
      const head = `:${this.source(nick)} PRIVMSG ${chan} :`;
      line = `${this.serverTags(nick)} ${head}${this.textOfBytes(510 - Buffer.byteLength(head) - this.int(30), nonAscii)}`;
    } else if (k < 0.93) {
      // TAGMSG with client-only tags.
      const x = this.rand();
      const client =
        x < 0.5
          ? `+typing=${this.pick(['active', 'paused', 'done'])}`
          : x < 0.8
            ? `+draft/react=${nonAscii ? this.pick(['👍', '🎉', '❤️']) : ':+1:'};+draft/reply=${this.msgid()}`
            : `+draft/channel-context=${chan}`;
      line = `@${client};time=${this.time()};msgid=${this.msgid()} :${this.source(nick)} TAGMSG ${chan}`;
    } else if (k < 0.96) {
      line = `:${this.source(nick)} MODE ${chan} +${this.pick(['o', 'v', 'b', 'oo', 'vh'])} ${this.nick()}${this.rand() < 0.3 ? ` ${this.nick()}` : ''}`;
    } else {
      line = `@time=${this.time()} :${this.source(nick)} NICK ${this.nick()}_`;
    }
    return { line, nonAscii: nonAscii && /[\u0080-\uffff]/.test(line) };
  }

  isupport(): string {
    const tokens: string[] = [];
    for (let n = 10 + this.int(6); n > 0; n--) tokens.push(this.pick(ISUPPORT));
    return [...new Set(tokens)].join(' ');
  }
}

/** Generates the corpus: the same options give the same bytes. */
export function generateCorpus(opts: CorpusOptions = {}): Corpus {
  const count = opts.lines ?? DEFAULT_CORPUS_LINES;
  const gen = new Generator(opts.seed ?? DEFAULT_SEED);
  const lines: string[] = new Array<string>(count);
  let nonAscii = 0;
  for (let i = 0; i < count; i++) {
    const l = gen.line();
    lines[i] = l.line;
    if (l.nonAscii) nonAscii++;
  }
  const buffer = Buffer.from(lines.length === 0 ? '' : `${lines.join('\r\n')}\r\n`, 'utf8');
  return { lines, buffer, nonAsciiShare: count === 0 ? 0 : nonAscii / count };
}
