import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SocketAddress } from 'node:net';
import fc from 'fast-check';
import {
  crc32c,
  encodeProxyHeader,
  PP2_TYPE,
  ProxyHeaderParser,
  type ProxyHeader,
  type ProxyHeaderInit,
  type ProxyHeaderParserOptions,
  type ProxySslInfo,
  type ProxyTlvs,
} from '../../src/transport/proxy/index.js';
import { IrcArgumentError, IrcProxyError, type IrcProxyCode } from '../../src/errors.js';

// --- helpers ---------------------------------------------------------------

const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');
/** Hex with any spacing, so vectors can be laid out like a hex dump. */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SIG = hex('0d0a 0d0a 000d 0a51 5549 540a');
const IRC = bytes('NICK alice\r\nUSER a 0 * :A\r\n');

function tlv(type: number, value: Buffer | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(v.length, 1);
  return Buffer.concat([head, v]);
}

/** A v2 header from its parts; `len` is computed unless given (to lie about it). */
function v2(verCmd: number, fam: number, body: Buffer, len = body.length): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = verCmd;
  fixed[1] = fam;
  fixed.writeUInt16BE(len, 2);
  return Buffer.concat([SIG, fixed, body]);
}

/** Bit-at-a-time CRC-32C, independent of the table-driven one under test. */
function crcReference(buf: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of buf) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Writes the right CRC into a header whose CRC32C value bytes start at `at` and are zero. */
function withCrc(header: Buffer, at: number): Buffer {
  const out = Buffer.from(header);
  out.writeUInt32BE(crcReference(out), at);
  return out;
}

interface Outcome {
  header: ProxyHeader;
  /** `rest` plus every chunk not fed: what the IRC side gets. */
  after: Buffer;
}

/** Feeds chunks until a header comes out; never feeds the parser again after that. */
function feed(chunks: readonly Buffer[], opts?: ProxyHeaderParserOptions, bound = Infinity): Outcome | undefined {
  const p = new ProxyHeaderParser(opts);
  for (let i = 0; i < chunks.length; i++) {
    const r = p.push(chunks[i]!);
    if (r !== undefined) {
      assert.equal(p.buffered, 0);
      return { header: r.header, after: Buffer.concat([r.rest, ...chunks.slice(i + 1)]) };
    }
    assert.ok(p.buffered <= bound, `holds ${p.buffered} bytes, more than ${bound}`);
  }
  return undefined;
}

function byteByByte(buf: Buffer): Buffer[] {
  return Array.from({ length: buf.length }, (_, i) => buf.subarray(i, i + 1));
}

/**
 * A valid header must give the same result fed whole, byte by byte and split
 * in two at every offset, with the IRC bytes after it intact every time.
 */
function accepts(wire: Buffer, expected: Omit<ProxyHeader, 'length'>, opts?: ProxyHeaderParserOptions): void {
  const want: ProxyHeader = { ...expected, length: wire.length };
  const stream = Buffer.concat([wire, IRC]);
  const bound = wire[0] === 0x0d ? wire.length : 107;
  const check = (out: Outcome | undefined, how: string): void => {
    assert.ok(out !== undefined, `no header (${how})`);
    assert.deepEqual(out.header, want, how);
    assert.deepEqual(out.after, IRC, how);
  };
  check(feed([stream], opts), 'whole');
  const alone = feed([wire], opts);
  assert.deepEqual(alone?.header, want, 'header alone');
  assert.deepEqual(alone.after, Buffer.alloc(0), 'header alone leaves nothing');
  check(feed(byteByByte(stream), opts, bound), 'byte by byte');
  for (let k = 0; k <= stream.length; k++) {
    check(feed([stream.subarray(0, k), stream.subarray(k)], opts, bound), `split at ${k}`);
  }
  // Byte by byte, the header comes out on its last byte and not before.
  const p = new ProxyHeaderParser(opts);
  for (let i = 0; i < wire.length - 1; i++) assert.equal(p.push(wire.subarray(i, i + 1)), undefined, `early at ${i}`);
  assert.ok(p.push(wire.subarray(-1)) !== undefined);
}

function isProxyError(code: IrcProxyCode, message?: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof IrcProxyError, String(err));
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  };
}

/**
 * A malformed header must throw fed whole, and fed byte by byte it must
 * throw on byte `at` exactly: not sooner, and not one byte later.
 */
function rejects(
  wire: Buffer,
  at: number,
  message?: RegExp,
  code: IrcProxyCode = 'ERR_PROXY_INVALID',
  opts?: ProxyHeaderParserOptions,
): void {
  assert.throws(() => feed([wire], opts), isProxyError(code, message), 'whole');
  const p = new ProxyHeaderParser(opts);
  for (let i = 0; i < wire.length; i++) {
    let thrown: unknown;
    try {
      assert.equal(p.push(wire.subarray(i, i + 1)), undefined);
    } catch (err) {
      thrown = err;
    }
    if (thrown !== undefined) {
      isProxyError(code, message)(thrown);
      assert.equal(i, at, `thrown on byte ${i}, expected byte ${at}: ${(thrown as Error).message}`);
      return;
    }
  }
  assert.fail(`never thrown byte by byte (expected on byte ${at})`);
}

const noTlvs = (): ProxyTlvs => ({ unknown: [] });

