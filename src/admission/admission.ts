/**
 * Admission control for one listener: who may connect, how many at once, and
 * how often. Pure bookkeeping with an injectable clock; the listener calls
 * {@link Admission.admit} for each accepted socket and
 * {@link Admission.release} once when an admitted connection ends.
 */

import { IrcArgumentError } from '../errors.js';
import { CidrList, groupKey, parseAddress } from './cidr.js';

export interface ThrottleOptions {
  /** Accept attempts allowed per grouping key in one window. */
  connections: number;
  /** The window's length in milliseconds. */
  windowMs: number;
}

export interface AdmissionOptions {
  /** When non-empty, only peers in these blocks may connect. */
  allow?: readonly string[];
  /** Peers in these blocks are always refused, even when also allowed. */
  deny?: readonly string[];
  /**
   * Peers exempt from `maxPerIp` and the throttle (still subject to `deny`,
   * `allow` and `maxTotal`). Replaces the default, so `[]` exempts nobody.
   */
  exempt?: readonly string[];
  /** Concurrent connections per grouping key; `Infinity` for no limit. */
  maxPerIp?: number;
  /** Concurrent connections in total; `Infinity` for no limit. */
  maxTotal?: number;
  /** Accept attempts per grouping key per window, or `false` for none. */
  throttle?: ThrottleOptions | false;
  /** IPv4 grouping prefix length (0–32). */
  ipv4Prefix?: number;
  /** IPv6 grouping prefix length (0–128). */
  ipv6Prefix?: number;
  /** Bound on the throttle's memory: keys tracked at once. */
  maxThrottleEntries?: number;
}

/** Every way {@link Admission.admit} can refuse; stable, listed in `docs/errors.md`. */
export type AdmissionCode =
  | 'ERR_INVALID_ADDRESS'
  | 'ERR_DENIED'
  | 'ERR_NOT_ALLOWED'
  | 'ERR_THROTTLED'
  | 'ERR_TOO_MANY_PER_IP'
  | 'ERR_TOO_MANY_TOTAL';

export interface AdmissionAccepted {
  readonly ok: true;
  /** The grouping key; hand it to {@link Admission.release} when the connection ends. */
  readonly key: string;
}

export interface AdmissionRefused {
  readonly ok: false;
  readonly code: AdmissionCode;
  /** Short text for `ERROR :Closing link: host (reason)`. */
  readonly reason: string;
  /** The grouping key, when the address was an IP address. */
  readonly key: string | undefined;
  /** For `ERR_THROTTLED`: milliseconds until this key's window ends. */
  readonly retryAfterMs?: number;
}

export type AdmissionResult = AdmissionAccepted | AdmissionRefused;

/**
 * Defaults for a public server. They follow Ergo (`ip-limits` in its
 * default.yaml), the one modern ircd that ships per-IP limits switched on:
 *
 * - `maxPerIp: 16` — Ergo's `max-concurrent-connections`. InspIRCd's and
 *   UnrealIRCd's sample configs say 3, but a library cannot know whether a
 *   key is one person or a university NAT or CGNAT; 16 still caps one host's
 *   share of memory at 16 × (ReadQ + SendQ).
 * - `throttle: 32 per 10 min` — Ergo's `max-connections-per-window` and
 *   `window`. Twice `maxPerIp`, so every connection a key may hold can
 *   reconnect at once after a network blip; a reconnect loop or a connect
 *   storm from one key is cut off after 32 attempts. (UnrealIRCd's
 *   `connect-flood 3:60` is far stricter and meant for single users.)
 * - `maxTotal: 10_000` — a storm from many addresses is refused here, with
 *   a reason, instead of by `EMFILE` in `accept()` for everyone. Node raises
 *   its soft file descriptor limit to the hard one at startup, usually far
 *   above this; where the hard limit is lower, set `maxTotal` below it.
 * - `ipv4Prefix: 32`, `ipv6Prefix: 64` — one IPv4 address, one IPv6 subnet
 *   (Ergo's `cidr-len-ipv4`/`cidr-len-ipv6`).
 * - `exempt: loopback` — Ergo exempts `localhost`: a local bouncer, a
 *   WebSocket or TLS proxy on the same host, or a test harness would
 *   otherwise share one key for every user behind it.
 * - `maxThrottleEntries: 65_536` — about 14 MB at most (~220 bytes each).
 *   When an attacker with many /64s fills it, the oldest window is forgotten
 *   first (it is the closest to expiry anyway): memory stays bounded, and the
 *   cost is a throttle that forgets early, not a refusal of honest newcomers.
 */
