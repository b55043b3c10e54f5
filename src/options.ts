import { IrcArgumentError } from './errors.js';
import { DEFAULT_LIMITS, type FloodOptions, type Limits } from './limits.js';

/** Options of the seed (and names people guess) mapped to their ircsock spelling. */
const RENAMED: Readonly<Record<string, string>> = {
  bindaddr: 'addr (listeners) or bindAddr (connectors)',
  remoteaddr: 'addr',
  remoteport: 'port',
  ssl: 'tls',
  ssl_opts: 'tls',
  sslOpts: 'tls',
  host: 'addr',
  localAddress: 'bindAddr',
  filter_irc: 'colonify',
  filter: 'colonify (the filters are built in)',
};

/**
 * Throws for any key not in `known`, naming the right spelling when the key is
 * a known old or guessed name: a misspelt option must never be ignored.
 */
export function checkKeys(where: string, opts: object, known: readonly string[]): void {
  for (const key of Object.keys(opts)) {
    if (known.includes(key)) continue;
    const hint = RENAMED[key];
    throw new IrcArgumentError(
      'ERR_UNKNOWN_OPTION',
      hint === undefined
        ? `${where}: unknown option '${key}' (known: ${known.join(', ')}; extra data goes in 'args')`
        : `${where}: option '${key}' is spelt '${hint}' in ircsock`,
    );
  }
}

export function checkDuration(where: string, name: string, value: unknown, allowZero = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new IrcArgumentError(
      'ERR_INVALID_OPTION',
      `${where}: '${name}' must be a ${allowZero ? 'non-negative' : 'positive'} number of milliseconds, got ${String(value)}`,
    );
  }
  return value;
}

export function checkPort(where: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'port' must be an integer from 0 to 65535, got ${String(value)}`);
  }
  return value;
}

const LIMIT_KEYS = Object.keys(DEFAULT_LIMITS) as (keyof Limits)[];

/** Merges partial limits over a base, validating every value. */
export function resolveLimits(where: string, base: Readonly<Limits>, over: Partial<Limits> | undefined): Limits {
  const out = { ...base };
  if (over === undefined) return out;
  checkKeys(`${where} limits`, over, LIMIT_KEYS);
  for (const key of LIMIT_KEYS) {
    const v = over[key];
    if (v === undefined) continue;
    // Infinity turns a limit off; zero or less is always a mistake.
    if (typeof v !== 'number' || Number.isNaN(v) || v <= 0) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: limits.${key} must be a positive number (or Infinity for none), got ${String(v)}`);
    }
    out[key] = v;
  }
  if (out.sendQHighWater > out.sendQ) out.sendQHighWater = out.sendQ;
  return out;
}

const FLOOD_KEYS = ['rate', 'burst', 'mode', 'maxDelay'];

/** Validates flood options (listener and connector options, `Connection.setFlood`); returns a copy. */
export function checkFlood(where: string, flood: FloodOptions): FloodOptions {
  checkKeys(`${where} flood`, flood, FLOOD_KEYS);
  for (const key of ['rate', 'burst'] as const) {
    const v = flood[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: flood.${key} must be a positive number, got ${String(v)}`);
    }
  }
  // JavaScript callers get no type check: look at the value itself.
  const mode: unknown = flood.mode;
  if (mode !== undefined && mode !== 'delay' && mode !== 'disconnect') {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: flood.mode must be 'delay' or 'disconnect'`);
  }
  if (flood.maxDelay !== undefined) checkDuration(where, 'flood.maxDelay', flood.maxDelay);
  return { ...flood };
}