function v1Expect(
  family: 'inet' | 'inet6',
  src: [string, number],
  dst: [string, number],
): Omit<ProxyHeader, 'length'> {
  return {
    version: 1,
    command: 'proxy',
    family,
    transport: 'stream',
    source: { address: src[0], port: src[1] },
    destination: { address: dst[0], port: dst[1] },
    tlvs: noTlvs(),
  };
}

const V1_UNKNOWN: Omit<ProxyHeader, 'length'> = {
  version: 1,
  command: 'local',
  family: 'unspec',
  transport: 'unspec',
  source: undefined,
  destination: undefined,
  tlvs: noTlvs(),
};

// --- CRC32C ------------------------------------------------------------------

describe('crc32c', () => {
  test('known answers: the check value and the RFC 3720 §B.4 vectors', () => {
    assert.equal(crc32c(bytes('123456789')), 0xe3069283);
    assert.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa);
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i))), 0x46dd794e);
    assert.equal(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))), 0x113fdb5c);
    assert.equal(crc32c(Buffer.alloc(0)), 0);
  });

  test('a seed continues a checksum: crc(b, crc(a)) = crc(a + b)', () => {
    fc.assert(
      fc.property(fc.uint8Array(), fc.uint8Array(), (a, b) => {
        assert.equal(crc32c(b, crc32c(a)), crc32c(Buffer.concat([a, b])));
        assert.equal(crc32c(Buffer.concat([a, b])), crcReference(Buffer.concat([a, b])));
      }),
    );
  });
});

// --- v1 ----------------------------------------------------------------------

describe('PROXY v1', () => {
  test('TCP4', () => {
    accepts(
      bytes('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n'),
      v1Expect('inet', ['192.168.0.1', 56324], ['192.168.0.11', 443]),
    );
    accepts(
      bytes('PROXY TCP4 255.255.255.255 0.0.0.0 65535 0\r\n'),
      v1Expect('inet', ['255.255.255.255', 65535], ['0.0.0.0', 0]),
    );
  });

  test('TCP6, addresses in the form Node gives socket addresses', () => {
    accepts(
      bytes('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::ffff:10.0.0.1 6697 6667\r\n'),
      v1Expect('inet6', ['2001:db8::1', 6697], ['::ffff:10.0.0.1', 6667]),
    );
    const full = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const longest = bytes(`PROXY TCP6 ${full} ${full} 65535 65535\r\n`);
    assert.equal(longest.length, 104);
    accepts(longest, v1Expect('inet6', [full, 65535], [full, 65535]));
  });

  test('UNKNOWN, short and with the (ignored) rest of the line, up to 107 bytes', () => {
    accepts(bytes('PROXY UNKNOWN\r\n'), V1_UNKNOWN);
    const full = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const worst = bytes(`PROXY UNKNOWN ${full} ${full} 65535 65535\r\n`);
    assert.equal(worst.length, 107);
    accepts(worst, V1_UNKNOWN);
    accepts(bytes('PROXY UNKNOWN whatever \x01 is here\r\n'), V1_UNKNOWN);
  });

  test('plain IRC (or anything else) is refused on its first byte', () => {
    rejects(bytes('NICK a\r\n'), 0, /not a PROXY protocol header: it starts with 0x4e/);
    rejects(bytes('USER a 0 * :a\r\n'), 0);
    rejects(bytes('\x16\x03\x01\x02\x00'), 0); // a TLS ClientHello
    rejects(bytes('PASS secret\r\n'), 1); // shares the P
    rejects(bytes('PRIVMSG #a :hi\r\n'), 2);
    rejects(bytes('PROXYTCP4 1.2.3.4'), 5, /does not start with "PROXY "/);
  });

  test('an unknown protocol is refused on its first wrong byte', () => {
    rejects(bytes('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n'), 9, /unknown protocol "TCP5"/);
    rejects(bytes('PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n'), 6);
    rejects(bytes('PROXY UNKNOWNX\r\n'), 13);
    rejects(bytes('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), 7);
    rejects(bytes('PROXY TCP\r\n'), 9, /unknown protocol "TCP"/);
    rejects(bytes('PROXY \r\n'), 6);
  });

  test('the line must end with CRLF: a lone LF or a lone CR is refused', () => {
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), 30, /lone LF/);
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rNICK a\r\n'), 31, /CR not followed by LF/);
    rejects(bytes('PROXY UNKNOWN\n'), 13, /lone LF/);
    rejects(bytes('PROXY UNKNOWN junk\rjunk\r\n'), 19, /CR not followed by LF/);
  });

  test('no CRLF within 107 bytes', () => {
    rejects(bytes(`PROXY UNKNOWN ${'a'.repeat(200)}`), 106, /without CRLF within 107 bytes/);
    const line108 = bytes(`PROXY UNKNOWN ${'a'.repeat(92)}\r\n`);
    assert.equal(line108.length, 108);
    rejects(line108, 106, /within 107 bytes/);
    // The parser never holds more than 107 bytes, whatever one chunk carries.
    assert.throws(() => new ProxyHeaderParser().push(Buffer.alloc(100_000, 0x50)), isProxyError('ERR_PROXY_INVALID'));
    const p = new ProxyHeaderParser();
    assert.equal(p.push(bytes(`PROXY UNKNOWN ${'a'.repeat(92)}`)), undefined);
    assert.equal(p.buffered, 106);
  });

  test('addresses must be of the named family', () => {
    rejects(bytes('PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n'), 19, /source address "1\.2\.3\.256" is not an IPv4/);
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7 1 2\r\n'), 24, /destination address "5\.6\.7" is not an IPv4/);
    rejects(bytes('PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n'), 18);
    rejects(bytes('PROXY TCP4 1..2.3 5.6.7.8 1 2\r\n'), 13);
    rejects(bytes('PROXY TCP4 ::1 ::1 1 2\r\n'), 11);
    rejects(bytes('PROXY TCP6 1.2.3.4 ::1 1 2\r\n'), 18, /source address "1\.2\.3\.4" is not an IPv6/);
    rejects(bytes('PROXY TCP6 ::1 fe80::1%eth0 1 2\r\n'), 22);
    rejects(bytes('PROXY TCP6 ::1 1:::2 1 2\r\n'), 18);
    rejects(bytes('PROXY TCP6 1::2::3 ::1 1 2\r\n'), 16);
    rejects(bytes('PROXY TCP6 ::g ::1 1 2\r\n'), 13);
  });

  test('ports: decimal 0–65535, no sign, no leading zero', () => {
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n'), 31, /source port 65536 is out of range/);
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n'), 33, /destination port 99999 is out of range/);
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'), 28, /leading zero/);
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 00\r\n'), 30, /leading zero/);
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n'), 27, /not a decimal port/);
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 0x1\r\n'), 30);
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n'), 32);
  });

  test('fields: exactly one space between, exactly four after the protocol', () => {
    rejects(bytes('PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n'), 11, /empty: fields are separated by exactly one space/);
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n'), 30, /after the destination port/);
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), 28, /ends after 3 of 4 fields/);
    rejects(bytes('PROXY TCP4 1.2.3.4 5.6.7.8 1 \r\n'), 29, /empty/);
    rejects(bytes('PROXY TCP4\r\n'), 10, /ends after 0 of 4 fields/);
    rejects(bytes('PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n'), 18);
  });
});

