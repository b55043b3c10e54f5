/**
 * A token bucket for per-connection flood control, kept as one number: the
 * time at which the bucket would be full again (the "theoretical arrival
 * time" of GCRA). Refilling is then implicit in the clock, so there is no
 * timer and no per-tick work: each call is O(1), and the owner keeps the
 * timers (pausing reads for "fakelag", disconnecting on "Excess Flood").
 */

import { IrcArgumentError } from '../errors.js';

export interface TokenBucketOptions {
  /** Tokens (lines) refilled per second. */
  rate: number;
  /** Tokens the bucket holds when full: lines accepted back to back before any delay. */
  burst: number;
}

/**
 * A starting point for client connections, after Ergo's fakelag defaults
 * (`burst-limit: 5`, `messages-per-window: 2` per 1 s window): registration
 * and a few quick commands pass untouched, a paste is slowed to 2 lines a
 * second. Peer (server-to-server) links should not be flood-limited: a
 * netjoin burst is legitimate.
 */
export const FLOOD_DEFAULTS: Readonly<TokenBucketOptions> = Object.freeze({ rate: 2, burst: 5 });

// Float steps such as 1000/3 ms per token must not turn an exact refill into a 1 ms wait.
const EPSILON_MS = 1e-6;

/**
 * Lines are charged as they arrive; a line beyond the burst is still
 * charged, and the owner delays it by the returned wait. While the owner
 * honours the waits (pauses reading), the debt never exceeds one line's
 * worth; `debt` growing past a bound is the sign of a peer the owner could
 * not slow down, i.e. "Excess Flood".
 */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  readonly #now: () => number;
  /** Milliseconds one token takes to refill. */
  readonly #interval: number;
  /** `burst * interval`: how far ahead of now `#full` may run before lines wait. */
  readonly #capacity: number;
  /** When the bucket will be full again; at or before now means full. */
  #full: number;

  /**
   * @param options `rate` > 0 tokens per second, `burst` ≥ 1 tokens; a bad
   *   value throws `IrcArgumentError` (`ERR_INVALID_OPTION`).
   * @param now a monotonic clock in milliseconds; tests pass a mock.
   */
  constructor(options: TokenBucketOptions, now: () => number = () => performance.now()) {
    if (typeof options !== 'object' || (options as unknown) === null) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', 'flood control options must be { rate, burst }');
    }
    const { rate, burst, ...rest } = options;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) {
      throw new IrcArgumentError('ERR_UNKNOWN_OPTION', `flood control option ${extra} is unknown; use rate and burst`);
    }
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0) {
      throw new IrcArgumentError(
        'ERR_INVALID_OPTION',
        `flood control option rate must be a positive number of lines per second, got ${String(rate)}`,
      );
    }
    if (typeof burst !== 'number' || !Number.isFinite(burst) || burst < 1) {
      throw new IrcArgumentError(
        'ERR_INVALID_OPTION',
        `flood control option burst must be a number of lines ≥ 1, got ${String(burst)}`,
      );
    }
    this.rate = rate;
    this.burst = burst;
    this.#now = now;
    this.#interval = 1000 / rate;
    this.#capacity = burst * this.#interval;
    this.#full = now();
  }

  /**
   * Charges `cost` tokens (one line by default) and returns how long the
   * owner should hold this line back: 0 when a token was available, else
   * whole milliseconds, rounded up, until the bucket has paid for it.
   */
  take(cost = 1): number {
    if (!(cost > 0 && cost < Infinity)) throw badCost(cost);
    const now = this.#now();
    this.#full = Math.max(this.#full, now) + cost * this.#interval;
    return this.#wait(now, this.#full);
  }

  /** What `take(cost)` would return now, without charging anything. */
  peek(cost = 1): number {
    if (!(cost > 0 && cost < Infinity)) throw badCost(cost);
    const now = this.#now();
    return this.#wait(now, Math.max(this.#full, now) + cost * this.#interval);
  }

  /**
   * Milliseconds of delay owed right now: 0 while any token remains, else
   * how long until the lines already charged are all paid for. Compare it
   * with a bound to decide "Excess Flood".
   */
  get debt(): number {
    const owed = this.#full - this.#now() - this.#capacity;
    return owed > EPSILON_MS ? owed : 0;
  }

  /** Tokens available now, fractional, from 0 to `burst`. */
  get tokens(): number {
    const room = (this.#now() + this.#capacity - this.#full) / this.#interval;
    return Math.min(this.burst, Math.max(0, room));
  }

  /**
   * How far (ms) the bucket's refill runs ahead of now: 0 when full. With
   * `setAhead` this carries a bucket to another process, whose clock starts
   * elsewhere.
   */
  get ahead(): number {
    return Math.max(0, this.#full - this.#now());
  }

  setAhead(ms: number): void {
    this.#full = this.#now() + Math.max(0, ms);
  }

  /** Milliseconds one token takes to refill. */
  get interval(): number {
    return this.#interval;
  }

  /** Fills the bucket again, forgiving any debt. */
  reset(): void {
    this.#full = this.#now();
  }

  #wait(now: number, full: number): number {
    const wait = full - now - this.#capacity;
    return wait > EPSILON_MS ? Math.ceil(wait - EPSILON_MS) : 0;
  }
}

function badCost(cost: number): IrcArgumentError {
  return new IrcArgumentError('ERR_INVALID_ARG', `token cost must be a positive finite number, got ${String(cost)}`);
}
