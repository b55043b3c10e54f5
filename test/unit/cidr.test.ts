import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import fc from 'fast-check';
import {
  CidrList,
  cidrContains,
  formatAddress,
  formatCidr,
  groupKey,
  normalizeAddress,
  parseAddress,
  parseCidr,
} from '../../src/admission/cidr.js';
import { IrcArgumentError } from '../../src/errors.js';

function invalidOption(label: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof IrcArgumentError);
    assert.equal(err.code, 'ERR_INVALID_OPTION');
    assert.match(err.message, label);
    return true;
  };
}

describe('parseAddress / formatAddress', () => {
  test('IPv4', () => {
    assert.deepEqual(parseAddress('192.0.2.7'), { family: 4, value: 0xc0000207n });
    assert.equal(normalizeAddress('0.0.0.0'), '0.0.0.0');
    assert.equal(normalizeAddress('255.255.255.255'), '255.255.255.255');
  });

  test('IPv6 canonical form (RFC 5952)', () => {
    assert.equal(normalizeAddress('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(normalizeAddress('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
    assert.equal(normalizeAddress('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
    assert.equal(normalizeAddress('::'), '::');
    assert.equal(normalizeAddress('::1'), '::1');
    assert.equal(normalizeAddress('1::'), '1::');
    assert.equal(normalizeAddress('fe80::1%eth0'), 'fe80::1');
    assert.equal(normalizeAddress('64:ff9b::192.0.2.1'), '64:ff9b::c000:201');
  });

  test('IPv4-mapped IPv6 is IPv4, in dotted and hex form', () => {
    assert.deepEqual(parseAddress('::ffff:192.0.2.7'), parseAddress('192.0.2.7'));
    assert.deepEqual(parseAddress('::FFFF:c000:0207'), parseAddress('192.0.2.7'));
    assert.equal(normalizeAddress('0:0:0:0:0:ffff:10.1.2.3'), '10.1.2.3');
    // Only ::ffff:0:0/96 is mapped; the deprecated IPv4-compatible form is not.
    assert.equal(parseAddress('::192.0.2.7')?.family, 6);
  });

  test('not an IP address', () => {
    for (const bad of ['', 'localhost', '/tmp/irc.sock', '1.2.3', '01.2.3.4', '1.2.3.4 ', '1::2::3', '12345::', '1.2.3.256']) {
      assert.equal(parseAddress(bad), undefined, bad);
    }
  });

  test('formatAddress round-trips', () => {
    for (const text of ['10.0.0.1', '2001:db8::', '2001:0:0:1::1', 'ff02::1:ff00:1']) {
      const ip = parseAddress(text);
      assert.ok(ip);
      assert.equal(formatAddress(ip), text);
    }
  });
});

describe('parseCidr', () => {
  test('IPv4 and IPv6 blocks, single addresses as full-length blocks', () => {
    assert.equal(formatCidr(parseCidr('10.0.0.0/8')), '10.0.0.0/8');
    assert.equal(formatCidr(parseCidr('192.0.2.7')), '192.0.2.7/32');
    assert.equal(formatCidr(parseCidr('2001:DB8::/32')), '2001:db8::/32');
    assert.equal(formatCidr(parseCidr('::1')), '::1/128');
    assert.equal(formatCidr(parseCidr('0.0.0.0/0')), '0.0.0.0/0');
    assert.equal(formatCidr(parseCidr('::/0')), '::/0');
    assert.equal(formatCidr(parseCidr(' 10.0.0.0/8 ')), '10.0.0.0/8');
  });

  test('a mapped block of /96 or longer is the IPv4 block it maps', () => {
    assert.deepEqual(parseCidr('::ffff:10.0.0.0/104'), parseCidr('10.0.0.0/8'));
    assert.deepEqual(parseCidr('::ffff:192.0.2.7'), parseCidr('192.0.2.7/32'));
    assert.deepEqual(parseCidr('::ffff:0.0.0.0/96'), parseCidr('0.0.0.0/0'));
  });

  test('invalid entries throw ERR_INVALID_OPTION naming the entry', () => {
    const cases: [string, RegExp][] = [
      ['10.0.0.0/33', /"10\.0\.0\.0\/33".*0 to 32/],
      ['2001:db8::/129', /0 to 128/],
      ['10.0.0.0/', /invalid prefix/],
      ['10.0.0.0/08', /invalid prefix/],
      ['10.0.0.0/+8', /invalid prefix/],
      ['10.0.0.0/8/8', /invalid prefix/],
      ['10.0.0/8', /not an IPv4 or IPv6/],
      ['example.com', /not an IPv4 or IPv6/],
      ['', /not an IPv4 or IPv6/],
      ['fe80::1%eth0/64', /zone/],
    ];
    for (const [entry, why] of cases) assert.throws(() => parseCidr(entry, 'deny[3]'), invalidOption(why), entry);
    assert.throws(() => parseCidr('10.0.0.0/33', 'deny[3]'), invalidOption(/^deny\[3\]: /));
  });

  test('host bits past the prefix are refused with both likely fixes', () => {
    assert.throws(() => parseCidr('10.0.0.1/8'), invalidOption(/"10\.0\.0\.0\/8".*"10\.0\.0\.1\/32"/));
    assert.throws(() => parseCidr('2001:db8::1/64'), invalidOption(/"2001:db8::\/64".*"2001:db8::1\/128"/));
  });
});

describe('matching', () => {
  test('cidrContains respects family and prefix', () => {
    const v4 = parseCidr('192.0.2.0/24');
    const v6 = parseCidr('2001:db8::/32');
    const ip = (text: string) => {
      const parsed = parseAddress(text);
      assert.ok(parsed);
      return parsed;
    };
    assert.ok(cidrContains(v4, ip('192.0.2.255')));
    assert.ok(cidrContains(v4, ip('::ffff:192.0.2.1')));
    assert.ok(!cidrContains(v4, ip('192.0.3.0')));
    assert.ok(cidrContains(v6, ip('2001:db8:ffff::1')));
    assert.ok(!cidrContains(v6, ip('2001:db9::1')));
    assert.ok(!cidrContains(parseCidr('::/0'), ip('192.0.2.1')), 'an IPv6 block never matches IPv4');
    assert.ok(cidrContains(parseCidr('0.0.0.0/0'), ip('::ffff:1.2.3.4')));
  });

  test('CidrList', () => {
    const list = new CidrList(['10.0.0.0/8', '192.0.2.7', '2001:db8::/48', '::ffff:172.16.0.0/108', '10.0.0.0/8']);
    assert.equal(list.size, 4, 'duplicates are stored once');
    assert.deepEqual(list.toJSON(), ['10.0.0.0/8', '192.0.2.7/32', '2001:db8::/48', '172.16.0.0/12']);
    for (const hit of ['10.255.0.1', '::ffff:10.1.1.1', '192.0.2.7', '2001:db8:0:ffff::9', '172.31.255.255', '::ffff:172.16.0.1']) {
      assert.ok(list.has(hit), hit);
    }
    for (const miss of ['11.0.0.1', '192.0.2.8', '2001:db8:1::1', '172.32.0.0', '::1', 'not-an-ip', '']) {
      assert.ok(!list.has(miss), miss);
    }
    assert.ok(!new CidrList().has('10.0.0.1'));
  });

  test('CidrList names the bad entry by index', () => {
    assert.throws(() => new CidrList(['10.0.0.0/8', 'nope'], 'allow'), invalidOption(/^allow\[1\]: "nope"/));
  });
});

describe('groupKey', () => {
  const key = (text: string, opts?: { ipv4Prefix?: number; ipv6Prefix?: number }) => {
    const ip = parseAddress(text);
    assert.ok(ip);
    return groupKey(ip, opts);
  };

  test('IPv4 by /32 and IPv6 by /64 by default', () => {
    assert.equal(key('203.0.113.7'), '203.0.113.7');
    assert.equal(key('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(key('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.notEqual(key('2001:db8:1:3::1'), key('2001:db8:1:2::1'));
  });

  test('mapped IPv6 groups with IPv4', () => {
    assert.equal(key('::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(key('::ffff:203.0.113.7', { ipv4Prefix: 24 }), '203.0.113.0/24');
  });

  test('configurable prefixes', () => {
    assert.equal(key('203.0.113.7', { ipv4Prefix: 24 }), '203.0.113.0/24');
    assert.equal(key('203.0.113.7', { ipv4Prefix: 0 }), '0.0.0.0/0');
    assert.equal(key('2001:db8:1:2::1', { ipv6Prefix: 48 }), '2001:db8:1::/48');
    assert.equal(key('2001:db8:1:2::1', { ipv6Prefix: 128 }), '2001:db8:1:2::1');
    assert.equal(key('fe80::1%eth0'), 'fe80::/64');
  });
});

describe('agreement with node:net', () => {
  const v6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 });

  test('any IPv6 address round-trips through its canonical form', () => {
    fc.assert(
      fc.property(v6, (groups) => {
        const text = groups.map((g) => g.toString(16)).join(':');
        const ip = parseAddress(text);
        assert.ok(ip);
        assert.deepEqual(parseAddress(formatAddress(ip)), ip);
      }),
      { numRuns: 300 },
    );
  });

  test('CidrList matches what net.BlockList matches', () => {
    const prefix = fc.integer({ min: 0, max: 128 });
    fc.assert(
      fc.property(v6, prefix, v6, (netGroups, len, addrGroups) => {
        // Let half the addresses share the network's leading groups, so hits are common.
        const addr = addrGroups.map((g, i) => (i < 4 && addrGroups[7]! % 2 === 0 ? netGroups[i]! : g));
        const netIp = parseAddress(netGroups.map((g) => g.toString(16)).join(':'));
        assert.ok(netIp);
        if (netIp.family !== 6) return;
        const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len);
        const network = formatAddress({ family: 6, value: netIp.value & mask });
        const addrText = addr.map((g) => g.toString(16)).join(':');
        const ours = new CidrList([`${network}/${len}`]).has(addrText);
        const node = new BlockList();
        node.addSubnet(network, len, 'ipv6');
        const addrIp = parseAddress(addrText);
        assert.ok(addrIp);
        // We deliberately differ for mapped addresses: they are IPv4 here.
        if (addrIp.family === 6) assert.equal(ours, node.check(addrText, 'ipv6'), `${network}/${len} ∋ ${addrText}`);
      }),
      { numRuns: 300 },
    );
  });
});