// --- v2 ----------------------------------------------------------------------

const TCP4_BLOCK = hex('c0a80001 c0a8000b dc04 01bb'); // 192.168.0.1:56324 -> 192.168.0.11:443
const TCP6_BLOCK = hex(`
  20010db8 00000000 00000000 00000001
  00000000 00000000 0000ffff 0a000001
  1a0b 1a0a`); // [2001:db8::1]:6667 -> [::ffff:10.0.0.1]:6666

function unixBlock(src: Buffer, dst: Buffer): Buffer {
  const block = Buffer.alloc(216);
  src.copy(block, 0);
  dst.copy(block, 108);
  return block;
}

function v2Expect(over: Partial<ProxyHeader>): Omit<ProxyHeader, 'length'> {
  return {
    version: 2,
    command: 'proxy',
    family: 'inet',
    transport: 'stream',
    source: { address: '192.168.0.1', port: 56324 },
    destination: { address: '192.168.0.11', port: 443 },
    tlvs: noTlvs(),
    ...over,
  };
}

const NO_ENDPOINTS = { source: undefined, destination: undefined };
const LOCAL_UNSPEC = { command: 'local', family: 'unspec', transport: 'unspec', ...NO_ENDPOINTS } as const;

describe('PROXY v2: commands and families (hand-made bytes)', () => {
  test('TCP over IPv4, byte for byte', () => {
    const wire = hex('0d0a0d0a000d0a515549540a 21 11 000c c0a80001 c0a8000b dc04 01bb');
    accepts(wire, v2Expect({}));
  });

  test('UDP over IPv4', () => {
    accepts(v2(0x21, 0x12, TCP4_BLOCK), v2Expect({ transport: 'dgram' }));
  });

  test('TCP and UDP over IPv6', () => {
    const want = v2Expect({
      family: 'inet6',
      source: { address: '2001:db8::1', port: 6667 },
      destination: { address: '::ffff:10.0.0.1', port: 6666 },
    });
    accepts(v2(0x21, 0x21, TCP6_BLOCK), want);
    accepts(v2(0x21, 0x22, TCP6_BLOCK), { ...want, transport: 'dgram' });
  });

  test('UNIX stream and datagram: NUL-padded 108-byte paths, abstract names', () => {
    const block = unixBlock(bytes('/run/haproxy/client.sock'), bytes('/tmp/ircd.sock'));
    const want = v2Expect({
      family: 'unix',
      source: { path: '/run/haproxy/client.sock' },
      destination: { path: '/tmp/ircd.sock' },
    });
    accepts(v2(0x21, 0x31, block), want);
    accepts(v2(0x21, 0x32, block), { ...want, transport: 'dgram' });
    const full = 'p'.repeat(108); // no terminating NUL: the field is the whole path
    accepts(
      v2(0x21, 0x31, unixBlock(bytes('\0abstract'), bytes(full))),
      { ...want, source: { path: '\0abstract' }, destination: { path: full } },
    );
    accepts(v2(0x21, 0x31, Buffer.alloc(216)), { ...want, source: { path: '' }, destination: { path: '' } });
    rejects(v2(0x21, 0x31, unixBlock(hex('2f ff fe'), bytes('/x'))), 16 + 216 - 1, /unix source path is not valid UTF-8/);
  });

  test('LOCAL: a health check; the addresses, if any, are skipped', () => {
    accepts(hex('0d0a0d0a000d0a515549540a 20 00 0000'), v2Expect({ ...LOCAL_UNSPEC }));
    accepts(v2(0x20, 0x11, TCP4_BLOCK), v2Expect({ command: 'local', ...NO_ENDPOINTS }));
    accepts(
      v2(0x20, 0x00, tlv(0x05, 'id-1')),
      v2Expect({
        command: 'local',
        family: 'unspec',
        transport: 'unspec',
        ...NO_ENDPOINTS,
        tlvs: { uniqueId: bytes('id-1'), unknown: [] },
      }),
    );
  });

  test('PROXY with an unspecified family or transport: no endpoints, the real ones apply', () => {
    accepts(v2(0x21, 0x00, Buffer.alloc(0)), v2Expect({ family: 'unspec', transport: 'unspec', ...NO_ENDPOINTS }));
    // AF_UNSPEC has no address block: TLVs start right after the 16 bytes, as haproxy sends them.
    accepts(
      v2(0x21, 0x00, tlv(0xe0, 'x')),
      v2Expect({ family: 'unspec', transport: 'unspec', ...NO_ENDPOINTS, tlvs: { unknown: [{ type: 0xe0, value: bytes('x') }] } }),
    );
    accepts(v2(0x21, 0x10, TCP4_BLOCK), v2Expect({ transport: 'unspec', ...NO_ENDPOINTS }));
  });

  test('a wrong signature byte is refused on that byte', () => {
    for (let i = 1; i < 12; i++) {
      const wire = Buffer.from(v2(0x21, 0x11, TCP4_BLOCK));
      wire[i]! ^= 0x20;
      rejects(wire, i, new RegExp(`byte ${i} of the signature`));
    }
    rejects(bytes('\r\nNICK a\r\n'), 2, /signature/);
  });

  test('version must be 2, command LOCAL or PROXY', () => {
    rejects(v2(0x11, 0x11, TCP4_BLOCK), 12, /unsupported version 1/);
    rejects(v2(0x31, 0x11, TCP4_BLOCK), 12, /unsupported version 3/);
    rejects(v2(0x01, 0x11, TCP4_BLOCK), 12, /unsupported version 0/);
    rejects(v2(0x22, 0x11, TCP4_BLOCK), 12, /unknown command 0x2/);
    rejects(v2(0x2f, 0x11, TCP4_BLOCK), 12, /unknown command 0xf/);
  });

  test('family 0–3 and transport 0–2 only', () => {
    rejects(v2(0x21, 0x41, TCP4_BLOCK), 13, /unknown address family 0x4/);
    rejects(v2(0x21, 0xf1, TCP4_BLOCK), 13, /unknown address family 0xf/);
    rejects(v2(0x21, 0x13, TCP4_BLOCK), 13, /unknown transport protocol 0x3/);
    rejects(v2(0x20, 0x44, Buffer.alloc(0)), 13, /unknown address family/);
  });

  test('the length must cover the family address block: refused on the length byte', () => {
    rejects(v2(0x21, 0x11, TCP4_BLOCK.subarray(0, 11)), 15, /11 bytes after the fixed header, too few for an inet address block \(12\)/);
    rejects(v2(0x21, 0x21, TCP6_BLOCK.subarray(0, 35)), 15, /too few for an inet6 address block \(36\)/);
    rejects(v2(0x21, 0x31, Buffer.alloc(215)), 15, /too few for an unix address block \(216\)/);
    rejects(v2(0x20, 0x11, Buffer.alloc(0)), 15, /too few/);
  });

  test('exactly 16 + len bytes are consumed, and no more are held', () => {
    const wire = v2(0x21, 0x11, Buffer.concat([TCP4_BLOCK, tlv(0xe0, 'x')]));
    const p = new ProxyHeaderParser();
    assert.equal(p.push(wire.subarray(0, 20)), undefined);
    assert.equal(p.buffered, 20);
    const r = p.push(Buffer.concat([wire.subarray(20), IRC]));
    assert.equal(r?.header.length, 16 + 12 + 4);
    assert.deepEqual(r.rest, IRC);
    assert.equal(p.buffered, 0);
  });

  test('maxV2Length refuses a longer header as soon as its length is read', () => {
    const body = Buffer.concat([TCP4_BLOCK, tlv(0x04, Buffer.alloc(100))]);
    const opts = { maxV2Length: 100 };
    rejects(v2(0x21, 0x11, body), 15, /header of 131 bytes is over the limit of 100/, 'ERR_PROXY_INVALID', opts);
    accepts(v2(0x21, 0x11, TCP4_BLOCK), v2Expect({}), opts);
    accepts(v2(0x21, 0x11, body), v2Expect({}), { maxV2Length: 131 });
    for (const bad of [15, 65552, 1.5, Number.NaN]) {
      assert.throws(
        () => new ProxyHeaderParser({ maxV2Length: bad }),
        (err: unknown) => err instanceof IrcArgumentError && err.code === 'ERR_INVALID_OPTION',
      );
    }
  });
});

