/**
 * A per-address budget of failed or abandoned TLS handshakes. A TLS client
 * costs the server a key exchange and a signature before admission can count
 * a connection, so a peer that keeps failing handshakes (garbage, a scanner,
 * a flood that hangs up mid-handshake) is refused before the next one, for
 * the rest of its window. Pure bookkeeping with an injectable clock, keyed
 * like admission (IPv4 by address, IPv6 by /64).
 */
import { IrcArgumentError } from '../errors.js';
import { CidrList, groupKey, parseAddress } from './cidr.js';

export interface HandshakeBudgetOptions {
  /** Failed handshakes allowed per key in one window; the next attempt after that is refused. */
  failures?: number;
  /** The window's length in milliseconds, from the key's first failure. */
  windowMs?: number;
  /** Peers never refused (default: loopback, like admission's `exempt`). `[]` exempts nobody. */
  exempt?: readonly string[];
  /** Bound on memory: keys tracked at once (the oldest is forgotten first). */
  maxEntries?: number;
  ipv4Prefix?: number;
  ipv6Prefix?: number;
}

/**
 * 10 failures per key in 10 minutes: an honest client with a wrong trust
 * store or clock fails once per reconnect, and reconnects with backoff; ten
 * in ten minutes is past that. A flood costs at most ten handshakes per /64
 * per ten minutes, then nothing but an accept and a close.
 */
export const HANDSHAKE_BUDGET_DEFAULTS = Object.freeze({
  failures: 10,
  windowMs: 10 * 60_000,
  exempt: Object.freeze(['127.0.0.0/8', '::1']),
  maxEntries: 65_536,
  ipv4Prefix: 32,
  ipv6Prefix: 64,
});

const KEYS = new Set(Object.keys(HANDSHAKE_BUDGET_DEFAULTS));

interface Window {
  start: number;
  count: number;
}

export class HandshakeBudget {
  readonly options: Readonly<Required<HandshakeBudgetOptions>>;
  readonly #exempt: CidrList;
  readonly #now: () => number;
  // Insertion order is window start order: the oldest is first, so expiry and the cap walk from the front.
  readonly #windows = new Map<string, Window>();

  constructor(options: HandshakeBudgetOptions = {}, now: () => number = () => performance.now()) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', 'handshakeBudget must be { failures, windowMs, exempt } or false');
    }
    for (const k of Object.keys(options)) {
      if (!KEYS.has(k)) throw new IrcArgumentError('ERR_UNKNOWN_OPTION', `handshakeBudget.${k} is unknown; the options are ${[...KEYS].join(', ')}`);
    }
    const int = (name: keyof HandshakeBudgetOptions, v: unknown, min: number, max: number, fallback: number): number => {
      if (v === undefined) return fallback;
      if (typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max) return v;
      throw new IrcArgumentError('ERR_INVALID_OPTION', `handshakeBudget.${name} must be an integer from ${min} to ${max}, got ${typeof v === 'number' ? String(v) : typeof v}`);
    };
    const d = HANDSHAKE_BUDGET_DEFAULTS;
    const exempt = options.exempt ?? d.exempt;
    this.options = Object.freeze({
      failures: int('failures', options.failures, 1, Number.MAX_SAFE_INTEGER, d.failures),
      windowMs: int('windowMs', options.windowMs, 1, Number.MAX_SAFE_INTEGER, d.windowMs),
      exempt,
      maxEntries: int('maxEntries', options.maxEntries, 1, Number.MAX_SAFE_INTEGER, d.maxEntries),
      ipv4Prefix: int('ipv4Prefix', options.ipv4Prefix, 0, 32, d.ipv4Prefix),
      ipv6Prefix: int('ipv6Prefix', options.ipv6Prefix, 0, 128, d.ipv6Prefix),
    });
    this.#exempt = new CidrList(exempt, 'handshakeBudget.exempt');
    this.#now = now;
  }

  #key(addr: string): string | undefined {
    const ip = parseAddress(addr);
    if (ip === undefined || (this.#exempt.size > 0 && this.#exempt.has(ip))) return undefined;
    return groupKey(ip, this.options);
  }

  /** Whether a new handshake from `addr` may start: false once its failures used the window's budget. */
  allows(addr: string): boolean {
    const key = this.#key(addr);
    if (key === undefined) return true;
    const w = this.#windows.get(key);
    if (w === undefined) return true;
    if (this.#now() - w.start >= this.options.windowMs) {
      this.#windows.delete(key);
      return true;
    }
    return w.count < this.options.failures;
  }

  /** Counts a failed or abandoned handshake from `addr`. */
  failed(addr: string): void {
    const key = this.#key(addr);
    if (key === undefined) return;
    const now = this.#now();
    this.#sweep(now);
    const w = this.#windows.get(key);
    if (w !== undefined && now - w.start < this.options.windowMs) {
      w.count++;
      return;
    }
    this.#windows.delete(key);
    if (this.#windows.size >= this.options.maxEntries) {
      const oldest = this.#windows.keys().next().value;
      if (oldest !== undefined) this.#windows.delete(oldest);
    }
    this.#windows.set(key, { start: now, count: 1 });
  }

  /** Keys with a live window (for tests and metrics). */
  get size(): number {
    return this.#windows.size;
  }

  #sweep(now: number): void {
    // A few expired windows per failure: O(1) per call, and memory goes back down after a storm.
    let n = 0;
    for (const [key, w] of this.#windows) {
      if (n++ >= 4 || now - w.start < this.options.windowMs) break;
      this.#windows.delete(key);
    }
  }
}