export const ADMISSION_DEFAULTS = Object.freeze({
  allow: Object.freeze([] as string[]),
  deny: Object.freeze([] as string[]),
  exempt: Object.freeze(['127.0.0.0/8', '::1']),
  maxPerIp: 16,
  maxTotal: 10_000,
  throttle: Object.freeze({ connections: 32, windowMs: 10 * 60_000 }),
  ipv4Prefix: 32,
  ipv6Prefix: 64,
  maxThrottleEntries: 65_536,
});

export interface ResolvedAdmissionOptions {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly exempt: readonly string[];
  readonly maxPerIp: number;
  readonly maxTotal: number;
  readonly throttle: Readonly<ThrottleOptions> | false;
  readonly ipv4Prefix: number;
  readonly ipv6Prefix: number;
  readonly maxThrottleEntries: number;
}

const REASONS: Record<AdmissionCode, string> = {
  ERR_INVALID_ADDRESS: 'Unknown address',
  ERR_DENIED: 'Banned',
  ERR_NOT_ALLOWED: 'Not allowed to connect from this address',
  ERR_THROTTLED: 'Throttled: reconnecting too fast',
  ERR_TOO_MANY_PER_IP: 'Too many connections from your host',
  ERR_TOO_MANY_TOTAL: 'Server full',
};

const KNOWN_OPTIONS = new Set(Object.keys(ADMISSION_DEFAULTS));

/** Expired throttle entries removed per `admit()`: keeps each call O(1) while outpacing insertions. */
const SWEEP_STEP = 4;

interface ThrottleWindow {
  readonly key: string;
  readonly start: number;
  count: number;
  /** The next window to start, in the oldest-first queue. */
  next: ThrottleWindow | undefined;
}

function show(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'bigint') return `${value.toString()}n`;
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return typeof value;
  return JSON.stringify(value);
}

function invalid(message: string): never {
  throw new IrcArgumentError('ERR_INVALID_OPTION', `admission option ${message}`);
}

function checkLimit(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (value === Infinity || (typeof value === 'number' && Number.isSafeInteger(value) && value >= 1)) return value;
  return invalid(`${name} must be a positive integer or Infinity, got ${show(value)}`);
}

function checkPrefix(name: string, value: unknown, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= max) return value;
  return invalid(`${name} must be an integer from 0 to ${max}, got ${show(value)}`);
}

function checkThrottle(value: unknown): Readonly<ThrottleOptions> | false {
  if (value === undefined) return ADMISSION_DEFAULTS.throttle;
  if (value === false) return false;
  if (typeof value !== 'object' || value === null) {
    return invalid('throttle must be { connections, windowMs } or false');
  }
  const { connections, windowMs, ...rest } = value as Partial<ThrottleOptions>;
  const extra = Object.keys(rest)[0];
  if (extra !== undefined) {
    throw new IrcArgumentError('ERR_UNKNOWN_OPTION', `admission option throttle.${extra} is unknown; use connections and windowMs`);
  }
  if (typeof connections !== 'number' || !Number.isSafeInteger(connections) || connections < 1) {
    return invalid(`throttle.connections must be a positive integer, got ${String(connections)}`);
  }
  if (typeof windowMs !== 'number' || !Number.isFinite(windowMs) || windowMs <= 0) {
    return invalid(`throttle.windowMs must be a positive number of milliseconds, got ${String(windowMs)}`);
  }
  return Object.freeze({ connections, windowMs });
}

