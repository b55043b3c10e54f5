/**
 * The PROXY protocol (haproxy's v1 text line and v2 binary header): parse
 * what a proxy sends, encode what a gateway sends.
 */
export * from './header.js';
export { crc32c } from './crc32c.js';
export { ProxyHeaderParser, type ProxyHeaderParserOptions, type ProxyParseResult } from './parse.js';
export {
  encodeProxyHeader,
  type ProxyHeaderInit,
  type ProxySslInit,
  type ProxyTlvsInit,
} from './encode.js';
