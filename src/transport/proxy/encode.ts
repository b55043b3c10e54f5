import { isAscii } from 'node:buffer';
import { isIPv4, isIPv6, SocketAddress } from 'node:net';
import { IrcArgumentError } from '../../errors.js';
import { crc32c } from './crc32c.js';
import {
  PP2_CLIENT,
  PP2_SUBTYPE_SSL,
  PP2_TYPE,
  PROXY_UNIQUE_ID_MAX_LENGTH,
  PROXY_UNIX_PATH_LENGTH,
  PROXY_V2_FIXED_LENGTH,
  PROXY_V2_SIGNATURE,
  type ProxyEndpoint,
  type ProxyInetEndpoint,
  type ProxyTlvRaw,
  type ProxyUnixEndpoint,
} from './header.js';

/** The SSL TLV to send. Flags not given are derived: `client` defaults to `PP2_CLIENT.SSL`. */
export interface ProxySslInit {
  /** The raw `client` byte to start from; the booleans below then set or clear their bits. */
  client?: number;
  /** The client connected over TLS (`PP2_CLIENT_SSL`). */
  ssl?: boolean;
  /** The client sent a certificate on this connection (`PP2_CLIENT_CERT_CONN`). */
  certConn?: boolean;
  /** The client sent a certificate in this TLS session (`PP2_CLIENT_CERT_SESS`). */
  certSess?: boolean;
  /** 0 only for a presented and verified certificate. Default 1 (not verified), so nothing is vouched for by omission. */
  verify?: number;
  /** US-ASCII TLS version, e.g. `TLSv1.3`. */
  version?: string;
  /** Common Name of the client certificate. */
  cn?: string;
  /** US-ASCII cipher name. */
  cipher?: string;
  /** US-ASCII signature algorithm of the sender's certificate. */
  sigAlg?: string;
  /** US-ASCII key algorithm of the sender's certificate. */
  keyAlg?: string;
  /** More sub-TLVs, written as given after the known ones. */
  raw?: ProxyTlvRaw[];
}

/** The v2 TLVs to send, written in ascending type order, then `raw`. */
export interface ProxyTlvsInit {
  /** The ALPN protocol; a string is sent as UTF-8. */
  alpn?: Buffer | string;
  /** The host name the client asked for. */
  authority?: string;
  /** The sender's id for the connection, at most 128 bytes. */
  uniqueId?: Buffer;
  /** US-ASCII network namespace name. */
  netns?: string;
  ssl?: ProxySslInit;
  /** Any other TLVs (custom types 0xE0–0xEF, NOOP padding), written as given, last. */
  raw?: ProxyTlvRaw[];
}

/** What `encodeProxyHeader` writes. */
export interface ProxyHeaderInit {
  version: 1 | 2;
  /**
   * `'local'` sends no endpoints (v1 `UNKNOWN`, v2 LOCAL): the receiver uses
   * the connection's own. Default: `'proxy'` when endpoints are given, else `'local'`.
   */
  command?: 'proxy' | 'local';
  /** The client's endpoint. Give both endpoints or neither; both of one family. */
  source?: ProxyEndpoint;
  /** What the client connected to. */
  destination?: ProxyEndpoint;
  /** v2 only: the client's transport. Default `'stream'`; v1 can only say TCP. */
  transport?: 'stream' | 'dgram';
  /** v2 only. */
  tlvs?: ProxyTlvsInit;
  /** v2 only: append a CRC32C TLV so the receiver can detect corruption. */
  crc32c?: boolean;
}

/** The endpoints to send, checked and paired by family. */
type Endpoints =
  | { family: 'inet' | 'inet6'; source: ProxyInetEndpoint; destination: ProxyInetEndpoint }
  | { family: 'unix'; source: ProxyUnixEndpoint; destination: ProxyUnixEndpoint };

const bad = (message: string): IrcArgumentError => new IrcArgumentError('ERR_INVALID_OPTION', message);

/**
 * The PROXY header announcing `init`, for a connector to write before any
 * other byte. Throws `IrcArgumentError` (`ERR_INVALID_OPTION`) for a header
 * that cannot be written as asked, rather than silently dropping a part.
 */
