/**
 * IP addresses and CIDR blocks for admission control: parsing, matching and
 * the grouping key that per-IP limits count by.
 *
 * Why not `net.BlockList`: it matches (and, on Node 20, even maps
 * `::ffff:a.b.c.d` onto IPv4 rules), but it cannot give the canonical form of
 * an address, mask it to a /64 for grouping, or tell a typo like
 * `10.0.0.1/8` from a real network, and every check walks every rule. Here an
 * address is one `bigint`, a block is a masked `bigint`, and a list is a hash
 * set per prefix length, so a check costs at most one set lookup per distinct
 * prefix length in the list (≤ 33 for IPv4, ≤ 129 for IPv6) however long the
 * list is.
 *
 * IPv4-mapped IPv6 (`::ffff:0:0/96`) is IPv4 everywhere in this module: a
 * dual-stack listener reports IPv4 peers as `::ffff:a.b.c.d`, and a rule or a
 * limit written for `a.b.c.d` must apply to them.
 */

import { isIP } from 'node:net';
import { IrcArgumentError } from '../errors.js';

export type IpFamily = 4 | 6;

/** An address reduced to its family and its numeric value (32 or 128 bits). */
export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
}

/** A network: `value` has every bit past `prefix` cleared. */
export interface CidrBlock extends IpAddress {
  readonly prefix: number;
}

export interface GroupingOptions {
  /** Prefix length IPv4 peers are grouped by; 32 (one address) by default. */
  ipv4Prefix?: number;
  /** Prefix length IPv6 peers are grouped by; 64 by default (one subnet, usually one site). */
  ipv6Prefix?: number;
}

const BITS = { 4: 32, 6: 128 } as const;
const MAPPED_PREFIX = 0xffffn; // ::ffff:0:0/96, the upper 96 bits of a mapped address
const V4_MASK = 0xffffffffn;

function hostMask(family: IpFamily, prefix: number): bigint {
  return (1n << BigInt(BITS[family] - prefix)) - 1n;
}

function maskTo(value: bigint, family: IpFamily, prefix: number): bigint {
  return value & ~hostMask(family, prefix);
}

function parseV4(text: string): bigint {
  let value = 0n;
  for (const octet of text.split('.')) value = (value << 8n) | BigInt(Number(octet));
  return value;
}

/** `text` has passed `isIP(text) === 6`, so the grammar is already known to be right. */
function parseV6(text: string): bigint {
  const halves = text.split('::');
  const toHextets = (part: string | undefined): number[] => {
    if (part === undefined || part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (group.includes('.')) {
        const v4 = Number(parseV4(group));
        out.push(v4 >>> 16, v4 & 0xffff);
      } else {
        out.push(Number.parseInt(group, 16));
      }
    }
    return out;
  };
  const head = toHextets(halves[0]);
  const tail = toHextets(halves[1]);
  const gap = halves.length === 2 ? new Array<number>(8 - head.length - tail.length).fill(0) : [];
  const hextets = [...head, ...gap, ...tail];
  let value = 0n;
  for (const h of hextets) value = (value << 16n) | BigInt(h);
  return value;
}

function parseRaw(text: string): IpAddress | undefined {
  const family = isIP(text);
  if (family === 4) return { family: 4, value: parseV4(text) };
  if (family === 6) return { family: 6, value: parseV6(text) };
  return undefined;
}

function unmap(ip: IpAddress): IpAddress {
  if (ip.family === 6 && ip.value >> 32n === MAPPED_PREFIX) return { family: 4, value: ip.value & V4_MASK };
  return ip;
}

/**
 * Parses a peer address as a socket reports it. IPv4-mapped IPv6 becomes
 * IPv4, and an IPv6 zone (`fe80::1%eth0`) is dropped: the zone names the
 * local interface, not the peer. Returns `undefined` for anything that is
 * not an IP address (a Unix socket path, an empty or missing address).
 */
export function parseAddress(text: string): IpAddress | undefined {
  const zone = text.indexOf('%');
  const bare = zone >= 0 && text.includes(':') ? text.slice(0, zone) : text;
  const ip = parseRaw(bare);
  return ip === undefined ? undefined : unmap(ip);
}

/** The canonical text of an address: dotted quad, or RFC 5952 for IPv6 (lower case, longest zero run as `::`). */
export function formatAddress(ip: IpAddress): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
  }
  const hextets: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) hextets.push(Number((ip.value >> shift) & 0xffffn));
  // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (hextets[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && hextets[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (hs: number[]): string => hs.map((h) => h.toString(16)).join(':');
  if (bestStart < 0) return hex(hextets);
  return `${hex(hextets.slice(0, bestStart))}::${hex(hextets.slice(bestStart + bestLen))}`;
}

/** The canonical text of a peer address, or `undefined` when it is not an IP address. */
export function normalizeAddress(text: string): string | undefined {
  const ip = parseAddress(text);
  return ip === undefined ? undefined : formatAddress(ip);
}

/** `192.0.2.0/24`, `2001:db8::/32`. */
export function formatCidr(block: CidrBlock): string {
  return `${formatAddress(block)}/${block.prefix}`;
}

const PREFIX_RE = /^(?:0|[1-9][0-9]{0,2})$/;