describe('PROXY v2: TLVs', () => {
  const SSL_VALUE = Buffer.concat([
    hex('07 00000000'),
    tlv(0x21, 'TLSv1.3'),
    tlv(0x22, 'Zoë Example'),
    tlv(0x23, 'TLS_AES_256_GCM_SHA384'),
    tlv(0x24, 'RSA-SHA256'),
    tlv(0x25, 'RSA2048'),
    tlv(0x26, hex('abcd')),
  ]);
  const SSL_INFO: ProxySslInfo = {
    client: 7,
    ssl: true,
    certConn: true,
    certSess: true,
    verify: 0,
    verified: true,
    version: 'TLSv1.3',
    cn: 'Zoë Example',
    cipher: 'TLS_AES_256_GCM_SHA384',
    sigAlg: 'RSA-SHA256',
    keyAlg: 'RSA2048',
    unknown: [{ type: 0x26, value: hex('abcd') }],
  };

  test('every known type, NOOP skipped, unknown types kept raw in order', () => {
    const body = Buffer.concat([
      TCP4_BLOCK,
      tlv(0x01, 'irc'),
      tlv(0x02, 'irc.exämple.net'),
      tlv(0x04, Buffer.alloc(5)),
      tlv(0x05, Buffer.alloc(128, 0x61)),
      tlv(0xe0, 'custom'),
      tlv(0x20, SSL_VALUE),
      tlv(0x30, 'blue'),
      tlv(0xf0, Buffer.alloc(0)),
      tlv(0xe0, 'again'),
    ]);
    accepts(
      v2(0x21, 0x11, body),
      v2Expect({
        tlvs: {
          alpn: bytes('irc'),
          authority: 'irc.exämple.net',
          uniqueId: Buffer.alloc(128, 0x61),
          ssl: SSL_INFO,
          netns: 'blue',
          unknown: [
            { type: 0xe0, value: bytes('custom') },
            { type: 0xf0, value: Buffer.alloc(0) },
            { type: 0xe0, value: bytes('again') },
          ],
        },
      }),
    );
  });

  test('SSL: flags and verification', () => {
    const ssl = (client: number, verify: number): Partial<ProxySslInfo> | undefined => {
      const value = Buffer.alloc(5);
      value[0] = client;
      value.writeUInt32BE(verify, 1);
      const out = feed([v2(0x21, 0x11, Buffer.concat([TCP4_BLOCK, tlv(0x20, value)]))]);
      return out?.header.tlvs.ssl;
    };
    assert.deepEqual(ssl(0x01, 0), { client: 1, ssl: true, certConn: false, certSess: false, verify: 0, verified: false, unknown: [] });
    assert.equal(ssl(0x03, 0)?.verified, true);
    assert.equal(ssl(0x05, 0)?.verified, true);
    assert.equal(ssl(0x03, 18)?.verified, false);
    assert.equal(ssl(0x03, 18)?.verify, 18);
    assert.equal(ssl(0xff, 0xffffffff)?.verify, 0xffffffff);
    assert.equal(ssl(0xff, 0)?.client, 0xff);
  });

  test('CRC32C: a good checksum is accepted and reported', () => {
    // CRC32C first, then a TLV after it, so the zeroed window sits mid-header.
    const zeroed = v2(0x21, 0x11, Buffer.concat([TCP4_BLOCK, tlv(0x03, Buffer.alloc(4)), tlv(0x02, 'irc.example')]));
    const wire = withCrc(zeroed, 16 + 12 + 3);
    const crc = wire.readUInt32BE(16 + 12 + 3);
    accepts(wire, v2Expect({ tlvs: { crc32c: crc, authority: 'irc.example', unknown: [] } }));
    // LOCAL headers carry one too (haproxy's health checks may).
    const local = withCrc(v2(0x20, 0x00, tlv(0x03, Buffer.alloc(4))), 19);
    accepts(local, v2Expect({ ...LOCAL_UNSPEC, tlvs: { crc32c: local.readUInt32BE(19), unknown: [] } }));
  });

  test('CRC32C: a bad checksum, or any corrupted byte, is ERR_PROXY_CRC', () => {
    const zeroed = v2(0x21, 0x11, Buffer.concat([TCP4_BLOCK, tlv(0x03, Buffer.alloc(4)), tlv(0x30, 'blue')]));
    const good = withCrc(zeroed, 31);
    const wrong = Buffer.from(good);
    wrong[34]! ^= 1;
    rejects(wrong, wrong.length - 1, /CRC32C mismatch/, 'ERR_PROXY_CRC');
    rejects(zeroed, zeroed.length - 1, /CRC32C mismatch: the header says 0x0/, 'ERR_PROXY_CRC');
    // Corrupt addresses or TLV text: the checksum catches it before the text is judged.
    for (const at of [16, 27, 38]) {
      const bad = Buffer.from(good);
      bad[at]! ^= 0x80;
      rejects(bad, bad.length - 1, /CRC32C mismatch/, 'ERR_PROXY_CRC');
    }
  });

  test('CRC32C must be 4 bytes and appear once', () => {
    rejects(v2(0x21, 0x11, Buffer.concat([TCP4_BLOCK, tlv(0x03, Buffer.alloc(3))])), 33, /CRC32C TLV of 3 bytes, 4 expected/);
    rejects(
      v2(0x21, 0x11, Buffer.concat([TCP4_BLOCK, tlv(0x03, Buffer.alloc(4)), tlv(0x03, Buffer.alloc(4))])),
      41,
      /more than one CRC32C/,
    );
  });

  test('a truncated TLV is refused', () => {
    const end = (body: Buffer): number => 16 + body.length - 1;
    const cut = Buffer.concat([TCP4_BLOCK, hex('01 0009 6972 63')]);
    rejects(v2(0x21, 0x11, cut), end(cut), /truncated TLV 0x1 at byte 28: 9 value bytes announced, 3 left/);
    const stub = Buffer.concat([TCP4_BLOCK, tlv(0xe0, 'x'), hex('02 00')]);
    rejects(v2(0x21, 0x11, stub), end(stub), /truncated TLV at byte 32: 2 of its 3 header bytes/);
    const one = Buffer.concat([TCP4_BLOCK, hex('04')]);
    rejects(v2(0x21, 0x11, one), end(one), /truncated TLV/);
    const sub = Buffer.concat([TCP4_BLOCK, tlv(0x20, Buffer.concat([hex('01 00000000'), hex('21 0010 544c53')]))]);
    rejects(v2(0x21, 0x11, sub), end(sub), /truncated SSL sub-TLV 0x21 at byte 36/);
  });

  test('value rules: UNIQUE_ID ≤ 128, SSL ≥ 5 bytes, text encodings, no repeats', () => {
    const refuse = (tlvs: Buffer, message: RegExp): void => {
      const body = Buffer.concat([TCP4_BLOCK, tlvs]);
      rejects(v2(0x21, 0x11, body), 16 + body.length - 1, message);
    };
    refuse(tlv(0x05, Buffer.alloc(129)), /UNIQUE_ID TLV of 129 bytes, at most 128/);
    refuse(tlv(0x20, hex('01 000000')), /SSL TLV of 4 bytes, at least 5 needed/);
    refuse(tlv(0x02, hex('c3 28')), /AUTHORITY TLV is not UTF-8/);
    refuse(tlv(0x30, bytes('bl\xfce')), /NETNS TLV is not US-ASCII/);
    refuse(tlv(0x20, Buffer.concat([hex('01 00000000'), tlv(0x23, bytes('\xe9'))])), /SSL CIPHER TLV is not US-ASCII/);
    refuse(tlv(0x20, Buffer.concat([hex('01 00000000'), tlv(0x22, hex('ff'))])), /SSL CN TLV is not UTF-8/);
    refuse(Buffer.concat([tlv(0x01, 'a'), tlv(0x01, 'b')]), /more than one ALPN TLV/);
    refuse(Buffer.concat([tlv(0x20, hex('01 00000000')), tlv(0x20, hex('01 00000000'))]), /more than one SSL TLV/);
    refuse(tlv(0x20, Buffer.concat([hex('01 00000000'), tlv(0x21, 'a'), tlv(0x21, 'b')])), /more than one SSL VERSION TLV/);
    // NOOP and unknown types may repeat.
    const ok = feed([v2(0x21, 0x11, Buffer.concat([TCP4_BLOCK, tlv(0x04, ''), tlv(0x04, ''), tlv(0xee, ''), tlv(0xee, '')]))]);
    assert.equal(ok?.header.tlvs.unknown.length, 2);
  });

  test('v1 and v2 on one parser type: told apart by the first byte', () => {
    assert.equal(feed([bytes('PROXY UNKNOWN\r\n')])?.header.version, 1);
    assert.equal(feed([v2(0x20, 0x00, Buffer.alloc(0))])?.header.version, 2);
  });
});