export function encodeProxyHeader(init: ProxyHeaderInit): Buffer {
  oneOf('version', init.version, [1, 2]);
  oneOf('command', init.command, ['proxy', 'local', undefined]);
  oneOf('transport', init.transport, ['stream', 'dgram', undefined]);
  const given = init.source !== undefined || init.destination !== undefined;
  const command = init.command ?? (given ? 'proxy' : 'local');
  const endpoints = command === 'local' ? undefined : pair(init.source, init.destination);
  return init.version === 1 ? encodeV1(init, endpoints) : encodeV2(init, command, endpoints, init.transport ?? 'stream');
}

// The types already say so, but a JavaScript caller (or a config file) may not have listened.
function oneOf(name: string, value: unknown, allowed: readonly unknown[]): void {
  if (!allowed.includes(value)) {
    const list = allowed.filter((a) => a !== undefined).map((a) => JSON.stringify(a));
    const got = typeof value === 'string' ? JSON.stringify(value) : String(value);
    throw bad(`proxy header ${name} must be ${list.join(' or ')}, got ${got}`);
  }
}

/** Both endpoints, of one family, or undefined when neither is given. */
function pair(source: ProxyEndpoint | undefined, destination: ProxyEndpoint | undefined): Endpoints | undefined {
  if (source === undefined && destination === undefined) return undefined;
  if (source === undefined || destination === undefined) {
    throw bad('proxy header needs both source and destination, or neither');
  }
  const a = endpointFamily(source, 'source');
  const b = endpointFamily(destination, 'destination');
  if (a !== b) throw bad(`proxy header source is ${a} but destination is ${b}: both must be of one family`);
  if ('path' in source && 'path' in destination) return { family: 'unix', source, destination };
  if ('address' in source && 'address' in destination) {
    return { family: a === 'inet' ? 'inet' : 'inet6', source, destination };
  }
  throw bad('proxy header source and destination must both be IP endpoints or both unix paths');
}

function endpointFamily(ep: ProxyEndpoint, name: string): Endpoints['family'] {
  if ('path' in ep) {
    if (typeof ep.path !== 'string') throw bad(`proxy header ${name}.path must be a string`);
    // A NUL inside would cut the path short on the other side; a leading one marks a Linux abstract name.
    if (ep.path.includes('\0', 1)) throw bad(`proxy header ${name}.path has a NUL byte after its start`);
    const size = Buffer.byteLength(ep.path, 'utf8');
    if (size > PROXY_UNIX_PATH_LENGTH) {
      throw bad(`proxy header ${name}.path is ${size} bytes, at most ${PROXY_UNIX_PATH_LENGTH}`);
    }
    return 'unix';
  }
  if (!Number.isInteger(ep.port) || ep.port < 0 || ep.port > 0xffff) {
    throw bad(`proxy header ${name}.port must be an integer from 0 to 65535, got ${String(ep.port)}`);
  }
  if (typeof ep.address === 'string' && isIPv4(ep.address)) return 'inet';
  // A zone names an interface of the sender's host: meaningless to the receiver.
  if (typeof ep.address === 'string' && isIPv6(ep.address) && !ep.address.includes('%')) return 'inet6';
  throw bad(`proxy header ${name}.address must be an IPv4 or IPv6 address without zone, got ${JSON.stringify(ep.address)}`);
}

// --- v1 ----------------------------------------------------------------------

function encodeV1(init: ProxyHeaderInit, endpoints: Endpoints | undefined): Buffer {
  if (init.tlvs !== undefined || init.crc32c === true) throw bad('proxy header tlvs and crc32c need version 2');
  if (init.transport === 'dgram') throw bad("proxy header v1 only carries TCP: transport 'dgram' needs version 2");
  if (endpoints === undefined) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  if (endpoints.family === 'unix') throw bad('proxy header v1 cannot carry unix socket endpoints: use version 2');
  const { source: src, destination: dst } = endpoints;
  const v6 = endpoints.family === 'inet6';
  // Canonical IPv6 keeps the line within v1's 107 bytes and readable by strict receivers.
  const fmt = (a: string): string => (v6 ? new SocketAddress({ address: a, family: 'ipv6' }).address : a);
  const line = `PROXY ${v6 ? 'TCP6' : 'TCP4'} ${fmt(src.address)} ${fmt(dst.address)} ${src.port} ${dst.port}\r\n`;
  return Buffer.from(line, 'latin1');
}

// --- v2 ----------------------------------------------------------------------

const FAMILY_NIBBLE = { inet: 0x1, inet6: 0x2, unix: 0x3 } as const;
const TRANSPORT_NIBBLE = { stream: 0x1, dgram: 0x2 } as const;