function checkList(name: string, value: unknown, fallback: readonly string[]): readonly string[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value)) return invalid(`${name} must be an array of addresses or CIDR blocks`);
  return Object.freeze([...(value as unknown[])]) as readonly string[];
}

// IP grouping keys always hold a '/' or ':' or '.': this one never clashes with them.
const UNIX_KEY = 'unix';

/**
 * Decides whether a peer may connect, and counts it while it stays.
 *
 * `admit()` checks, in this order, and stops at the first refusal:
 * 1. the address is an IP address (`ERR_INVALID_ADDRESS` otherwise: call
 *    `admit()` only for TCP/TLS/WebSocket peers, not Unix sockets);
 * 2. `deny` — a denied peer is refused even when `allow` lists it too, so a
 *    ban inside an allowed range works (`ERR_DENIED`);
 * 3. `allow` — when non-empty, a peer outside it is refused
 *    (`ERR_NOT_ALLOWED`); an empty list allows everyone;
 * 4. the throttle (non-exempt peers) — every attempt that got this far
 *    counts, refused or not, so a peer hammering at its limit stays
 *    throttled; the window is fixed, starting at the key's first attempt
 *    (as in Ergo), so at most `connections` attempts per key per window
 *    succeed (`ERR_THROTTLED`, with `retryAfterMs`);
 * 5. `maxPerIp` (non-exempt peers) on the connections the key holds now
 *    (`ERR_TOO_MANY_PER_IP`);
 * 6. `maxTotal` (`ERR_TOO_MANY_TOTAL`).
 * Denied and disallowed peers leave no trace in memory, so a banned range
 * hammering the port costs nothing to track.
 *
 * An admitted peer is counted under its grouping key (IPv4 /32, IPv6 /64 by
 * default, IPv4-mapped IPv6 as IPv4) until `release(key)`, which the owner
 * must call exactly once per admitted connection. Per-key counters are
 * deleted at zero and throttle windows are dropped once expired — a few on
 * every `admit()`, all on `prune()` — and capped at `maxThrottleEntries`, so
 * memory returns to its baseline after any amount of churn. Every call is
 * O(1) (amortized: each window is queued once and dropped once) apart from
 * `prune()`, which is linear in the expired windows only.
 */
export class Admission {
  /** The effective options, defaults filled in. */
  readonly options: ResolvedAdmissionOptions;

  readonly #now: () => number;
  readonly #allow: CidrList;
  readonly #deny: CidrList;
  readonly #exempt: CidrList;
  readonly #grouping: { ipv4Prefix: number; ipv6Prefix: number };
  readonly #perKey = new Map<string, number>();
  readonly #windows = new Map<string, ThrottleWindow>();
  // Every window opened, oldest first, linked through `next`, so the expired
  // ones are always at the head. Not the Map's own insertion order: V8 keeps
  // a hole per deleted Map entry until it rehashes, and an iterator restarted
  // at the front walks them all (measured: about 8x slower per admit with
  // 65,536 windows). A window whose key has since opened a newer one is
  // stale, and is dropped from the queue when it reaches the head.
  #oldest: ThrottleWindow | undefined;
  #newest: ThrottleWindow | undefined;
  #total = 0;