describe('ProxyHeaderParser lifecycle', () => {
  test('empty chunks change nothing', () => {
    const p = new ProxyHeaderParser();
    assert.equal(p.push(Buffer.alloc(0)), undefined);
    assert.equal(p.push(bytes('PROXY')), undefined);
    assert.equal(p.push(Buffer.alloc(0)), undefined);
    assert.equal(p.buffered, 5);
    assert.equal(p.push(bytes(' UNKNOWN\r\n'))?.header.length, 15);
  });

  test('feeding it after the header is a programming error', () => {
    const p = new ProxyHeaderParser();
    assert.ok(p.push(bytes('PROXY UNKNOWN\r\n')));
    assert.throws(() => p.push(IRC), (err: unknown) => err instanceof IrcArgumentError && err.code === 'ERR_INVALID_ARG');
  });

  test('after a refusal it keeps refusing, with the same error', () => {
    const p = new ProxyHeaderParser();
    let first: unknown;
    assert.throws(() => p.push(bytes('NICK a\r\n')), (err: unknown) => ((first = err), true));
    assert.equal(p.buffered, 0);
    assert.throws(() => p.push(bytes('PROXY UNKNOWN\r\n')), (err: unknown) => err === first);
  });

  test('rest is what followed the header in the same chunk, byte for byte', () => {
    const r = new ProxyHeaderParser().push(Buffer.concat([bytes('PROXY UNKNOWN\r\n'), hex('00 0d 0a ff')]));
    assert.deepEqual(r?.rest, hex('00 0d 0a ff'));
  });
});

