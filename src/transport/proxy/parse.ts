import { isAscii, isUtf8 } from 'node:buffer';
import { isIPv4, isIPv6, SocketAddress } from 'node:net';
import { IrcArgumentError, IrcProxyError } from '../../errors.js';
import { crc32c } from './crc32c.js';
import {
  PP2_CLIENT,
  PP2_SUBTYPE_SSL,
  PP2_TYPE,
  PROXY_UNIQUE_ID_MAX_LENGTH,
  PROXY_UNIX_PATH_LENGTH,
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_ADDRESS_LENGTH,
  PROXY_V2_FIXED_LENGTH,
  PROXY_V2_MAX_LENGTH,
  PROXY_V2_SIGNATURE,
  type ProxyEndpoint,
  type ProxyHeader,
  type ProxySslInfo,
  type ProxyTlvs,
} from './header.js';

export interface ProxyHeaderParserOptions {
  /**
   * The longest v2 header accepted, in bytes, the 16 fixed bytes included.
   * A header announcing more is refused as soon as its length field arrives,
   * so a peer cannot make the parser hold more. Default and maximum
   * 16 + 65535 (what the format allows); at least 16.
   */
  maxV2Length?: number;
}

/** A parsed header and the bytes that followed it in the same chunk. */
export interface ProxyParseResult {
  header: ProxyHeader;
  /** What came after the header in the last chunk (a view of it, maybe empty): the start of the IRC stream. */
  rest: Buffer;
}

const CR = 0x0d;
const LF = 0x0a;
const V1_PREFIX = 'PROXY ';
const V1_PROTOCOLS = ['TCP4', 'TCP6', 'UNKNOWN'] as const;
const V1_MAX_IPV4 = 15; // 255.255.255.255
const V1_MAX_IPV6 = 45; // ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255
const FAMILIES = ['unspec', 'inet', 'inet6', 'unix'] as const;
const TRANSPORTS = ['unspec', 'stream', 'dgram'] as const;
const TLV_HEADER = 3;
const SSL_FIXED = 5; // client (1) + verify (4)
const CRC_ZEROS = new Uint8Array(4);

const hex = (n: number): string => `0x${n.toString(16)}`;
const invalid = (message: string): IrcProxyError => new IrcProxyError('ERR_PROXY_INVALID', message);

/**
 * Reads the PROXY header at the start of a connection, v1 or v2 (told apart
 * by the first byte), from chunks as they arrive. One instance per connection.
 *
 * It refuses as early as the bytes allow: the first byte that cannot
 * continue a valid header throws, without waiting for the rest. It holds at
 * most 107 bytes for v1 and `maxV2Length` for v2, and never reads past the
 * header: what follows it is returned untouched as `rest`.
 */
export class ProxyHeaderParser {
  readonly maxV2Length: number;
  // The v1 line, or the first 16 bytes of a v2 header until its length is known.
  readonly #head = Buffer.alloc(PROXY_V1_MAX_LENGTH);
  #headLen = 0;
  // The whole v2 header, allocated at its announced size.
  #body: Buffer | undefined = undefined;
  #bodyLen = 0;
  #done = false;
  #failure: IrcProxyError | undefined = undefined;

  constructor(options: ProxyHeaderParserOptions = {}) {
    const max = options.maxV2Length ?? PROXY_V2_MAX_LENGTH;
    if (!Number.isInteger(max) || max < PROXY_V2_FIXED_LENGTH || max > PROXY_V2_MAX_LENGTH) {
      throw new IrcArgumentError(
        'ERR_INVALID_OPTION',
        `maxV2Length must be an integer from ${PROXY_V2_FIXED_LENGTH} to ${PROXY_V2_MAX_LENGTH}, got ${String(max)}`,
      );
    }
    this.maxV2Length = max;
  }

  /** Bytes held so far. */
  get buffered(): number {
    return this.#body === undefined ? this.#headLen : this.#bodyLen;
  }

