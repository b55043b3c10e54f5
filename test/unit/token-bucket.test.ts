import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FLOOD_DEFAULTS, TokenBucket } from '../../src/limits/token-bucket.js';
import { IrcArgumentError } from '../../src/errors.js';

function clock(start = 1_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

describe('TokenBucket', () => {
  test('a full bucket passes a burst, then each line waits one interval more', () => {
    const c = clock();
    const b = new TokenBucket({ rate: 2, burst: 3 }, c.now);
    assert.equal(b.tokens, 3);
    assert.deepEqual([b.take(), b.take(), b.take()], [0, 0, 0]);
    assert.equal(b.tokens, 0);
    assert.equal(b.debt, 0);
    assert.equal(b.take(), 500);
    assert.equal(b.take(), 1000);
    assert.equal(b.debt, 1000);
  });

  test('refills at rate, capped at burst', () => {
    const c = clock();
    const b = new TokenBucket({ rate: 4, burst: 2 }, c.now);
    b.take();
    b.take();
    c.advance(250);
    assert.equal(b.tokens, 1);
    assert.equal(b.take(), 0);
    assert.equal(b.take(), 250);
    c.advance(60_000);
    assert.equal(b.tokens, 2, 'an idle bucket holds no more than burst');
    assert.deepEqual([b.take(), b.take(), b.take()], [0, 0, 250]);
  });

  test('fakelag: an owner that waits the returned delay gets exactly rate lines per second', () => {
    const c = clock();
    const b = new TokenBucket({ rate: 2, burst: 5 }, c.now);
    let delivered = 0;
    const start = c.now();
    for (let i = 0; i < 25; i++) {
      c.advance(b.take());
      delivered++;
    }
    // 5 at once, then 20 more at 2 per second.
    assert.equal(c.now() - start, 10_000);
    assert.equal(delivered, 25);
    assert.equal(b.debt, 0, 'paid up at the moment the last line is delivered');
  });

  test('debt grows when the owner cannot slow the peer: the Excess Flood signal', () => {
    const c = clock();
    const b = new TokenBucket(FLOOD_DEFAULTS, c.now);
    for (let i = 0; i < FLOOD_DEFAULTS.burst + 20; i++) b.take();
    assert.equal(b.debt, 10_000);
    c.advance(4_000);
    assert.equal(b.debt, 6_000);
    c.advance(6_000);
    assert.equal(b.debt, 0);
    assert.equal(b.tokens, 0);
  });

  test('peek does not charge; cost charges more than one token', () => {
    const c = clock();
    const b = new TokenBucket({ rate: 1, burst: 2 }, c.now);
    assert.equal(b.peek(), 0);
    assert.equal(b.peek(3), 1000);
    assert.equal(b.tokens, 2);
    assert.equal(b.take(2), 0);
    assert.equal(b.peek(), 1000);
    assert.equal(b.take(0.5), 500);
  });

  test('fractional intervals do not produce spurious waits, and waits are whole ms', () => {
    const c = clock(0);
    const b = new TokenBucket({ rate: 3, burst: 1 }, c.now);
    for (let i = 0; i < 3000; i++) {
      c.advance(1000 / 3);
      assert.equal(b.take(), 0, `line ${i}`);
    }
    b.take();
    assert.equal(b.take(), 667);
  });

  test('reset forgives the debt', () => {
    const c = clock();
    const b = new TokenBucket({ rate: 1, burst: 1 }, c.now);
    b.take();
    b.take();
    assert.equal(b.debt, 1000);
    b.reset();
    assert.equal(b.debt, 0);
    assert.equal(b.take(), 0);
  });

  test('invalid options and costs throw with a code', () => {
    const now = () => 0;
    const code = (c: string) => (err: unknown) => err instanceof IrcArgumentError && err.code === c;
    for (const opts of [{ rate: 0, burst: 1 }, { rate: -1, burst: 1 }, { rate: NaN, burst: 1 }, { rate: Infinity, burst: 1 }, { rate: 1, burst: 0.5 }]) {
      assert.throws(() => new TokenBucket(opts, now), code('ERR_INVALID_OPTION'), JSON.stringify(opts));
    }
    assert.throws(() => new TokenBucket({ rate: 1, burst: 1, brust: 2 } as { rate: number; burst: number }, now), code('ERR_UNKNOWN_OPTION'));
    const b = new TokenBucket({ rate: 1, burst: 1 }, now);
    for (const cost of [0, -1, NaN, Infinity]) assert.throws(() => b.take(cost), code('ERR_INVALID_ARG'));
  });
});
