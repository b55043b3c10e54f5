/** The pure parts of TLS in operation: the SNI map, fingerprints, the STS value, the handshake budget, the server option plan. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SniMap } from '../../src/transport/tls/sni.js';
import { certFingerprints, parseFingerprint } from '../../src/transport/tls/fingerprint.js';
import { planServerTls } from '../../src/transport/tls/server-options.js';
import { stsValue, stsValueFor } from '../../src/message/sts.js';
import { HANDSHAKE_BUDGET_DEFAULTS, HandshakeBudget } from '../../src/admission/handshake-budget.js';
import { IrcArgumentError } from '../../src/errors.js';

describe('SniMap', () => {
  const map = new SniMap<string>().set('irc.example.net', 'exact').set('*.example.net', 'wild').set('Other.Example.ORG.', 'other');

  test('an exact name wins over the wildcard that also covers it', () => {
    assert.equal(map.get('irc.example.net'), 'exact');
  });
  test('a wildcard covers one label, not the bare domain nor two labels', () => {
    assert.equal(map.get('chat.example.net'), 'wild');
    assert.equal(map.get('example.net'), undefined);
    assert.equal(map.get('a.chat.example.net'), undefined);
  });
  test('names compare without case and trailing dot', () => {
    assert.equal(map.get('IRC.EXAMPLE.NET.'), 'exact');
    assert.equal(map.get('other.example.org'), 'other');
  });
  test('an unknown name has no entry (the default context serves it)', () => {
    assert.equal(map.get('irc.example.com'), undefined);
    assert.equal(map.get(''), undefined);
    assert.equal(map.size, 3);
  });
  test('bad names are refused', () => {
    for (const bad of ['', '*', '*.net', 'a..b', 'irc example', '*.*.example.net', 'irc.*.net']) {
      assert.throws(() => new SniMap().set(bad, 1), Error, bad);
    }
  });
});

describe('fingerprints', () => {
  const hex256 = 'ab'.repeat(32);
  const hex512 = 'cd'.repeat(64);

  test('sha256:/sha512: prefixes, openssl colons and case, bare hex by length', () => {
    assert.deepEqual(parseFingerprint('t', `sha256:${hex256}`), { algorithm: 'sha256', hex: hex256 });
    assert.deepEqual(parseFingerprint('t', `SHA256=${hex256.toUpperCase().match(/../g)?.join(':') ?? ''}`), { algorithm: 'sha256', hex: hex256 });
    assert.deepEqual(parseFingerprint('t', `sha-512:${hex512}`), { algorithm: 'sha512', hex: hex512 });
    assert.deepEqual(parseFingerprint('t', hex256), { algorithm: 'sha256', hex: hex256 });
    assert.deepEqual(parseFingerprint('t', hex512.toUpperCase()), { algorithm: 'sha512', hex: hex512 });
  });
  test('wrong lengths, algorithms and characters are an ERR_INVALID_OPTION', () => {
    for (const bad of ['', 'sha256:abcd', `sha512:${hex256}`, `md5:${hex256}`, `sha256:${'zz'.repeat(32)}`, 'ab'.repeat(40)]) {
      assert.throws(() => parseFingerprint('t', bad), (e: unknown) => e instanceof IrcArgumentError && e.code === 'ERR_INVALID_OPTION', bad);
    }
  });
  test('certFingerprints hashes the DER bytes, lower-case hex', () => {
    const fps = certFingerprints(Buffer.from('abc'));
    assert.equal(fps.sha256, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.match(fps.sha512, /^ddaf35a1[0-9a-f]{120}$/);
  });
});

describe('stsValue', () => {
  test('port= on plain, duration= (and preload) on TLS, duration=0 withdraws', () => {
    assert.equal(stsValue({ port: 6697 }), 'port=6697');
    assert.equal(stsValue({ duration: 2_592_000 }), 'duration=2592000');
    assert.equal(stsValue({ duration: 300, preload: true }), 'duration=300,preload');
    assert.equal(stsValue({ duration: 0, preload: true }), 'duration=0');
  });
  test('per connection: plain names the port, TLS the duration', () => {
    assert.equal(stsValueFor(false, { port: 6697, duration: 60 }), 'port=6697');
    assert.equal(stsValueFor(true, { port: 6697, duration: 60 }), 'duration=60');
    assert.equal(stsValueFor(false, { port: undefined, duration: 60 }), undefined);
  });
  test('bad numbers throw RangeError', () => {
    for (const p of [0, 65536, 1.5]) assert.throws(() => stsValue({ port: p }), RangeError);
    for (const d of [-1, 1.5, Number.NaN]) assert.throws(() => stsValue({ duration: d }), RangeError);
  });
});

describe('HandshakeBudget', () => {
  function clock() {
    let t = 1_000;
    return { now: () => t, advance: (ms: number) => (t += ms) };
  }

  test('the attempt after `failures` failures in a window is refused, until the window ends', () => {
    const c = clock();
    const b = new HandshakeBudget({ failures: 3, windowMs: 60_000, exempt: [] }, c.now);
    for (let i = 0; i < 3; i++) {
      assert.equal(b.allows('192.0.2.1'), true);
      b.failed('192.0.2.1');
    }
    assert.equal(b.allows('192.0.2.1'), false);
    assert.equal(b.allows('192.0.2.2'), true, 'another address has its own budget');
    c.advance(60_000);
    assert.equal(b.allows('192.0.2.1'), true, 'a new window');
    assert.equal(b.size, 0);
  });
  test('IPv6 counts by /64; loopback is exempt by default', () => {
    const b = new HandshakeBudget({ failures: 2 });
    b.failed('2001:db8::1');
    b.failed('2001:db8::ffff');
    assert.equal(b.allows('2001:db8::2'), false);
    assert.equal(b.allows('2001:db8:0:1::1'), true);
    for (let i = 0; i < 5; i++) b.failed('127.0.0.1');
    assert.equal(b.allows('127.0.0.1'), true);
    assert.deepEqual(HANDSHAKE_BUDGET_DEFAULTS.exempt, ['127.0.0.0/8', '::1']);
  });
  test('memory is capped: the oldest window goes first', () => {
    const b = new HandshakeBudget({ failures: 1, maxEntries: 2, exempt: [] });
    b.failed('192.0.2.1');
    b.failed('192.0.2.2');
    b.failed('192.0.2.3');
    assert.equal(b.size, 2);
    assert.equal(b.allows('192.0.2.1'), true);
    assert.equal(b.allows('192.0.2.3'), false);
  });
  test('options are checked', () => {
    assert.throws(() => new HandshakeBudget({ failures: 0 }), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => new HandshakeBudget({ window: 5 } as never), { code: 'ERR_UNKNOWN_OPTION' });
  });
});

describe('planServerTls', () => {
  test('TLS 1.2 is the minimum unless minVersion says otherwise', () => {
    assert.equal(planServerTls('t', {}).spec.base.minVersion, 'TLSv1.2');
    assert.equal(planServerTls('t', { minVersion: 'TLSv1.3' }).spec.base.minVersion, 'TLSv1.3');
  });
  test('client certificates: requested by default; require, verify and none', () => {
    assert.deepEqual(planServerTls('t', {}).acceptor, { requestCert: true, rejectUnauthorized: false });
    const req = planServerTls('t', { clientCert: 'require' });
    assert.equal(req.requireCert, true);
    assert.deepEqual(planServerTls('t', { clientCert: 'verify', ca: '-----BEGIN CERTIFICATE-----' }).acceptor, { requestCert: true, rejectUnauthorized: true });
    assert.deepEqual(planServerTls('t', { clientCert: 'none' }).acceptor, { requestCert: false });
    assert.throws(() => planServerTls('t', { clientCert: 'verify' }), { code: 'ERR_INVALID_OPTION' }, 'verify needs a ca');
    assert.throws(() => planServerTls('t', { clientCert: 'require', requestCert: true }), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => planServerTls('t', { clientCert: 'maybe' as never }), { code: 'ERR_INVALID_OPTION' });
  });
  test('watch and sni are checked', () => {
    assert.equal(planServerTls('t', { watch: true }).watch, 1_000);
    assert.equal(planServerTls('t', { watch: { debounce: 50 } }).watch, 50);
    assert.equal(planServerTls('t', {}).watch, undefined);
    assert.throws(() => planServerTls('t', { watch: { debounce: -1 } }), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => planServerTls('t', { sni: { '*': { key: 'k', cert: 'c' } } }), { code: 'ERR_INVALID_OPTION' });
    assert.throws(() => planServerTls('t', { sni: { 'irc.example.net': { ca: '-----BEGIN' } } }), { code: 'ERR_TLS_CONFIG' });
  });
});