  /**
   * Feeds bytes; returns undefined while more are needed, or the header and
   * the bytes after it (never lost: IRC lines may arrive in the same packet).
   * Throws `IrcProxyError`, and again on every later call. After it returned
   * a header it must not be fed again (that throws `ERR_INVALID_ARG`).
   */
  push(chunk: Buffer): ProxyParseResult | undefined {
    if (this.#failure !== undefined) throw this.#failure;
    if (this.#done) {
      throw new IrcArgumentError(
        'ERR_INVALID_ARG',
        'ProxyHeaderParser.push called after the header was parsed: the bytes after it belong to the IRC stream',
      );
    }
    try {
      const result = this.#push(chunk);
      if (result !== undefined) this.#finish();
      return result;
    } catch (err) {
      if (!(err instanceof IrcProxyError)) throw err;
      this.#failure = err;
      this.#finish();
      throw err;
    }
  }

  #finish(): void {
    this.#done = true;
    this.#body = undefined;
    this.#headLen = 0;
    this.#bodyLen = 0;
  }

  #push(chunk: Buffer): ProxyParseResult | undefined {
    if (this.#body === undefined) {
      if (chunk.length === 0) return undefined;
      const first = this.#headLen > 0 ? this.#head[0] : chunk[0];
      if (first !== CR) return this.#pushV1(chunk);
      const taken = this.#take(chunk, PROXY_V2_FIXED_LENGTH - this.#headLen);
      const head = this.#head.subarray(0, this.#headLen);
      checkV2Fixed(head, this.maxV2Length);
      if (this.#headLen < PROXY_V2_FIXED_LENGTH) return undefined;
      this.#body = Buffer.allocUnsafe(PROXY_V2_FIXED_LENGTH + head.readUInt16BE(14));
      this.#bodyLen = head.copy(this.#body);
      chunk = chunk.subarray(taken);
    }
    const body = this.#body;
    const taken = chunk.copy(body, this.#bodyLen, 0, body.length - this.#bodyLen);
    this.#bodyLen += taken;
    if (this.#bodyLen < body.length) return undefined;
    return { header: decodeV2(body), rest: chunk.subarray(taken) };
  }

  #pushV1(chunk: Buffer): ProxyParseResult | undefined {
    // Copy up to the first LF only: the line ends there (or is refused), and
    // nothing after it is ours.
    const room = PROXY_V1_MAX_LENGTH - this.#headLen;
    const lf = chunk.subarray(0, room).indexOf(LF);
    const taken = this.#take(chunk, lf >= 0 ? lf + 1 : room);
    const header = scanV1(this.#head.subarray(0, this.#headLen));
    return header === undefined ? undefined : { header, rest: chunk.subarray(taken) };
  }

  /** Appends up to `max` bytes of `chunk` to the head buffer; returns how many. */
  #take(chunk: Buffer, max: number): number {
    const n = chunk.copy(this.#head, this.#headLen, 0, Math.min(max, chunk.length));
    this.#headLen += n;
    return n;
  }
}

// --- v1 ----------------------------------------------------------------------

/**
 * Checks the v1 bytes held so far (no byte past the first LF). Returns the
 * header once its CRLF is in, undefined while the bytes can still become a
 * valid line, and throws as soon as they cannot. Re-scanning ≤ 107 bytes per
 * chunk is cheaper than keeping a state machine right.
 */
function scanV1(buf: Buffer): ProxyHeader | undefined {
  const text = buf.toString('latin1');
  const lit = Math.min(text.length, V1_PREFIX.length);
  if (text.slice(0, lit) !== V1_PREFIX.slice(0, lit)) {
    throw invalid(
      text.length > 0 && text.charCodeAt(0) !== V1_PREFIX.charCodeAt(0)
        ? `not a PROXY protocol header: it starts with ${hex(text.charCodeAt(0))}, neither "PROXY" (v1) nor the v2 signature`
        : `PROXY v1 header does not start with "PROXY ": got ${JSON.stringify(text.slice(0, lit))}`,
    );
  }
  const eol = text.search(/[\r\n]/);
  if (eol >= 0) {
    if (text.charCodeAt(eol) === LF) throw invalid('PROXY v1 header ends with a lone LF: CRLF is required');
    if (eol + 1 < text.length && text.charCodeAt(eol + 1) !== LF) {
      throw invalid('PROXY v1 header has a CR not followed by LF: CRLF is required');
    }
  }
  const complete = eol >= 0 && eol + 1 < text.length;
  if (!complete && text.length >= PROXY_V1_MAX_LENGTH) {
    throw invalid(`PROXY v1 header without CRLF within ${PROXY_V1_MAX_LENGTH} bytes`);
  }
  if (text.length < V1_PREFIX.length) return undefined;

  // With the CR in, every field is final; before it, the last one may still grow.
  const final = eol >= 0;
  const fields = text.slice(V1_PREFIX.length, final ? eol : text.length).split(' ');
  const proto = fields[0] ?? '';
  if (fields.length === 1 && !final) {
    if (!V1_PROTOCOLS.some((p) => p.startsWith(proto))) throw unknownProtocol(proto);
    return undefined;
  }
  if (proto === 'UNKNOWN') return complete ? v1Header('unspec', undefined, undefined, eol + 2) : undefined;
  if (proto !== 'TCP4' && proto !== 'TCP6') throw unknownProtocol(proto);

  // In wire order, so a whole line and the same bytes one by one fail alike.
  const v6 = proto === 'TCP6';
  const args = fields.slice(1);
  args.slice(0, 4).forEach((field, i) => {
    checkV1Field(proto, i, field, final || i < args.length - 1);
  });
  if (args.length > 4) throw invalid(`PROXY v1 ${proto}: unexpected bytes after the destination port (a trailing space?)`);
  if (final && args.length < 4) throw invalid(`PROXY v1 ${proto}: the line ends after ${args.length} of 4 fields`);
  if (!complete) return undefined;
  const [src = '', dst = '', sport = '', dport = ''] = args;
  return v1Header(
    v6 ? 'inet6' : 'inet',
    { address: v6 ? normalizeIPv6(src) : src, port: Number(sport) },
    { address: v6 ? normalizeIPv6(dst) : dst, port: Number(dport) },
    eol + 2,
  );
}

const V1_FIELD_NAMES = ['source address', 'destination address', 'source port', 'destination port'] as const;

/** Checks field `i` after the protocol; a field that is not `whole` yet only has to be a possible start. */
function checkV1Field(proto: 'TCP4' | 'TCP6', i: number, field: string, whole: boolean): void {
  const name = `PROXY v1 ${proto} ${V1_FIELD_NAMES[i] ?? 'field'}`;
  if (whole && field === '') throw invalid(`${name} is empty: fields are separated by exactly one space`);
  if (i >= 2) {
    if (field.length > 1 && field.startsWith('0')) throw invalid(`${name} ${JSON.stringify(field)} has a leading zero`);
    if (!/^[0-9]{0,5}$/.test(field)) throw invalid(`${name} ${JSON.stringify(field)} is not a decimal port`);
    if (Number(field) > 0xffff) throw invalid(`${name} ${field} is out of range 0–65535`);
    return;
  }
  const v6 = proto === 'TCP6';
  let ok: boolean;
  if (whole) ok = v6 ? isIPv6(field) && !field.includes('%') : isIPv4(field);
  else ok = v6 ? ipv6Prefix(field) : ipv4Prefix(field);
  if (!ok) throw invalid(`${name} ${JSON.stringify(field)} is not an ${v6 ? 'IPv6' : 'IPv4'} address`);
}

/** Whether `s` can still grow into a dotted quad without leading zeros. */
function ipv4Prefix(s: string): boolean {
  if (s.length > V1_MAX_IPV4) return false;
  const parts = s.split('.');
  if (parts.length > 4) return false;
  return parts.every((p, i) => {
    const last = i === parts.length - 1;
    if (p === '') return last;
    return /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255;
  });
}

/** A cheap filter for an IPv6 address still arriving: its alphabet, length and at most one `::`. */
function ipv6Prefix(s: string): boolean {
  if (s.length > V1_MAX_IPV6 || !/^[0-9A-Fa-f:.]*$/.test(s) || s.includes(':::')) return false;
  return s.indexOf('::') === s.lastIndexOf('::');
}

function unknownProtocol(proto: string): IrcProxyError {
  return invalid(`PROXY v1: unknown protocol ${JSON.stringify(proto)} (TCP4, TCP6 or UNKNOWN)`);
}

function v1Header(
  family: 'inet' | 'inet6' | 'unspec',
  source: ProxyEndpoint | undefined,
  destination: ProxyEndpoint | undefined,
  length: number,
): ProxyHeader {
  const local = family === 'unspec';
  return {
    version: 1,
    command: local ? 'local' : 'proxy',
    family,
    transport: local ? 'unspec' : 'stream',
    source,
    destination,
    tlvs: { unknown: [] },
    length,
  };
}

// Node formats IPv6 with inet_ntop, so this matches `socket.remoteAddress`.
function normalizeIPv6(address: string): string {
  return new SocketAddress({ address, family: 'ipv6' }).address;
}

// --- v2 ----------------------------------------------------------------------

/** Checks the fixed 16 bytes (or those of them that have arrived). */
function checkV2Fixed(head: Buffer, maxLength: number): void {
  const sig = Math.min(head.length, PROXY_V2_SIGNATURE.length);
  for (let i = 0; i < sig; i++) {
    if (head[i] !== PROXY_V2_SIGNATURE[i]) {
      throw invalid(
        `PROXY v2: byte ${i} of the signature is ${hex(head[i] ?? 0)}, expected ${hex(PROXY_V2_SIGNATURE[i] ?? 0)}`,
      );
    }
  }
  const verCmd = head[12];
  if (verCmd !== undefined) {
    if (verCmd >> 4 !== 2) throw invalid(`PROXY v2: unsupported version ${verCmd >> 4} (only 2 is defined)`);
    if ((verCmd & 0xf) > 1) throw invalid(`PROXY v2: unknown command ${hex(verCmd & 0xf)}`);
  }
  const fam = head[13];
  if (fam !== undefined) {
    if (fam >> 4 >= FAMILIES.length) throw invalid(`PROXY v2: unknown address family ${hex(fam >> 4)}`);
    if ((fam & 0xf) >= TRANSPORTS.length) throw invalid(`PROXY v2: unknown transport protocol ${hex(fam & 0xf)}`);
  }
  if (head.length < PROXY_V2_FIXED_LENGTH || fam === undefined) return;
  const len = head.readUInt16BE(14);
  if (PROXY_V2_FIXED_LENGTH + len > maxLength) {
    throw invalid(`PROXY v2 header of ${PROXY_V2_FIXED_LENGTH + len} bytes is over the limit of ${maxLength}`);
  }
  const family = familyOf(fam);
  const need = PROXY_V2_ADDRESS_LENGTH[family];
  if (len < need) {
    throw invalid(`PROXY v2: ${len} bytes after the fixed header, too few for an ${family} address block (${need})`);
  }
}

function familyOf(fam: number): (typeof FAMILIES)[number] {
  return FAMILIES[fam >> 4] ?? 'unspec';
}

/** Decodes a complete v2 header whose fixed part `checkV2Fixed` accepted. */
function decodeV2(buf: Buffer): ProxyHeader {
  const command = (buf[12] ?? 0) & 0xf ? 'proxy' : 'local';
  const fam = buf[13] ?? 0;
  const family = familyOf(fam);
  const transport = TRANSPORTS[fam & 0xf] ?? 'unspec';
  const tlvStart = PROXY_V2_FIXED_LENGTH + PROXY_V2_ADDRESS_LENGTH[family];
  // The spec says to ignore the addresses of LOCAL and of unspecified families or transports.
  const endpoints =
    command === 'proxy' && family !== 'unspec' && transport !== 'unspec'
      ? decodeAddresses(family, buf.subarray(PROXY_V2_FIXED_LENGTH, tlvStart))
      : undefined;
  return {
    version: 2,
    command,
    family,
    transport,
    source: endpoints?.[0],
    destination: endpoints?.[1],
    tlvs: decodeTlvs(buf, tlvStart),
    length: buf.length,
  };
}

function decodeAddresses(family: 'inet' | 'inet6' | 'unix', block: Buffer): [ProxyEndpoint, ProxyEndpoint] {
  if (family === 'unix') {
    return [
      { path: unixPath(block.subarray(0, PROXY_UNIX_PATH_LENGTH), 'source') },
      { path: unixPath(block.subarray(PROXY_UNIX_PATH_LENGTH), 'destination') },
    ];
  }
  const size = family === 'inet' ? 4 : 16;
  const format = family === 'inet' ? formatIPv4 : formatIPv6;
  return [
    { address: format(block.subarray(0, size)), port: block.readUInt16BE(2 * size) },
    { address: format(block.subarray(size, 2 * size)), port: block.readUInt16BE(2 * size + 2) },
  ];
}

function formatIPv4(b: Buffer): string {
  return Array.from(b).join('.');
}

function formatIPv6(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return normalizeIPv6(groups.join(':'));
}

/** A NUL-padded `sun_path`; a leading NUL marks a Linux abstract name, whose padding is trimmed too. */
function unixPath(field: Buffer, which: string): string {
  let bytes: Buffer;
  let prefix = '';
  if (field[0] === 0) {
    let end = field.length;
    while (end > 1 && field[end - 1] === 0) end--;
    if (end === 1) return '';
    bytes = field.subarray(1, end);
    prefix = '\0';
  } else {
    const nul = field.indexOf(0);
    bytes = nul < 0 ? field : field.subarray(0, nul);
  }
  if (!isUtf8(bytes)) throw invalid(`PROXY v2: the unix ${which} path is not valid UTF-8`);
  return prefix + bytes.toString('utf8');
}

interface Tlv {
  type: number;
  value: Buffer;
  /** Offset of the value in the header, for CRC zeroing and for messages. */
  at: number;
}

/** Splits `buf[start, end)` into TLVs; `base` is where `buf` starts in the header. */
function splitTlvs(buf: Buffer, start: number, base: number, what: string): Tlv[] {
  const out: Tlv[] = [];
  let pos = start;
  while (pos < buf.length) {
    const left = buf.length - pos;
    if (left < TLV_HEADER) {
      throw invalid(`PROXY v2: truncated ${what} at byte ${base + pos}: ${left} of its 3 header bytes`);
    }
    const type = buf[pos] ?? 0;
    const len = buf.readUInt16BE(pos + 1);
    if (len > left - TLV_HEADER) {
      throw invalid(
        `PROXY v2: truncated ${what} ${hex(type)} at byte ${base + pos}: ${len} value bytes announced, ${left - TLV_HEADER} left`,
      );
    }
    out.push({ type, value: buf.subarray(pos + TLV_HEADER, pos + TLV_HEADER + len), at: base + pos + TLV_HEADER });
    pos += TLV_HEADER + len;
  }
  return out;
}

const TLV_NAMES: Record<number, string> = {
  [PP2_TYPE.ALPN]: 'ALPN',
  [PP2_TYPE.AUTHORITY]: 'AUTHORITY',
  [PP2_TYPE.CRC32C]: 'CRC32C',
  [PP2_TYPE.UNIQUE_ID]: 'UNIQUE_ID',
  [PP2_TYPE.SSL]: 'SSL',
  [PP2_TYPE.NETNS]: 'NETNS',
  [PP2_SUBTYPE_SSL.VERSION]: 'SSL VERSION',
  [PP2_SUBTYPE_SSL.CN]: 'SSL CN',
  [PP2_SUBTYPE_SSL.CIPHER]: 'SSL CIPHER',
  [PP2_SUBTYPE_SSL.SIG_ALG]: 'SSL SIG_ALG',
  [PP2_SUBTYPE_SSL.KEY_ALG]: 'SSL KEY_ALG',
};

/** Refuses a second TLV of a known type: which one counts would be the reader's guess. */
function once(seen: Set<number>, type: number): string {
  const name = TLV_NAMES[type] ?? hex(type);
  if (seen.has(type)) throw invalid(`PROXY v2: more than one ${name} TLV`);
  seen.add(type);
  return name;
}

function text(value: Buffer, name: string, encoding: 'ascii' | 'utf8'): string {
  if (encoding === 'ascii' ? !isAscii(value) : !isUtf8(value)) {
    throw invalid(`PROXY v2: the ${name} TLV is not ${encoding === 'ascii' ? 'US-ASCII' : 'UTF-8'}`);
  }
  return value.toString(encoding === 'ascii' ? 'latin1' : 'utf8');
}

function decodeTlvs(header: Buffer, start: number): ProxyTlvs {
  const list = splitTlvs(header, start, 0, 'TLV');
  // The checksum first: if the bytes are corrupt, say so rather than what the corruption looks like.
  const crc = list.filter((t) => t.type === PP2_TYPE.CRC32C);
  if (crc.length > 1) throw invalid('PROXY v2: more than one CRC32C TLV');
  const crcTlv = crc[0];
  if (crcTlv !== undefined) verifyCrc(header, crcTlv);

  const tlvs: ProxyTlvs = { unknown: [] };
  const seen = new Set<number>();
  for (const { type, value, at } of list) {
    switch (type) {
      case PP2_TYPE.NOOP:
        break;
      case PP2_TYPE.ALPN:
        once(seen, type);
        tlvs.alpn = Buffer.from(value);
        break;
      case PP2_TYPE.AUTHORITY:
        tlvs.authority = text(value, once(seen, type), 'utf8');
        break;
      case PP2_TYPE.CRC32C:
        tlvs.crc32c = value.readUInt32BE(0);
        break;
      case PP2_TYPE.UNIQUE_ID:
        once(seen, type);
        if (value.length > PROXY_UNIQUE_ID_MAX_LENGTH) {
          throw invalid(`PROXY v2: UNIQUE_ID TLV of ${value.length} bytes, at most ${PROXY_UNIQUE_ID_MAX_LENGTH} allowed`);
        }
        tlvs.uniqueId = Buffer.from(value);
        break;
      case PP2_TYPE.SSL:
        once(seen, type);
        tlvs.ssl = decodeSsl(value, at);
        break;
      case PP2_TYPE.NETNS:
        tlvs.netns = text(value, once(seen, type), 'ascii');
        break;
      default:
        tlvs.unknown.push({ type, value: Buffer.from(value) });
    }
  }
  return tlvs;
}

function verifyCrc(header: Buffer, { value, at }: Tlv): void {
  if (value.length !== 4) throw invalid(`PROXY v2: CRC32C TLV of ${value.length} bytes, 4 expected`);
  const expected = value.readUInt32BE(0);
  let crc = crc32c(header.subarray(0, at));
  crc = crc32c(CRC_ZEROS, crc);
  crc = crc32c(header.subarray(at + 4), crc);
  if (crc !== expected) {
    throw new IrcProxyError(
      'ERR_PROXY_CRC',
      `PROXY v2: CRC32C mismatch: the header says ${hex(expected)}, its bytes give ${hex(crc)}`,
    );
  }
}

function decodeSsl(value: Buffer, at: number): ProxySslInfo {
  if (value.length < SSL_FIXED) throw invalid(`PROXY v2: SSL TLV of ${value.length} bytes, at least ${SSL_FIXED} needed`);
  const client = value[0] ?? 0;
  const verify = value.readUInt32BE(1);
  const certConn = (client & PP2_CLIENT.CERT_CONN) !== 0;
  const certSess = (client & PP2_CLIENT.CERT_SESS) !== 0;
  const ssl: ProxySslInfo = {
    client,
    ssl: (client & PP2_CLIENT.SSL) !== 0,
    certConn,
    certSess,
    verify,
    verified: verify === 0 && (certConn || certSess),
    unknown: [],
  };
  const seen = new Set<number>();
  for (const { type, value: sub } of splitTlvs(value, SSL_FIXED, at, 'SSL sub-TLV')) {
    switch (type) {
      case PP2_SUBTYPE_SSL.VERSION:
        ssl.version = text(sub, once(seen, type), 'ascii');
        break;
      case PP2_SUBTYPE_SSL.CN:
        ssl.cn = text(sub, once(seen, type), 'utf8');
        break;
      case PP2_SUBTYPE_SSL.CIPHER:
        ssl.cipher = text(sub, once(seen, type), 'ascii');
        break;
      case PP2_SUBTYPE_SSL.SIG_ALG:
        ssl.sigAlg = text(sub, once(seen, type), 'ascii');
        break;
      case PP2_SUBTYPE_SSL.KEY_ALG:
        ssl.keyAlg = text(sub, once(seen, type), 'ascii');
        break;
      default:
        ssl.unknown.push({ type, value: Buffer.from(sub) });
    }
  }
  return ssl;
}