// --- encoder -----------------------------------------------------------------

function invalidOption(message: RegExp) {
  return (err: unknown): boolean => {
    assert.ok(err instanceof IrcArgumentError);
    assert.equal(err.code, 'ERR_INVALID_OPTION');
    assert.match(err.message, message);
    return true;
  };
}

/** Encodes, then parses the result whole, byte by byte and split everywhere. */
const roundTrip = (init: ProxyHeaderInit): ProxyHeader => {
  const wire = encodeProxyHeader(init);
  const out = feed([Buffer.concat([wire, IRC])]);
  assert.ok(out);
  assert.deepEqual(out.after, IRC);
  assert.equal(out.header.length, wire.length);
  accepts(wire, out.header);
  return out.header;
};

describe('encodeProxyHeader v1', () => {
  test('TCP4, TCP6 (canonical), UNKNOWN', () => {
    const v4 = { version: 1, source: { address: '203.0.113.7', port: 50000 }, destination: { address: '192.0.2.1', port: 6697 } } as const;
    assert.equal(encodeProxyHeader(v4).toString('latin1'), 'PROXY TCP4 203.0.113.7 192.0.2.1 50000 6697\r\n');
    const v6 = { version: 1, source: { address: '2001:DB8:0:0:0:0:0:7', port: 1 }, destination: { address: '::1', port: 0 } } as const;
    assert.equal(encodeProxyHeader(v6).toString('latin1'), 'PROXY TCP6 2001:db8::7 ::1 1 0\r\n');
    assert.equal(encodeProxyHeader({ version: 1 }).toString('latin1'), 'PROXY UNKNOWN\r\n');
    assert.equal(encodeProxyHeader({ ...v4, command: 'local' }).toString('latin1'), 'PROXY UNKNOWN\r\n');
  });

  test('round trips', () => {
    assert.deepEqual(
      roundTrip({ version: 1, source: { address: '203.0.113.7', port: 50000 }, destination: { address: '192.0.2.1', port: 6697 } }),
      { ...v1Expect('inet', ['203.0.113.7', 50000], ['192.0.2.1', 6697]), length: 45 },
    );
    assert.deepEqual(roundTrip({ version: 1 }), { ...V1_UNKNOWN, length: 15 });
    fc.assert(
      fc.property(fc.ipV6(), fc.ipV6(), fc.nat(65535), fc.nat(65535), (a, b, pa, pb) => {
        const h = roundTrip({ version: 1, source: { address: a, port: pa }, destination: { address: b, port: pb } });
        const norm = (x: string): string => new SocketAddress({ address: x, family: 'ipv6' }).address;
        assert.deepEqual(h.source, { address: norm(a), port: pa });
        assert.deepEqual(h.destination, { address: norm(b), port: pb });
      }),
    );
  });

  test('what v1 cannot say is refused', () => {
    const v4 = { address: '192.0.2.1', port: 1 };
    const v6 = { address: '2001:db8::1', port: 1 };
    assert.throws(() => encodeProxyHeader({ version: 1, source: v4, destination: v6 }), invalidOption(/both must be of one family/));
    assert.throws(() => encodeProxyHeader({ version: 1, source: { path: '/a' }, destination: { path: '/b' } }), invalidOption(/unix/));
    assert.throws(() => encodeProxyHeader({ version: 1, source: v4 }), invalidOption(/both source and destination, or neither/));
    assert.throws(() => encodeProxyHeader({ version: 1, tlvs: { authority: 'x' } }), invalidOption(/need version 2/));
    assert.throws(() => encodeProxyHeader({ version: 1, crc32c: true }), invalidOption(/need version 2/));
    assert.throws(
      () => encodeProxyHeader({ version: 1, source: v4, destination: v4, transport: 'dgram' }),
      invalidOption(/only carries TCP/),
    );
  });

  test('bad endpoints and options are refused', () => {
    const ok = { address: '192.0.2.1', port: 1 };
    for (const bad of [
      { address: '192.0.2.1', port: 65536 },
      { address: '192.0.2.1', port: -1 },
      { address: '192.0.2.1', port: 1.5 },
      { address: 'irc.example.net', port: 1 },
      { address: '01.2.3.4', port: 1 },
      { address: 'fe80::1%eth0', port: 1 },
    ]) {
      assert.throws(() => encodeProxyHeader({ version: 2, source: bad, destination: ok }), invalidOption(/source\.(port|address)/));
    }
    assert.throws(() => encodeProxyHeader({ version: 3 } as unknown as ProxyHeaderInit), invalidOption(/version must be 1 or 2, got 3/));
    assert.throws(() => encodeProxyHeader({ version: 2, command: 'health' } as unknown as ProxyHeaderInit), invalidOption(/command/));
  });
});

