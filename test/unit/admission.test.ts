import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ADMISSION_DEFAULTS, Admission } from '../../src/admission/admission.js';
import type { AdmissionOptions, AdmissionResult } from '../../src/admission/admission.js';
import { IrcArgumentError } from '../../src/errors.js';

function clock(start = 5_000) {
  let t = start;
  return {
    now: () => t,
    advance(ms: number) {
      t += ms;
    },
  };
}

const NO_THROTTLE: AdmissionOptions = { throttle: false, exempt: [] };

function admitted(result: AdmissionResult): string {
  assert.ok(result.ok, `expected admission, got ${result.ok ? '' : result.code}`);
  return result.key;
}

function refused(result: AdmissionResult, code: string): void {
  assert.equal(result.ok, false);
  assert.equal(result.code, code);
  assert.ok(result.reason.length > 0);
}

describe('Admission: allow and deny', () => {
  test('deny refuses, and wins over allow', () => {
    const a = new Admission({ ...NO_THROTTLE, allow: ['10.0.0.0/8'], deny: ['10.6.0.0/16', '2001:db8::/32'] });
    admitted(a.admit('10.1.2.3'));
    refused(a.admit('10.6.6.6'), 'ERR_DENIED');
    refused(a.admit('::ffff:10.6.0.1'), 'ERR_DENIED');
    refused(a.admit('2001:db8::1'), 'ERR_DENIED');
    refused(a.admit('192.0.2.1'), 'ERR_NOT_ALLOWED');
    assert.equal(a.activeCount, 1);
    assert.equal(a.throttleEntries, 0);
  });

  test('an empty allow list allows everyone not denied', () => {
    const a = new Admission({ ...NO_THROTTLE, deny: ['192.0.2.0/24'] });
    admitted(a.admit('198.51.100.1'));
    admitted(a.admit('2001:db8::1'));
    refused(a.admit('192.0.2.200'), 'ERR_DENIED');
  });

  test('allow matches IPv4-mapped peers and IPv6 ranges', () => {
    const a = new Admission({ ...NO_THROTTLE, allow: ['192.0.2.0/24', '2001:db8:5::/48'] });
    assert.equal(admitted(a.admit('::ffff:192.0.2.9')), '192.0.2.9');
    assert.equal(admitted(a.admit('2001:db8:5:1::7')), '2001:db8:5:1::/64');
    refused(a.admit('2001:db8:6::1'), 'ERR_NOT_ALLOWED');
    refused(a.admit('::ffff:192.0.3.1'), 'ERR_NOT_ALLOWED');
  });

  test('a non-IP address is refused', () => {
    const a = new Admission();
    const r = a.admit('/run/ircd.sock');
    refused(r, 'ERR_INVALID_ADDRESS');
    assert.equal(r.ok ? 'x' : r.key, undefined);
    refused(a.admit(''), 'ERR_INVALID_ADDRESS');
  });
});

describe('Admission: concurrent limits', () => {
  test('per-IP limit, counted per /64 for IPv6 and with mapped IPv4 as IPv4', () => {
    const a = new Admission({ ...NO_THROTTLE, maxPerIp: 2 });
    admitted(a.admit('203.0.113.7'));
    admitted(a.admit('::ffff:203.0.113.7'));
    refused(a.admit('203.0.113.7'), 'ERR_TOO_MANY_PER_IP');
    admitted(a.admit('203.0.113.8'));

    admitted(a.admit('2001:db8:1:2::1'));
    admitted(a.admit('2001:db8:1:2:ffff::9'));
    const r = a.admit('2001:db8:1:2::abcd');
    refused(r, 'ERR_TOO_MANY_PER_IP');
    assert.equal(r.ok ? '' : r.key, '2001:db8:1:2::/64');
    admitted(a.admit('2001:db8:1:3::1'));
    assert.equal(a.connectionsOf('2001:db8:1:2::/64'), 2);

    assert.ok(a.release('203.0.113.7'));
    admitted(a.admit('203.0.113.7'));
  });

  test('grouping prefixes are configurable', () => {
    const a = new Admission({ ...NO_THROTTLE, maxPerIp: 1, ipv4Prefix: 24, ipv6Prefix: 48 });
    assert.equal(admitted(a.admit('198.51.100.1')), '198.51.100.0/24');
    refused(a.admit('198.51.100.200'), 'ERR_TOO_MANY_PER_IP');
    assert.equal(admitted(a.admit('2001:db8:7:1::1')), '2001:db8:7::/48');
    refused(a.admit('2001:db8:7:2::1'), 'ERR_TOO_MANY_PER_IP');
    assert.equal(a.keyOf('::ffff:198.51.100.77'), '198.51.100.0/24');
  });

  test('total limit', () => {
    const a = new Admission({ ...NO_THROTTLE, maxTotal: 3 });
    const keys = ['192.0.2.1', '192.0.2.2', '2001:db8::1'].map((ip) => admitted(a.admit(ip)));
    refused(a.admit('192.0.2.4'), 'ERR_TOO_MANY_TOTAL');
    assert.equal(a.activeCount, 3);
    a.release(keys[1]!);
    admitted(a.admit('192.0.2.4'));
  });

  test('release of an unknown key changes nothing', () => {
    const a = new Admission(NO_THROTTLE);
    const key = admitted(a.admit('192.0.2.1'));
    assert.equal(a.release('192.0.2.99'), false);
    assert.equal(a.activeCount, 1);
    assert.equal(a.release(key), true);
    assert.equal(a.release(key), false, 'a second release is ignored');
    assert.equal(a.activeCount, 0);
    assert.equal(a.keyCount, 0);
  });

  test('exempt peers skip per-IP limits and the throttle, but not deny or the total', () => {
    const c = clock();
    const a = new Admission(
      { maxPerIp: 1, maxTotal: 5, throttle: { connections: 1, windowMs: 1000 }, deny: ['127.0.0.66'] },
      c.now,
    );
    for (let i = 0; i < 4; i++) admitted(a.admit('127.0.0.1'));
    admitted(a.admit('::1'));
    assert.equal(a.connectionsOf('127.0.0.1'), 4);
    assert.equal(a.throttleEntries, 0);
    refused(a.admit('127.0.0.2'), 'ERR_TOO_MANY_TOTAL');
    refused(a.admit('127.0.0.66'), 'ERR_DENIED');
    const b = new Admission({ maxPerIp: 1, exempt: [] });
    admitted(b.admit('127.0.0.1'));
    refused(b.admit('127.0.0.1'), 'ERR_TOO_MANY_PER_IP');
  });
});

