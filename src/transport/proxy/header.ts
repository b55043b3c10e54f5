/**
 * What a PROXY protocol header (haproxy's doc/proxy-protocol.txt, v1 and v2)
 * says, and the wire constants the parser and the encoder share.
 */

/** An IP endpoint the proxy reports. */
export interface ProxyInetEndpoint {
  /**
   * IPv4 as a dotted quad; IPv6 the way Node reports socket addresses
   * (lower case, `::` compressed, `::ffff:a.b.c.d` for mapped IPv4), so it
   * compares equal to a `socket.remoteAddress` for the same peer.
   */
  address: string;
  /** 0–65535. */
  port: number;
}

/** A Unix socket endpoint the proxy reports (v2 `AF_UNIX` only). */
export interface ProxyUnixEndpoint {
  /** The socket path; a Linux abstract name starts with `'\0'`, as Node writes them; `''` is unnamed. */
  path: string;
}

export type ProxyEndpoint = ProxyInetEndpoint | ProxyUnixEndpoint;

/** A TLV kept as it came: an unknown type, or an unknown SSL sub-type. */
export interface ProxyTlvRaw {
  /** The type byte, 0–255. */
  type: number;
  /** The value bytes (a copy: it does not pin the connection's buffers). */
  value: Buffer;
}

/** The `PP2_TYPE_SSL` TLV: how the client reached the proxy over TLS. */
export interface ProxySslInfo {
  /** The raw `client` flag byte (`PP2_CLIENT.*` bits), unknown bits included. */
  client: number;
  /** `PP2_CLIENT_SSL`: the client connected over SSL/TLS. */
  ssl: boolean;
  /** `PP2_CLIENT_CERT_CONN`: the client sent a certificate on this connection. */
  certConn: boolean;
  /** `PP2_CLIENT_CERT_SESS`: the client sent a certificate at least once in this TLS session. */
  certSess: boolean;
  /** The raw `verify` field: 0 when a presented certificate was verified, non-zero otherwise. */
  verify: number;
  /**
   * A client certificate was presented (`certConn` or `certSess`) and verified
   * (`verify` is 0). `verify` alone is not enough: a proxy may leave it 0 when
   * no certificate was sent at all.
   */
  verified: boolean;
  /** `PP2_SUBTYPE_SSL_VERSION`: the TLS version, e.g. `TLSv1.3`. */
  version?: string;
  /** `PP2_SUBTYPE_SSL_CN`: the Common Name of the client certificate's subject. */
  cn?: string;
  /** `PP2_SUBTYPE_SSL_CIPHER`: e.g. `ECDHE-RSA-AES128-GCM-SHA256`. */
  cipher?: string;
  /** `PP2_SUBTYPE_SSL_SIG_ALG`: the algorithm that signed the proxy's own certificate, e.g. `RSA-SHA256`. */
  sigAlg?: string;
  /** `PP2_SUBTYPE_SSL_KEY_ALG`: the key algorithm of the proxy's own certificate, e.g. `RSA2048`. */
  keyAlg?: string;
  /** Sub-TLVs of types this module does not know (newer haproxy adds some), in wire order. */
  unknown: ProxyTlvRaw[];
}

/** The v2 TLVs, decoded. Each known type appears at most once (a repeat is refused). */
export interface ProxyTlvs {
  /** `PP2_TYPE_ALPN`: the protocol the client negotiated with the proxy, as raw bytes. */
  alpn?: Buffer;
  /** `PP2_TYPE_AUTHORITY`: the host name the client asked for (TLS SNI, usually). */
  authority?: string;
  /** `PP2_TYPE_CRC32C`: the checksum the header carried; it has been verified. */
  crc32c?: number;
  /** `PP2_TYPE_UNIQUE_ID`: the proxy's opaque id for the connection (≤ 128 bytes), to correlate logs. */
  uniqueId?: Buffer;
  /** `PP2_TYPE_SSL`: TLS details of the client's connection to the proxy. */
  ssl?: ProxySslInfo;
  /** `PP2_TYPE_NETNS`: the network namespace the proxy accepted the connection in. */
  netns?: string;
  /** TLVs of types this module does not know (custom 0xE0–0xEF and others), in wire order. */
  unknown: ProxyTlvRaw[];
}

/** A complete, valid PROXY header. */
export interface ProxyHeader {
  /** 1: the text line; 2: the binary header. */
  version: 1 | 2;
  /**
   * `'local'`: v2 LOCAL or v1 UNKNOWN — a health check or the proxy's own
   * connection; use the socket's real endpoints. `'proxy'`: relayed for a
   * client, but still use the real endpoints when `source` is undefined
   * (v2 PROXY with `AF_UNSPEC` or an unspecified transport).
   */
  command: 'proxy' | 'local';
  /** The client's address family as the proxy saw it (v2 LOCAL reports what the header says, but carries no endpoints). */
  family: 'inet' | 'inet6' | 'unix' | 'unspec';
  /** `'stream'` for TCP (all of v1) and stream sockets, `'dgram'` for UDP and datagram sockets. */
  transport: 'stream' | 'dgram' | 'unspec';
  /** The client, as the proxy saw it; undefined whenever the real endpoints apply. */
  source: ProxyEndpoint | undefined;
  /** What the client connected to (the proxy's listening address); undefined with `source`. */
  destination: ProxyEndpoint | undefined;
  /** The v2 TLVs; v1 has none: `{ unknown: [] }`. */
  tlvs: ProxyTlvs;
  /** Bytes the header took on the wire: v1 up to and including its LF, v2 `16 + len`. */
  length: number;
}

/** The 12 bytes every v2 header starts with. */
export const PROXY_V2_SIGNATURE: readonly number[] = [
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
];

/** The fixed part of a v2 header: signature, version/command, family/transport, length. */
export const PROXY_V2_FIXED_LENGTH = 16;
/** The longest v2 header the format allows: the fixed part plus a 16-bit length. */
export const PROXY_V2_MAX_LENGTH = PROXY_V2_FIXED_LENGTH + 0xffff;
/** The longest v1 line, CRLF included (`PROXY UNKNOWN` with two full IPv6 addresses). */
export const PROXY_V1_MAX_LENGTH = 107;
/** Size of a v2 `AF_UNIX` address field (`sun_path`), NUL-padded. */
export const PROXY_UNIX_PATH_LENGTH = 108;
/** The longest `PP2_TYPE_UNIQUE_ID` value the spec allows. */
export const PROXY_UNIQUE_ID_MAX_LENGTH = 128;

/** Bytes of the v2 address block for each family: two addresses, plus two ports for IP. */
export const PROXY_V2_ADDRESS_LENGTH = { unspec: 0, inet: 12, inet6: 36, unix: 216 } as const;

/** v2 TLV types. */
export const PP2_TYPE = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
} as const;

/** Sub-TLV types inside `PP2_TYPE_SSL`. */
export const PP2_SUBTYPE_SSL = {
  VERSION: 0x21,
  CN: 0x22,
  CIPHER: 0x23,
  SIG_ALG: 0x24,
  KEY_ALG: 0x25,
} as const;

/** Bits of the SSL TLV's `client` byte. */
export const PP2_CLIENT = {
  SSL: 0x01,
  CERT_CONN: 0x02,
  CERT_SESS: 0x04,
} as const;