describe('encodeProxyHeader v2', () => {
  const v4 = { source: { address: '192.168.0.1', port: 56324 }, destination: { address: '192.168.0.11', port: 443 } };

  test('byte-exact against hand-made headers', () => {
    assert.deepEqual(encodeProxyHeader({ version: 2, ...v4 }), hex('0d0a0d0a000d0a515549540a 21 11 000c c0a80001 c0a8000b dc04 01bb'));
    assert.deepEqual(encodeProxyHeader({ version: 2 }), hex('0d0a0d0a000d0a515549540a 20 00 0000'));
    assert.deepEqual(
      encodeProxyHeader({
        version: 2,
        source: { address: '2001:db8::1', port: 6667 },
        destination: { address: '::ffff:10.0.0.1', port: 6666 },
        transport: 'dgram',
      }),
      v2(0x21, 0x22, TCP6_BLOCK),
    );
    assert.deepEqual(
      encodeProxyHeader({ version: 2, ...v4, tlvs: { alpn: 'irc', authority: 'irc.example' } }),
      v2(0x21, 0x11, Buffer.concat([TCP4_BLOCK, tlv(0x01, 'irc'), tlv(0x02, 'irc.example')])),
    );
    const withCrcTlv = encodeProxyHeader({ version: 2, ...v4, tlvs: { authority: 'irc.example', netns: 'blue' }, crc32c: true });
    const zeroed = v2(0x21, 0x11, Buffer.concat([TCP4_BLOCK, tlv(0x02, 'irc.example'), tlv(0x03, Buffer.alloc(4)), tlv(0x30, 'blue')]));
    assert.deepEqual(withCrcTlv, withCrc(zeroed, 16 + 12 + 14 + 3));
  });

  test('round trips: every family, LOCAL, every TLV, CRC32C', () => {
    assert.deepEqual(roundTrip({ version: 2, ...v4 }), { ...v2Expect({}), length: 28 });
    assert.deepEqual(roundTrip({ version: 2, ...v4, command: 'local' }), {
      ...v2Expect({ ...LOCAL_UNSPEC }),
      length: 16,
    });
    assert.deepEqual(roundTrip({ version: 2, command: 'proxy' }), {
      ...v2Expect({ family: 'unspec', transport: 'unspec', ...NO_ENDPOINTS }),
      length: 16,
    });
    const unix = roundTrip({ version: 2, source: { path: '/run/a.sock' }, destination: { path: '\0ircd' }, transport: 'dgram' });
    assert.deepEqual(
      [unix.family, unix.transport, unix.source, unix.destination],
      ['unix', 'dgram', { path: '/run/a.sock' }, { path: '\0ircd' }],
    );

    const h = roundTrip({
      version: 2,
      source: { address: '2001:db8::7', port: 1 },
      destination: { address: '2001:db8::1', port: 6697 },
      tlvs: {
        alpn: Buffer.from('irc'),
        authority: 'irc.exämple.net',
        uniqueId: Buffer.alloc(128, 7),
        netns: 'blue',
        ssl: {
          certConn: true,
          verify: 0,
          version: 'TLSv1.3',
          cn: 'Zoë',
          cipher: 'TLS_AES_128_GCM_SHA256',
          sigAlg: 'ECDSA-SHA256',
          keyAlg: 'EC256',
          raw: [{ type: 0x26, value: hex('01') }],
        },
        raw: [{ type: 0xe1, value: hex('0203') }, { type: PP2_TYPE.NOOP, value: Buffer.alloc(2) }],
      },
      crc32c: true,
    });
    assert.equal(h.family, 'inet6');
    assert.equal(typeof h.tlvs.crc32c, 'number');
    assert.deepEqual({ ...h.tlvs, crc32c: 0 }, {
      alpn: bytes('irc'),
      authority: 'irc.exämple.net',
      crc32c: 0,
      uniqueId: Buffer.alloc(128, 7),
      netns: 'blue',
      ssl: {
        client: 3,
        ssl: true,
        certConn: true,
        certSess: false,
        verify: 0,
        verified: true,
        version: 'TLSv1.3',
        cn: 'Zoë',
        cipher: 'TLS_AES_128_GCM_SHA256',
        sigAlg: 'ECDSA-SHA256',
        keyAlg: 'EC256',
        unknown: [{ type: 0x26, value: hex('01') }],
      },
      unknown: [{ type: 0xe1, value: hex('0203') }],
    });
  });

  test('SSL defaults vouch for nothing: verify 1, only PP2_CLIENT_SSL set', () => {
    const ssl = roundTrip({ version: 2, ...v4, tlvs: { ssl: {} } }).tlvs.ssl;
    assert.deepEqual(ssl, { client: 1, ssl: true, certConn: false, certSess: false, verify: 1, verified: false, unknown: [] });
    assert.equal(roundTrip({ version: 2, ...v4, tlvs: { ssl: { client: 0xff, ssl: false, certSess: true } } }).tlvs.ssl?.client, 0xfe);
  });

  test('crc32c: true makes any corruption detectable', () => {
    const wire = encodeProxyHeader({ version: 2, ...v4, tlvs: { uniqueId: Buffer.from('x') }, crc32c: true });
    // All but the CRC TLV's own type byte: turned into another type, it takes the checksum with it.
    for (let i = 16; i < wire.length; i++) {
      if (i === 28) continue;
      const bad = Buffer.from(wire);
      bad[i]! ^= 0x01;
      assert.throws(() => feed([bad]), (err: unknown) => err instanceof IrcProxyError, `byte ${i}`);
    }
  });

  test('what v2 cannot carry is refused', () => {
    const raw = (...sizes: number[]) => ({ raw: sizes.map((n, i) => ({ type: 0xe0 + i, value: Buffer.alloc(n) })) });
    const cases: [Omit<ProxyHeaderInit, 'version'>, RegExp][] = [
      [{ ...v4, tlvs: { uniqueId: Buffer.alloc(129) } }, /uniqueId is 129 bytes/],
      [{ ...v4, tlvs: { netns: 'blå' } }, /netns must be US-ASCII/],
      [{ ...v4, tlvs: { ssl: { cipher: 'é' } } }, /ssl\.cipher must be US-ASCII/],
      [{ ...v4, tlvs: { raw: [{ type: 256, value: Buffer.alloc(0) }] } }, /type must be a byte/],
      [{ ...v4, tlvs: raw(65536) }, /at most 65535/],
      [{ ...v4, tlvs: raw(65000, 1000) }, /must fit in 65535/],
      [{ ...v4, tlvs: { alpn: 'irc', raw: [{ type: 0x01, value: Buffer.alloc(1) }] } }, /repeats/],
      [{ ...v4, tlvs: { raw: [{ type: 0x03, value: Buffer.alloc(4) }] }, crc32c: true }, /CRC32C/],
      [{ source: { path: 'x'.repeat(109) }, destination: { path: '/b' } }, /109 bytes, at most 108/],
      [{ source: { path: '/a\0b' }, destination: { path: '/b' } }, /NUL/],
      [{ source: { path: '/a' }, destination: v4.destination }, /one family/],
    ];
    for (const [init, message] of cases) {
      assert.throws(() => encodeProxyHeader({ version: 2, ...init }), invalidOption(message), String(message));
    }
  });
});