describe('Admission: throttle', () => {
  test('N attempts per key per window; the window expires', () => {
    const c = clock();
    const a = new Admission({ exempt: [], maxPerIp: Infinity, throttle: { connections: 3, windowMs: 10_000 } }, c.now);
    for (let i = 0; i < 3; i++) {
      admitted(a.admit('198.51.100.5'));
      c.advance(1000);
    }
    const r = a.admit('198.51.100.5');
    refused(r, 'ERR_THROTTLED');
    assert.equal(r.ok ? 0 : r.retryAfterMs, 7000);
    admitted(a.admit('198.51.100.6'));
    c.advance(6999);
    refused(a.admit('198.51.100.5'), 'ERR_THROTTLED');
    c.advance(1);
    admitted(a.admit('198.51.100.5'));
    assert.equal(a.activeCount, 5, 'refused attempts are not counted as connections');
  });

  test('refused attempts count, so hammering stays throttled for the window', () => {
    const c = clock();
    const a = new Admission({ exempt: [], maxPerIp: 1, throttle: { connections: 3, windowMs: 10_000 } }, c.now);
    admitted(a.admit('198.51.100.5'));
    refused(a.admit('198.51.100.5'), 'ERR_TOO_MANY_PER_IP');
    refused(a.admit('198.51.100.5'), 'ERR_TOO_MANY_PER_IP');
    a.release('198.51.100.5');
    refused(a.admit('198.51.100.5'), 'ERR_THROTTLED');
  });

  test('IPv6 peers are throttled per /64', () => {
    const c = clock();
    const a = new Admission({ maxPerIp: Infinity, throttle: { connections: 2, windowMs: 1000 } }, c.now);
    admitted(a.admit('2001:db8:9:9::1'));
    admitted(a.admit('2001:db8:9:9::2'));
    refused(a.admit('2001:db8:9:9::3'), 'ERR_THROTTLED');
    admitted(a.admit('2001:db8:9:a::1'));
  });

  test('expired windows are swept by later admits and by prune()', () => {
    const c = clock();
    const a = new Admission({ maxPerIp: Infinity, throttle: { connections: 5, windowMs: 1000 } }, c.now);
    // A function, so the type checker does not narrow the getter across calls.
    const entries = () => a.throttleEntries;
    for (let i = 0; i < 100; i++) a.release(admitted(a.admit(`10.0.${i >> 8}.${i & 255}`)));
    assert.equal(entries(), 100);
    c.advance(1000);
    admitted(a.admit('10.9.9.9'));
    assert.ok(entries() < 100, 'an admit sweeps a few expired windows');
    const before = entries();
    assert.equal(a.prune(), before - 1);
    assert.equal(a.throttleEntries, 1);
  });

  test('a key whose window restarts keeps one entry, and the cap still holds', () => {
    const c = clock();
    const a = new Admission({ maxPerIp: Infinity, maxThrottleEntries: 3, throttle: { connections: 2, windowMs: 100 } }, c.now);
    for (let i = 0; i < 1000; i++) {
      a.release(admitted(a.admit('192.0.2.1')));
      if (i % 10 === 0) a.release(admitted(a.admit(`198.51.100.${i % 7}`)));
      c.advance(60);
    }
    assert.ok(a.throttleEntries <= 3);
    c.advance(100);
    a.prune();
    assert.equal(a.throttleEntries, 0);
  });

  test('the throttle map is capped; the oldest window is forgotten first', () => {
    const c = clock();
    const a = new Admission({ maxPerIp: Infinity, maxThrottleEntries: 10, throttle: { connections: 1, windowMs: 60_000 } }, c.now);
    for (let i = 0; i < 50; i++) {
      a.release(admitted(a.admit(`192.0.2.${i}`)));
      c.advance(1);
    }
    assert.equal(a.throttleEntries, 10);
    refused(a.admit('192.0.2.49'), 'ERR_THROTTLED');
    admitted(a.admit('192.0.2.0'));
  });
});