/**
 * Parses `addr/prefix` or a single address (a full-length block).
 *
 * A block written in IPv4-mapped form with a prefix of 96 or more
 * (`::ffff:10.0.0.0/104`) is the IPv4 block it maps (`10.0.0.0/8`). Any other
 * IPv6 block never matches an IPv4 peer, mapped or not, so `::/0` means
 * "every IPv6 peer", not "everyone".
 *
 * Throws {@link IrcArgumentError} (`ERR_INVALID_OPTION`) naming `label` for a
 * malformed entry, a zone index, a prefix out of range, and host bits set
 * past the prefix: `10.0.0.1/8` is far more often a typo for `/32` than a way
 * to write `10.0.0.0/8`, and silently widening an allow list is the wrong
 * way to guess.
 */
export function parseCidr(entry: string, label = 'CIDR'): CidrBlock {
  const fail = (why: string): never => {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${label}: ${JSON.stringify(entry)} ${why}`);
  };
  // `typeof` guards callers that reach this from untyped configuration.
  if (typeof entry !== 'string') return fail('is not a string; write an address or a CIDR block like "192.0.2.0/24"');
  const text = entry.trim();
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  if (addrText.includes('%')) return fail('has a zone index; zones are local interface names and cannot be matched');
  const raw = parseRaw(addrText);
  if (raw === undefined) return fail('is not an IPv4 or IPv6 address or CIDR block (e.g. "192.0.2.0/24", "2001:db8::/32")');
  const max = BITS[raw.family];
  let prefix: number = max;
  if (prefixText !== undefined) {
    if (!PREFIX_RE.test(prefixText) || Number(prefixText) > max) {
      return fail(`has an invalid prefix length; use 0 to ${max} for IPv${raw.family}`);
    }
    prefix = Number(prefixText);
  }
  let ip: IpAddress = raw;
  if (raw.family === 6 && raw.value >> 32n === MAPPED_PREFIX && prefix >= 96) {
    ip = unmap(raw);
    prefix -= 96;
  }
  const network = maskTo(ip.value, ip.family, prefix);
  if (network !== ip.value) {
    const net = formatCidr({ family: ip.family, value: network, prefix });
    const host = `${formatAddress(ip)}/${BITS[ip.family]}`;
    return fail(`has bits set past its prefix; write "${net}" for the network or "${host}" for the one address`);
  }
  return { family: ip.family, value: network, prefix };
}

/** Whether `ip` lies in `block`. */
export function cidrContains(block: CidrBlock, ip: IpAddress): boolean {
  return block.family === ip.family && maskTo(ip.value, ip.family, block.prefix) === block.value;
}

/**
 * A set of CIDR blocks. `has()` costs one hash lookup per distinct prefix
 * length present, independent of the number of blocks.
 */
export class CidrList {
  readonly #byFamily: Record<IpFamily, Map<number, Set<bigint>>> = { 4: new Map(), 6: new Map() };
  readonly #blocks: CidrBlock[] = [];

  /** Throws {@link IrcArgumentError} naming `label[i]` for the first bad entry. */
  constructor(entries: readonly string[] = [], label = 'CIDR list') {
    if (!Array.isArray(entries)) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${label} must be an array of addresses or CIDR blocks`);
    }
    for (const [i, entry] of (entries as readonly string[]).entries()) this.add(parseCidr(entry, `${label}[${i}]`));
  }

  /** Adds a block as {@link parseCidr} returns it (host bits clear). */
  add(block: CidrBlock): void {
    const maps = this.#byFamily[block.family];
    let set = maps.get(block.prefix);
    if (set === undefined) {
      set = new Set();
      maps.set(block.prefix, set);
    }
    if (!set.has(block.value)) {
      set.add(block.value);
      this.#blocks.push(block);
    }
  }

  /** Whether an address (parsed, or text as a socket reports it) lies in any block. */
  has(addr: IpAddress | string): boolean {
    const ip = typeof addr === 'string' ? parseAddress(addr) : addr;
    if (ip === undefined) return false;
    for (const [prefix, set] of this.#byFamily[ip.family]) {
      if (set.has(maskTo(ip.value, ip.family, prefix))) return true;
    }
    return false;
  }

  /** Number of distinct blocks. */
  get size(): number {
    return this.#blocks.length;
  }

  /** The blocks in canonical text, in the order first given. */
  toJSON(): string[] {
    return this.#blocks.map(formatCidr);
  }
}

/**
 * The key per-IP limits count by: the peer's network at the grouping prefix,
 * written as the bare address when the prefix is full length
 * (`203.0.113.7`) and as a CIDR block otherwise (`2001:db8:1:2::/64`).
 * IPv6 is grouped by /64 by default because one /64 is what one customer or
 * one LAN is handed, and any host in it can take as many addresses as it
 * likes: counting single IPv6 addresses would not limit anyone.
 * The prefixes are trusted here (0–32, 0–128); the Admission constructor validates them.
 */
export function groupKey(ip: IpAddress, options: GroupingOptions = {}): string {
  const prefix = ip.family === 4 ? (options.ipv4Prefix ?? 32) : (options.ipv6Prefix ?? 64);
  if (prefix === BITS[ip.family]) return formatAddress(ip);
  return formatCidr({ family: ip.family, value: maskTo(ip.value, ip.family, prefix), prefix });
}