function encodeV2(
  init: ProxyHeaderInit,
  command: 'proxy' | 'local',
  endpoints: Endpoints | undefined,
  transport: 'stream' | 'dgram',
): Buffer {
  const addresses = endpoints === undefined ? Buffer.alloc(0) : addressBlock(endpoints);
  const tlvs = tlvList(init.tlvs);
  if (init.crc32c === true) {
    if (tlvs.some((t) => t.type === PP2_TYPE.CRC32C)) throw bad('proxy header has crc32c: true and a raw CRC32C TLV');
    // Ascending type order: after ALPN and AUTHORITY, before the rest; zero until the header is complete.
    const i = tlvs.findIndex((t) => t.type > PP2_TYPE.CRC32C);
    tlvs.splice(i < 0 ? tlvs.length : i, 0, { type: PP2_TYPE.CRC32C, value: Buffer.alloc(4) });
  }
  const body = Buffer.concat([addresses, ...tlvs.map(tlvBytes)]);
  if (body.length > 0xffff) {
    throw bad(`proxy header v2 would be ${PROXY_V2_FIXED_LENGTH + body.length} bytes: addresses and TLVs must fit in 65535`);
  }
  const fixed = Buffer.alloc(PROXY_V2_FIXED_LENGTH);
  fixed.set(PROXY_V2_SIGNATURE);
  fixed[12] = command === 'local' ? 0x20 : 0x21;
  fixed[13] = endpoints === undefined ? 0x00 : (FAMILY_NIBBLE[endpoints.family] << 4) | TRANSPORT_NIBBLE[transport];
  fixed.writeUInt16BE(body.length, 14);
  const out = Buffer.concat([fixed, body]);
  if (init.crc32c === true) out.writeUInt32BE(crc32c(out), crcValueOffset(out, addresses.length));
  return out;
}

/** Where the CRC32C value sits in an encoded header: found by walking the TLVs we just wrote. */
function crcValueOffset(header: Buffer, addressLength: number): number {
  let pos = PROXY_V2_FIXED_LENGTH + addressLength;
  while (header[pos] !== PP2_TYPE.CRC32C) pos += 3 + header.readUInt16BE(pos + 1);
  return pos + 3;
}

function tlvBytes(t: ProxyTlvRaw): Buffer {
  const head = Buffer.alloc(3);
  head[0] = t.type;
  head.writeUInt16BE(t.value.length, 1);
  return Buffer.concat([head, t.value]);
}

function addressBlock(endpoints: Endpoints): Buffer {
  if (endpoints.family === 'unix') {
    const block = Buffer.alloc(2 * PROXY_UNIX_PATH_LENGTH);
    block.write(endpoints.source.path, 0, 'utf8');
    block.write(endpoints.destination.path, PROXY_UNIX_PATH_LENGTH, 'utf8');
    return block;
  }
  const { source: src, destination: dst } = endpoints;
  const bytes = endpoints.family === 'inet' ? ipv4Bytes : ipv6Bytes;
  const size = endpoints.family === 'inet' ? 4 : 16;
  const block = Buffer.alloc(2 * size + 4);
  block.set(bytes(src.address), 0);
  block.set(bytes(dst.address), size);
  block.writeUInt16BE(src.port, 2 * size);
  block.writeUInt16BE(dst.port, 2 * size + 2);
  return block;
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

/** `address` passed `isIPv6`, so only its shape needs undoing: `::` and a dotted tail. */
function ipv6Bytes(address: string): Buffer {
  const groups = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').flatMap((g) => {
      if (!g.includes('.')) return [Number.parseInt(g, 16)];
      const [a = 0, b = 0, c = 0, d = 0] = ipv4Bytes(g);
      return [(a << 8) | b, (c << 8) | d];
    });
  };
  const gap = address.indexOf('::');
  const head = groups(gap < 0 ? address : address.slice(0, gap));
  const tail = gap < 0 ? [] : groups(address.slice(gap + 2));
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, 2 * i));
  return out;
}

const SINGLE_TLVS: ReadonlySet<number> = new Set([
  PP2_TYPE.ALPN,
  PP2_TYPE.AUTHORITY,
  PP2_TYPE.CRC32C,
  PP2_TYPE.UNIQUE_ID,
  PP2_TYPE.SSL,
  PP2_TYPE.NETNS,
]);