describe('Admission: bounded memory', () => {
  test('20,000 connect/release cycles from many addresses return every map to baseline', () => {
    const c = clock();
    const a = new Admission({ maxPerIp: 4, throttle: { connections: 8, windowMs: 60_000 } }, c.now);
    const open: string[] = [];
    let peak = 0;
    for (let i = 0; i < 20_000; i++) {
      const addr = i % 2 === 0 ? `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` : `2001:db8:${(i % 5000).toString(16)}::${i.toString(16)}`;
      const r = a.admit(addr);
      if (r.ok) open.push(r.key);
      // Keep a few connections open at a time, as real churn does.
      if (open.length > 50) a.release(open.shift()!);
      peak = Math.max(peak, a.throttleEntries);
      c.advance(7);
    }
    for (const key of open.splice(0)) a.release(key);
    assert.equal(a.activeCount, 0);
    assert.equal(a.keyCount, 0);
    // Windows last 60 s and the loop advanced 7 ms per attempt: the sweep keeps
    // only about one window's worth of keys, not all 20,000.
    assert.ok(peak <= 60_000 / 7 + 10, `peak ${peak}`);
    c.advance(60_000);
    a.prune();
    assert.equal(a.throttleEntries, 0);
  });

  test('a steady stream of new addresses keeps the throttle map at one window of keys', () => {
    const c = clock();
    const a = new Admission({ maxPerIp: Infinity, throttle: { connections: 1, windowMs: 100 } }, c.now);
    for (let i = 0; i < 5_000; i++) {
      a.release(admitted(a.admit(`2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`)));
      c.advance(1);
    }
    assert.ok(a.throttleEntries <= 101, `${a.throttleEntries}`);
  });
});

describe('Admission: options', () => {
  test('defaults protect a public server', () => {
    const a = new Admission();
    assert.equal(a.options.maxPerIp, 16);
    assert.equal(a.options.maxTotal, 10_000);
    assert.deepEqual(a.options.throttle, { connections: 32, windowMs: 600_000 });
    assert.equal(a.options.ipv4Prefix, 32);
    assert.equal(a.options.ipv6Prefix, 64);
    assert.deepEqual(a.options.exempt, ['127.0.0.0/8', '::1']);
    assert.equal(a.options.maxThrottleEntries, ADMISSION_DEFAULTS.maxThrottleEntries);
    for (let i = 0; i < 16; i++) admitted(a.admit('192.0.2.1'));
    refused(a.admit('192.0.2.1'), 'ERR_TOO_MANY_PER_IP');
  });

  test('bad options throw with a code, naming the option', () => {
    const check = (opts: unknown, code: string, name: RegExp) => {
      assert.throws(
        () => new Admission(opts as AdmissionOptions),
        (err: unknown) => err instanceof IrcArgumentError && err.code === code && name.test(err.message),
        JSON.stringify(opts),
      );
    };
    check({ maxPerIp: 0 }, 'ERR_INVALID_OPTION', /maxPerIp/);
    check({ maxPerIp: 1.5 }, 'ERR_INVALID_OPTION', /maxPerIp/);
    check({ maxTotal: -1 }, 'ERR_INVALID_OPTION', /maxTotal/);
    check({ ipv4Prefix: 33 }, 'ERR_INVALID_OPTION', /ipv4Prefix/);
    check({ ipv6Prefix: -1 }, 'ERR_INVALID_OPTION', /ipv6Prefix/);
    check({ throttle: { connections: 0, windowMs: 1 } }, 'ERR_INVALID_OPTION', /throttle\.connections/);
    check({ throttle: { connections: 1, windowMs: 0 } }, 'ERR_INVALID_OPTION', /throttle\.windowMs/);
    check({ throttle: { connections: 1, windowMs: 1, window: 5 } }, 'ERR_UNKNOWN_OPTION', /throttle\.window/);
    check({ throttle: true }, 'ERR_INVALID_OPTION', /throttle/);
    check({ allow: '10.0.0.0/8' }, 'ERR_INVALID_OPTION', /allow/);
    check({ deny: ['10.0.0.0/8', '10.0.0.1/8'] }, 'ERR_INVALID_OPTION', /deny\[1\]: "10\.0\.0\.1\/8"/);
    check({ allow: ['nope'] }, 'ERR_INVALID_OPTION', /allow\[0\]/);
    check({ maxPerIP: 3 }, 'ERR_UNKNOWN_OPTION', /maxPerIP/);
  });

  test('Infinity disables a limit', () => {
    const a = new Admission({ ...NO_THROTTLE, maxPerIp: Infinity, maxTotal: Infinity });
    for (let i = 0; i < 100; i++) admitted(a.admit('192.0.2.1'));
    assert.equal(a.connectionsOf('192.0.2.1'), 100);
  });
});
