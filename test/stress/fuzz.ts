/**
 * The fuzzer's byte source: each call returns one chunk to write, drawn from
 * a seeded PRNG so a failing run can be replayed from its seed. Kinds: random
 * bytes, NULs, lone CRs, long runs (with and without LF), mutated real lines,
 * partial or oversized tags, invalid UTF-8, and now and then a valid
 * registration so the registered paths (channels, fan-out) get garbage too.
 */
import type { Prng } from './harness.js';

/** Real client lines to mutate. `{n}` becomes the connection's number. */
const CORPUS = [
  'CAP LS 302',
  'CAP REQ :message-tags echo-message server-time',
  'CAP END',
  'NICK fz{n}',
  'USER fz{n} 0 * :Fuzz Client {n}',
  'JOIN #fuzz',
  'JOIN #fuzz,#fuzz2,#fuzz3',
  'PRIVMSG #fuzz :hello world, this is a normal message',
  'PRIVMSG fz1 :a private message',
  '@+draft/reply=abc123;+typing=active TAGMSG #fuzz',
  '@time=2024-01-01T00:00:00.000Z;+x=a\\sb\\:c :fz{n}!u@h PRIVMSG #fuzz :tagged',
  'NOTICE #fuzz :a notice',
  'PART #fuzz :bye',
  'TOPIC #fuzz :a new topic',
  'NAMES #fuzz',
  'WHO #fuzz',
  'WHOIS fz1',
  'MODE #fuzz',
  'USERHOST fz1 fz2',
  'ISON fz1 fz2 fz3',
  'PING :token',
  'PONG :ircsock.relay',
  'MOTD',
  'PASS secret',
  ':source!user@host PRIVMSG #fuzz :with a source',
  'PRIVMSG #fuzz :\u0001ACTION waves\u0001',
  'QUIT :leaving',
];

const TAG_FRAGMENTS = ['@', '@a', '@a=', '@a=b', '@a=b;', '@;;;', '@=x', '@a=\\', '@+k=v\\s\\', '@a=b c', '@' + 'k'.repeat(300), '@a=b;c=d;e'];

/** Byte sequences that are not UTF-8: truncated, overlong, surrogates, out of range. */
const BAD_UTF8 = [
  [0xc3, 0x28],
  [0xa0, 0xa1],
  [0xe2, 0x28, 0xa1],
  [0xf0, 0x28, 0x8c, 0x28],
  [0xc0, 0xaf],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xff, 0xfe, 0xfd],
  [0xe2, 0x82],
];

export const FUZZ_KINDS = ['random', 'nul', 'cr', 'run', 'mutated', 'tags', 'utf8', 'register'] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];

const EOLS = ['\r\n', '\n', '\r\n', '', '\r', '\n\n', '\r\r\n'];

function line(rng: Prng, n: number): string {
  return rng.pick(CORPUS).replaceAll('{n}', String(n));
}

function mutate(rng: Prng, src: Buffer): Buffer {
  const bytes = [...src];
  const times = rng.int(1, 4);
  for (let k = 0; k < times; k++) {
    const at = rng.int(0, Math.max(0, bytes.length - 1));
    switch (rng.int(0, 5)) {
      case 0: // flip a bit
        if (bytes.length > 0) bytes[at] = (bytes[at] ?? 0) ^ (1 << rng.int(0, 7));
        break;
      case 1: // insert a random byte
        bytes.splice(at, 0, rng.int(0, 255));
        break;
      case 2: // delete a stretch
        bytes.splice(at, rng.int(1, 8));
        break;
      case 3: // duplicate a stretch
        bytes.splice(at, 0, ...bytes.slice(at, at + rng.int(1, 40)));
        break;
      case 4: // truncate
        bytes.length = at;
        break;
      default: // insert a special byte
        bytes.splice(at, 0, rng.pick([0x00, 0x0d, 0x0a, 0x20, 0x3a, 0x40, 0x3b, 0x3d, 0x5c, 0x2c, 0x23, 0x01, 0x7f, 0xff]));
    }
  }
  return Buffer.from(bytes);
}

/** One chunk for connection `n`, and which kind it was. */
export function fuzzChunk(rng: Prng, n: number): { kind: FuzzKind; data: Buffer } {
  const r = rng.next();
  // Weighted: most chunks are line-shaped (they reach the parser), some are pure noise or runs.
  const kind: FuzzKind =
    r < 0.12 ? 'random' : r < 0.22 ? 'nul' : r < 0.32 ? 'cr' : r < 0.38 ? 'run' : r < 0.7 ? 'mutated' : r < 0.8 ? 'tags' : r < 0.9 ? 'utf8' : 'register';
  const eol = (): string => rng.pick(EOLS);
  switch (kind) {
    case 'random':
      return { kind, data: rng.bytes(rng.int(1, 600)) };
    case 'nul': {
      const l = Buffer.from(line(rng, n), 'latin1');
      const at = rng.int(0, l.length);
      return { kind, data: Buffer.concat([l.subarray(0, at), Buffer.alloc(rng.int(1, 3)), l.subarray(at), Buffer.from(eol(), 'latin1')]) };
    }
    case 'cr': {
      const l = line(rng, n);
      const at = rng.int(0, l.length);
      return { kind, data: Buffer.from(`${l.slice(0, at)}${'\r'.repeat(rng.int(1, 4))}${l.slice(at)}${rng.pick(['\r', '\r\n', '\r\r', ''])}`, 'latin1') };
    }
    case 'run': {
      // 1 KiB to 20 KiB of one byte; half end with LF (an over-long line), half do not.
      const fill = rng.pick([0x41, 0x20, 0x3a, 0x40, 0x00, 0xff, 0x0d]);
      const body = Buffer.alloc(rng.int(1024, 20 * 1024), fill);
      return { kind, data: rng.next() < 0.5 ? Buffer.concat([Buffer.from('PRIVMSG #fuzz :'), body, Buffer.from('\r\n')]) : body };
    }
    case 'mutated':
      return { kind, data: Buffer.concat([mutate(rng, Buffer.from(line(rng, n), 'latin1')), Buffer.from(eol(), 'latin1')]) };
    case 'tags': {
      const tag = rng.pick(TAG_FRAGMENTS);
      const rest = rng.pick(['', ' ', ' PRIVMSG #fuzz :x', ' :src', ' TAGMSG #fuzz', `;${'v'.repeat(rng.int(1, 9000))} PING x`]);
      return { kind, data: Buffer.from(`${tag}${rest}${eol()}`, 'latin1') };
    }
    case 'utf8': {
      const parts: Buffer[] = [Buffer.from(rng.pick(['PRIVMSG #fuzz :', 'NICK ', 'JOIN #', 'TOPIC #fuzz :', '', '@+t=']))];
      for (let k = rng.int(1, 6); k > 0; k--) parts.push(Buffer.from(rng.pick(BAD_UTF8)), Buffer.from(rng.pick(['', 'ab', ' ', 'é'])));
      parts.push(Buffer.from(eol(), 'latin1'));
      return { kind, data: Buffer.concat(parts) };
    }
    default:
      return { kind, data: Buffer.from(`NICK fz${n}_${rng.int(0, 99)}\r\nUSER fz 0 * :fuzz\r\nJOIN #fuzz\r\n`) };
  }
}