function tlv(type: number, value: Buffer, name: string): ProxyTlvRaw {
  if (!Number.isInteger(type) || type < 0 || type > 0xff) {
    throw bad(`proxy header ${name} type must be a byte, got ${String(type)}`);
  }
  if (!Buffer.isBuffer(value)) throw bad(`proxy header ${name} value must be a Buffer`);
  if (value.length > 0xffff) throw bad(`proxy header ${name} is ${value.length} bytes, at most 65535`);
  return { type, value };
}

function ascii(s: string, name: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (!isAscii(b)) throw bad(`proxy header ${name} must be US-ASCII`);
  return b;
}

function tlvList(init: ProxyTlvsInit | undefined): ProxyTlvRaw[] {
  if (init === undefined) return [];
  const out: ProxyTlvRaw[] = [];
  if (init.alpn !== undefined) {
    out.push(tlv(PP2_TYPE.ALPN, typeof init.alpn === 'string' ? Buffer.from(init.alpn, 'utf8') : init.alpn, 'tlvs.alpn'));
  }
  if (init.authority !== undefined) {
    out.push(tlv(PP2_TYPE.AUTHORITY, Buffer.from(init.authority, 'utf8'), 'tlvs.authority'));
  }
  if (init.uniqueId !== undefined) {
    if (init.uniqueId.length > PROXY_UNIQUE_ID_MAX_LENGTH) {
      throw bad(`proxy header tlvs.uniqueId is ${init.uniqueId.length} bytes, at most ${PROXY_UNIQUE_ID_MAX_LENGTH}`);
    }
    out.push(tlv(PP2_TYPE.UNIQUE_ID, init.uniqueId, 'tlvs.uniqueId'));
  }
  if (init.ssl !== undefined) out.push(tlv(PP2_TYPE.SSL, sslValue(init.ssl), 'tlvs.ssl'));
  if (init.netns !== undefined) out.push(tlv(PP2_TYPE.NETNS, ascii(init.netns, 'tlvs.netns'), 'tlvs.netns'));
  for (const [i, raw] of (init.raw ?? []).entries()) out.push(tlv(raw.type, raw.value, `tlvs.raw[${i}]`));
  // Receivers refuse a repeated known TLV, so refuse to send one.
  const known = out.map((t) => t.type).filter((t) => SINGLE_TLVS.has(t));
  if (new Set(known).size !== known.length) throw bad('proxy header tlvs.raw repeats a TLV type that is already set');
  return out;
}

function sslValue(init: ProxySslInit): Buffer {
  let client = init.client ?? PP2_CLIENT.SSL;
  if (!Number.isInteger(client) || client < 0 || client > 0xff) throw bad('proxy header tlvs.ssl.client must be a byte');
  const flag = (bit: number, on: boolean | undefined): void => {
    if (on !== undefined) client = on ? client | bit : client & ~bit;
  };
  flag(PP2_CLIENT.SSL, init.ssl);
  flag(PP2_CLIENT.CERT_CONN, init.certConn);
  flag(PP2_CLIENT.CERT_SESS, init.certSess);
  const verify = init.verify ?? 1;
  if (!Number.isInteger(verify) || verify < 0 || verify > 0xffffffff) {
    throw bad('proxy header tlvs.ssl.verify must be an unsigned 32-bit integer');
  }
  const fixed = Buffer.alloc(5);
  fixed[0] = client;
  fixed.writeUInt32BE(verify, 1);
  const subs: ProxyTlvRaw[] = [];
  const add = (type: number, s: string | undefined, name: string, utf8 = false): void => {
    if (s !== undefined) subs.push(tlv(type, utf8 ? Buffer.from(s, 'utf8') : ascii(s, name), name));
  };
  add(PP2_SUBTYPE_SSL.VERSION, init.version, 'tlvs.ssl.version');
  add(PP2_SUBTYPE_SSL.CN, init.cn, 'tlvs.ssl.cn', true);
  add(PP2_SUBTYPE_SSL.CIPHER, init.cipher, 'tlvs.ssl.cipher');
  add(PP2_SUBTYPE_SSL.SIG_ALG, init.sigAlg, 'tlvs.ssl.sigAlg');
  add(PP2_SUBTYPE_SSL.KEY_ALG, init.keyAlg, 'tlvs.ssl.keyAlg');
  for (const [i, raw] of (init.raw ?? []).entries()) subs.push(tlv(raw.type, raw.value, `tlvs.ssl.raw[${i}]`));
  return Buffer.concat([fixed, ...subs.map(tlvBytes)]);
}
