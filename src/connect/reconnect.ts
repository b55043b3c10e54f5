import { IrcArgumentError } from '../errors.js';
import { checkKeys } from '../options.js';

/**
 * How a connector spreads its retries. Full jitter is the default: after a
 * netsplit or a server restart every bot of a network drops at the same
 * instant, and retries on a plain exponential schedule arrive in synchronised
 * waves; drawing each delay uniformly from `[0, cap]` spreads them out and
 * finishes the reconnection storm with the least total work (AWS Architecture
 * Blog, "Exponential Backoff And Jitter", 2015). `equal` keeps half the cap
 * as a floor; `none` is the bare exponential schedule (tests, one-off tools).
 */
export type ReconnectJitter = 'full' | 'equal' | 'none';

export interface ReconnectOptions {
  /** The cap of the first retry, in ms. Default 1000. */
  initialDelay?: number;
  /** The largest cap, in ms. Default 60 000. */
  maxDelay?: number;
  /** How much the cap grows per retry. Default 2. */
  factor?: number;
  /** Default `'full'`; `true` is `'full'`, `false` is `'none'`. */
  jitter?: ReconnectJitter | boolean;
  /** Retries in a row (without a connection that stayed up `resetAfter`) before giving up. Default Infinity. */
  maxAttempts?: number;
  /** A connection that stayed up this many ms starts the schedule over. Default 60 000. */
  resetAfter?: number;
}

/** Decides each retry itself: the delay in ms, or `false` to give up. `attempt` counts from 1. */
export type ReconnectFunction = (attempt: number, cause: Error) => number | false;

/** The `reconnect` option of a connector: `false` (the default, as the seed), `true` (the defaults), options, or a function. */
export type ReconnectOption = boolean | ReconnectOptions | ReconnectFunction;

/** Resolved options: every field set. */
export type ResolvedReconnect = Required<Omit<ReconnectOptions, 'jitter'>> & { jitter: ReconnectJitter };

export const RECONNECT_DEFAULTS: Readonly<ResolvedReconnect> = Object.freeze({
  initialDelay: 1_000,
  maxDelay: 60_000,
  factor: 2,
  jitter: 'full',
  maxAttempts: Infinity,
  resetAfter: 60_000,
});

const RECONNECT_KEYS = ['initialDelay', 'maxDelay', 'factor', 'jitter', 'maxAttempts', 'resetAfter'];

/**
 * The delay before retry number `attempt` (from 1): the cap
 * `min(maxDelay, initialDelay * factor^(attempt-1))`, jittered; `random`
 * returns a number in [0, 1) as `Math.random` does.
 */
export function backoffDelay(attempt: number, opts: Readonly<ResolvedReconnect>, random: () => number = Math.random): number {
  const cap = Math.min(opts.maxDelay, opts.initialDelay * opts.factor ** Math.max(0, attempt - 1));
  switch (opts.jitter) {
    case 'none':
      return Math.round(cap);
    case 'equal':
      return Math.round(cap / 2 + random() * (cap / 2));
    case 'full':
      return Math.round(random() * cap);
  }
}

/** Validates a `reconnect` option; `undefined` when reconnecting is off. */
export function resolveReconnect(where: string, option: unknown): ResolvedReconnect | ReconnectFunction | undefined {
  if (option === undefined || option === false) return undefined;
  if (option === true) return { ...RECONNECT_DEFAULTS };
  if (typeof option === 'function') return option as ReconnectFunction;
  if (typeof option !== 'object' || option === null) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'reconnect' must be false, true, { initialDelay, maxDelay, ... } or (attempt, cause) => delay | false`);
  }
  checkKeys(`${where} reconnect`, option, RECONNECT_KEYS);
  const o = option as ReconnectOptions;
  const out: ResolvedReconnect = { ...RECONNECT_DEFAULTS };
  for (const key of ['initialDelay', 'maxDelay', 'resetAfter'] as const) {
    const v = o[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: reconnect.${key} must be a non-negative number of milliseconds, got ${String(v)}`);
    }
    out[key] = v;
  }
  if (o.factor !== undefined) {
    if (typeof o.factor !== 'number' || !(o.factor >= 1) || !Number.isFinite(o.factor)) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: reconnect.factor must be a number >= 1, got ${String(o.factor)}`);
    }
    out.factor = o.factor;
  }
  if (o.maxAttempts !== undefined) {
    if (typeof o.maxAttempts !== 'number' || !(o.maxAttempts >= 0) || (!Number.isInteger(o.maxAttempts) && o.maxAttempts !== Infinity)) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: reconnect.maxAttempts must be a whole number or Infinity, got ${String(o.maxAttempts)}`);
    }
    out.maxAttempts = o.maxAttempts;
  }
  const jitter: unknown = o.jitter;
  if (jitter !== undefined) {
    if (jitter === true) out.jitter = 'full';
    else if (jitter === false) out.jitter = 'none';
    else if (jitter === 'full' || jitter === 'equal' || jitter === 'none') out.jitter = jitter;
    else throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: reconnect.jitter must be 'full', 'equal', 'none' or a boolean`);
  }
  if (out.maxDelay < out.initialDelay) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: reconnect.maxDelay (${out.maxDelay}) is below initialDelay (${out.initialDelay})`);
  }
  return out;
}

/**
 * One connector's retry schedule: counts the retries in a row and says how
 * long to wait before the next one, or that it is time to give up. Pure: no
 * timers, the caller waits.
 */
export class Backoff {
  readonly #policy: ResolvedReconnect | ReconnectFunction;
  readonly #random: () => number;
  #attempt = 0;

  constructor(policy: ResolvedReconnect | ReconnectFunction, random: () => number = Math.random) {
    this.#policy = policy;
    this.#random = random;
  }

  /** Retries made in a row so far. */
  get attempt(): number {
    return this.#attempt;
  }

  /** How long a connection must stay up to start the schedule over (the default for a function policy). */
  get resetAfter(): number {
    return typeof this.#policy === 'function' ? RECONNECT_DEFAULTS.resetAfter : this.#policy.resetAfter;
  }

  /** The delay before the next retry, or `false`: give up. */
  next(cause: Error): number | false {
    const attempt = ++this.#attempt;
    const policy = this.#policy;
    if (typeof policy === 'function') {
      const d = policy(attempt, cause);
      if (d === false) return false;
      // A function from JavaScript may return anything: a wrong answer gives up rather than spin.
      return typeof d === 'number' && d >= 0 && Number.isFinite(d) ? d : false;
    }
    if (attempt > policy.maxAttempts) return false;
    return backoffDelay(attempt, policy, this.#random);
  }

  /** A connection stayed up `upFor` ms: past `resetAfter`, the next retry is the first again. */
  connectedFor(upFor: number): void {
    if (upFor >= this.resetAfter) this.#attempt = 0;
  }
}