  /**
   * @param options validated at once: a bad entry or value throws
   *   `IrcArgumentError` (`ERR_INVALID_OPTION`, `ERR_UNKNOWN_OPTION`) naming it.
   * @param now a monotonic clock in milliseconds; tests pass a mock.
   */
  constructor(options: AdmissionOptions = {}, now: () => number = () => performance.now()) {
    if (typeof options !== 'object' || (options as unknown) === null || Array.isArray(options)) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', 'admission options must be an object');
    }
    for (const key of Object.keys(options)) {
      if (!KNOWN_OPTIONS.has(key)) {
        throw new IrcArgumentError(
          'ERR_UNKNOWN_OPTION',
          `admission option ${key} is unknown; the options are ${[...KNOWN_OPTIONS].join(', ')}`,
        );
      }
    }
    const allow = checkList('allow', options.allow, ADMISSION_DEFAULTS.allow);
    const deny = checkList('deny', options.deny, ADMISSION_DEFAULTS.deny);
    const exempt = checkList('exempt', options.exempt, ADMISSION_DEFAULTS.exempt);
    this.options = Object.freeze({
      allow,
      deny,
      exempt,
      maxPerIp: checkLimit('maxPerIp', options.maxPerIp, ADMISSION_DEFAULTS.maxPerIp),
      maxTotal: checkLimit('maxTotal', options.maxTotal, ADMISSION_DEFAULTS.maxTotal),
      throttle: checkThrottle(options.throttle),
      ipv4Prefix: checkPrefix('ipv4Prefix', options.ipv4Prefix, 32, ADMISSION_DEFAULTS.ipv4Prefix),
      ipv6Prefix: checkPrefix('ipv6Prefix', options.ipv6Prefix, 128, ADMISSION_DEFAULTS.ipv6Prefix),
      maxThrottleEntries: checkLimit(
        'maxThrottleEntries',
        options.maxThrottleEntries,
        ADMISSION_DEFAULTS.maxThrottleEntries,
      ),
    });
    this.#allow = new CidrList(allow, 'admission option allow');
    this.#deny = new CidrList(deny, 'admission option deny');
    this.#exempt = new CidrList(exempt, 'admission option exempt');
    this.#grouping = { ipv4Prefix: this.options.ipv4Prefix, ipv6Prefix: this.options.ipv6Prefix };
    if (typeof now !== 'function') invalid('clock must be a function returning milliseconds');
    this.#now = now;
  }

  /** The grouping key of a peer address, or `undefined` when it is not an IP address. */
  keyOf(addr: string): string | undefined {
    const ip = parseAddress(addr);
    return ip === undefined ? undefined : groupKey(ip, this.#grouping);
  }

  /** Decides on one accepted socket's peer address and, when admitted, counts it. */
  admit(addr: string): AdmissionResult {
    const ip = typeof addr === 'string' ? parseAddress(addr) : undefined;
    if (ip === undefined) return refuse('ERR_INVALID_ADDRESS', undefined);
    const key = groupKey(ip, this.#grouping);
    if (this.#deny.size > 0 && this.#deny.has(ip)) return refuse('ERR_DENIED', key);
    if (this.#allow.size > 0 && !this.#allow.has(ip)) return refuse('ERR_NOT_ALLOWED', key);
    const exempt = this.#exempt.size > 0 && this.#exempt.has(ip);
    const held = this.#perKey.get(key) ?? 0;
    if (!exempt) {
      const { throttle, maxPerIp } = this.options;
      if (throttle !== false) {
        const retryAfterMs = this.#countAttempt(key, throttle);
        if (retryAfterMs > 0) return refuse('ERR_THROTTLED', key, retryAfterMs);
      }
      if (held >= maxPerIp) return refuse('ERR_TOO_MANY_PER_IP', key);
    }
    if (this.#total >= this.options.maxTotal) return refuse('ERR_TOO_MANY_TOTAL', key);
    this.#perKey.set(key, held + 1);
    this.#total++;
    // The connection keeps its key for life: an IPv4 /32 key is its address, one string for both.
    return { ok: true, key: key === addr ? addr : key };
  }

  /**
   * Decides on a peer with no IP address (a Unix-socket peer): only
   * `maxTotal` applies — the lists, the throttle and `maxPerIp` key on IP
   * addresses, and a local peer could open a socket of its own anyway. Counted
   * under the key `unix` until `release`.
   */
  admitLocal(): AdmissionResult {
    if (this.#total >= this.options.maxTotal) return refuse('ERR_TOO_MANY_TOTAL', UNIX_KEY);
    this.#perKey.set(UNIX_KEY, (this.#perKey.get(UNIX_KEY) ?? 0) + 1);
    this.#total++;
    return { ok: true, key: UNIX_KEY };
  }

  /**
   * Uncounts one connection admitted under `key`. Returns false (and changes
   * nothing) for a key that holds no connections, so a stray second release
   * cannot drive the counters negative.
   */
  release(key: string): boolean {
    const held = this.#perKey.get(key);
    if (held === undefined) return false;
    if (held <= 1) this.#perKey.delete(key);
    else this.#perKey.set(key, held - 1);
    this.#total--;
    return true;
  }

  /**
   * Drops every expired throttle window. `admit()` already drops a few per
   * call; an owner that wants memory back while no one connects may call
   * this from an unref'd timer. Returns how many were dropped.
   */
  prune(): number {
    return this.#sweep(this.#now(), Infinity);
  }

  /** Connections admitted and not yet released. */
  get activeCount(): number {
    return this.#total;
  }

  /** Grouping keys holding at least one connection. */
  get keyCount(): number {
    return this.#perKey.size;
  }

  /** Throttle windows held in memory (expired ones included until swept). */
  get throttleEntries(): number {
    return this.#windows.size;
  }

  /** Connections `key` holds now. */
  connectionsOf(key: string): number {
    return this.#perKey.get(key) ?? 0;
  }

  /** Counts one attempt; returns 0 when within the limit, else ms until the window ends. */
  #countAttempt(key: string, throttle: Readonly<ThrottleOptions>): number {
    const now = this.#now();
    this.#sweep(now, SWEEP_STEP);
    let win = this.#windows.get(key);
    if (win !== undefined && now - win.start >= throttle.windowMs) win = undefined;
    if (win === undefined) {
      if (!this.#windows.has(key)) {
        // Forget the oldest window to make room; it is the closest to expiry.
        while (this.#windows.size >= this.options.maxThrottleEntries && this.#oldest !== undefined) this.#shift();
      }
      win = { key, start: now, count: 0, next: undefined };
      this.#windows.set(key, win);
      if (this.#newest === undefined) this.#oldest = win;
      else this.#newest.next = win;
      this.#newest = win;
    }
    // Saturate: the count only has to stay above the limit, not grow forever.
    if (win.count <= throttle.connections) win.count++;
    if (win.count <= throttle.connections) return 0;
    return Math.max(1, Math.ceil(win.start + throttle.windowMs - now));
  }

  /** Drops the oldest queued window (from the Map too unless a newer one replaced it). */
  #shift(): void {
    const head = this.#oldest;
    if (head === undefined) return;
    if (this.#windows.get(head.key) === head) this.#windows.delete(head.key);
    this.#oldest = head.next;
    if (this.#oldest === undefined) this.#newest = undefined;
    head.next = undefined;
  }

  /** Drops up to `budget` expired windows from the head; returns how many were in the Map. */
  #sweep(now: number, budget: number): number {
    const { throttle } = this.options;
    if (throttle === false) return 0;
    let dropped = 0;
    for (let n = 0; n < budget; n++) {
      const head = this.#oldest;
      if (head === undefined || now - head.start < throttle.windowMs) break;
      if (this.#windows.get(head.key) === head) dropped++;
      this.#shift();
    }
    return dropped;
  }
}

function refuse(code: AdmissionCode, key: string | undefined, retryAfterMs?: number): AdmissionRefused {
  return retryAfterMs === undefined
    ? { ok: false, code, reason: REASONS[code], key }
    : { ok: false, code, reason: REASONS[code], key, retryAfterMs };
}
