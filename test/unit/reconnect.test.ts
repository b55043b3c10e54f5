/** The retry schedule alone: exponential caps, jitter bounds, giving up, starting over. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff, backoffDelay, RECONNECT_DEFAULTS, resolveReconnect, type ResolvedReconnect } from '../../src/connect/reconnect.js';
import { mulberry32 } from '../helpers/prng.js';

const cause = new Error('refused');
const opts = (o: Partial<ResolvedReconnect>): ResolvedReconnect => ({ ...RECONNECT_DEFAULTS, ...o });

test('no jitter: initialDelay * factor^(n-1), capped at maxDelay', () => {
  const o = opts({ initialDelay: 100, factor: 2, maxDelay: 1_000, jitter: 'none' });
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, o)), [100, 200, 400, 800, 1000, 1000, 1000]);
  const o3 = opts({ initialDelay: 50, factor: 3, maxDelay: 10_000, jitter: 'none' });
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelay(n, o3)), [50, 150, 450, 1350, 4050]);
});

test('full jitter: every delay in [0, cap], and the draws spread over the range', () => {
  const o = opts({ initialDelay: 1_000, factor: 2, maxDelay: 60_000, jitter: 'full' });
  const random = mulberry32(12);
  for (let n = 1; n <= 12; n++) {
    const cap = Math.min(60_000, 1_000 * 2 ** (n - 1));
    const draws = Array.from({ length: 200 }, () => backoffDelay(n, o, random));
    for (const d of draws) assert.ok(d >= 0 && d <= cap, `attempt ${n}: ${d} outside [0, ${cap}]`);
    // Spread: some in the lower and some in the upper quarter (not a constant).
    assert.ok(draws.some((d) => d < cap / 4) && draws.some((d) => d > (3 * cap) / 4), `attempt ${n} not spread`);
  }
  // The extremes of random() map to the ends of the range.
  assert.equal(backoffDelay(3, o, () => 0), 0);
  assert.equal(backoffDelay(3, o, () => 0.999_999), 4_000);
});

test('equal jitter: every delay in [cap/2, cap]', () => {
  const o = opts({ initialDelay: 200, factor: 2, maxDelay: 5_000, jitter: 'equal' });
  const random = mulberry32(7);
  for (let n = 1; n <= 8; n++) {
    const cap = Math.min(5_000, 200 * 2 ** (n - 1));
    for (let i = 0; i < 100; i++) {
      const d = backoffDelay(n, o, random);
      assert.ok(d >= cap / 2 && d <= cap, `attempt ${n}: ${d}`);
    }
  }
});

test('Backoff counts retries in a row, gives up after maxAttempts, starts over after resetAfter', () => {
  const b = new Backoff(opts({ initialDelay: 10, factor: 2, maxDelay: 1_000, jitter: 'none', maxAttempts: 3, resetAfter: 5_000 }));
  assert.deepEqual([b.next(cause), b.next(cause), b.next(cause), b.next(cause)], [10, 20, 40, false]);
  b.connectedFor(4_999);
  assert.equal(b.next(cause), false, 'a short connection does not reset the count');
  b.connectedFor(5_000);
  assert.equal(b.attempt, 0);
  assert.equal(b.next(cause), 10);
});

test('a function policy gets the attempt number and the cause; false or a bad answer gives up', () => {
  const seen: [number, string][] = [];
  const b = new Backoff((attempt, c) => {
    seen.push([attempt, c.message]);
    return attempt < 3 ? attempt * 7 : false;
  });
  assert.deepEqual([b.next(cause), b.next(cause), b.next(cause)], [7, 14, false]);
  assert.deepEqual(seen, [[1, 'refused'], [2, 'refused'], [3, 'refused']]);
  const bad = new Backoff(() => Number.NaN);
  assert.equal(bad.next(cause), false);
  const negative = new Backoff(() => -1);
  assert.equal(negative.next(cause), false);
});

test('resolveReconnect: defaults, booleans, and wrong values named', () => {
  assert.equal(resolveReconnect('x', undefined), undefined);
  assert.equal(resolveReconnect('x', false), undefined);
  assert.deepEqual(resolveReconnect('x', true), RECONNECT_DEFAULTS);
  assert.equal(RECONNECT_DEFAULTS.jitter, 'full');
  assert.deepEqual(resolveReconnect('x', { jitter: false, initialDelay: 5 }), { ...RECONNECT_DEFAULTS, jitter: 'none', initialDelay: 5 });
  for (const bad of [{ factor: 0.5 }, { initialDelay: -1 }, { maxAttempts: 1.5 }, { jitter: 'some' }, { initialDelay: 10, maxDelay: 5 }, 7, 'yes']) {
    assert.throws(() => resolveReconnect('x', bad), { code: 'ERR_INVALID_OPTION' }, JSON.stringify(bad));
  }
  assert.throws(() => resolveReconnect('x', { delay: 5 }), { code: 'ERR_UNKNOWN_OPTION' });
});
