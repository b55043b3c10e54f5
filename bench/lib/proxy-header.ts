/**
 * PROXY protocol headers for the load generator, written here from the spec
 * (haproxy's proxy-protocol.txt) rather than with the library's own encoder,
 * so the bench does not rely on the code it measures to talk to it: v1 (text)
 * and v2 (binary, PROXY command, STREAM over INET or INET6), no TLVs.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** The 12-byte v2 signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Version 2, command PROXY. */
const V2_PROXY = 0x21;
/** Address family and transport: AF_INET or AF_INET6, SOCK_STREAM. */
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;

export interface HeaderEndpoint {
  address: string;
  port: number;
}

/** The header announcing a TCP client `source` that connected to `destination` (both of one family). */
export function proxyHeader(version: 1 | 2, source: HeaderEndpoint, destination: HeaderEndpoint): Buffer {
  const v6 = isIPv6(source.address);
  if (v6 !== isIPv6(destination.address) || (!v6 && (!isIPv4(source.address) || !isIPv4(destination.address)))) {
    throw new Error(`PROXY header: ${source.address} and ${destination.address} must be IP addresses of one family`);
  }
  if (version === 1) {
    return Buffer.from(`PROXY ${v6 ? 'TCP6' : 'TCP4'} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`, 'latin1');
  }
  const addrLen = v6 ? 16 : 4;
  const bodyLen = 2 * addrLen + 4;
  const out = Buffer.alloc(V2_SIGNATURE.length + 4 + bodyLen);
  V2_SIGNATURE.copy(out, 0);
  let p = V2_SIGNATURE.length;
  out[p++] = V2_PROXY;
  out[p++] = v6 ? V2_TCP6 : V2_TCP4;
  out.writeUInt16BE(bodyLen, p);
  p += 2;
  const put = v6 ? ipv6Bytes : ipv4Bytes;
  put(source.address).copy(out, p);
  p += addrLen;
  put(destination.address).copy(out, p);
  p += addrLen;
  out.writeUInt16BE(source.port, p);
  out.writeUInt16BE(destination.port, p + 2);
  return out;
}

function ipv4Bytes(a: string): Buffer {
  return Buffer.from(a.split('.').map(Number));
}

function ipv6Bytes(a: string): Buffer {
  let text = a;
  // A trailing dotted quad (::ffff:127.0.0.1) stands for the last two groups.
  const tail: number[] = [];
  const quad = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad !== null) {
    const v4 = ipv4Bytes(quad[2] as string);
    tail.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
    const head = quad[1] as string;
    text = head.endsWith('::') ? head : head.slice(0, -1);
  }
  const halves = text.split('::');
  if (halves.length > 2) throw new Error(`PROXY header: cannot read IPv6 address ${a}`);
  const parse = (s: string | undefined): number[] => (s === undefined || s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const left = parse(halves[0]);
  const right = [...parse(halves[1]), ...tail];
  const zeros = halves.length === 2 ? 8 - left.length - right.length : 0;
  const groups = [...left, ...new Array<number>(Math.max(0, zeros)).fill(0), ...right];
  if (groups.length !== 8 || groups.some((g) => !Number.isInteger(g) || g < 0 || g > 0xffff)) {
    throw new Error(`PROXY header: cannot read IPv6 address ${a}`);
  }
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}
