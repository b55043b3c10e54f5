/**
 * Turns the errors a connection attempt or a live connection ends with into
 * the words of one stderr line: a cause a person can act on, and the code
 * (Node's, OpenSSL's or ircsock's) to search for.
 */
export function describeCause(err: Error): string {
  const code = errorCode(err);
  const words = code === undefined ? undefined : KNOWN[code];
  const cause = words ?? (isTlsVerification(code) ? `TLS certificate rejected: ${err.message}` : err.message);
  return code === undefined ? cause : `${cause} (${code})`;
}

/** Whether the error is the server's certificate failing verification (worth a hint about --tls-ca / --insecure). */
export function isCertificateError(err: Error): boolean {
  return isTlsVerification(errorCode(err));
}

export function errorCode(err: Error): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && code !== '' ? code : undefined;
}

const KNOWN: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  // A Unix socket path: nothing there, or not allowed to connect (the socket file's mode).
  ENOENT: 'no such socket file',
  EACCES: 'permission denied',
  ENOTSOCK: 'not a socket',
  ECONNRESET: 'connection reset by peer',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed for now (DNS unreachable?)',
  EAI_NONAME: 'host not found',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EADDRNOTAVAIL: 'address not available',
  EPIPE: 'broken pipe',
  ERR_SSL_WRONG_VERSION_NUMBER: 'the server does not speak TLS here (a plain-text port?)',
  ERR_CONNECT_TIMEOUT: 'timed out',
  ERR_TLS_HANDSHAKE_TIMEOUT: 'TLS handshake timed out',
  ERR_DISCONNECT_TIMEOUT: 'the server stopped reading',
  ERR_SENDQ_EXCEEDED: 'the server stopped reading (send queue full)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate rejected: it is not for this host name',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS certificate rejected: self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS certificate rejected: self-signed certificate in the chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate rejected: issuer unknown',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'TLS certificate rejected: issuer unknown',
  CERT_HAS_EXPIRED: 'TLS certificate rejected: expired',
  CERT_NOT_YET_VALID: 'TLS certificate rejected: not yet valid',
};

// OpenSSL's X509 verification codes, as Node hands them over, plus Node's host name check.
const TLS_VERIFY_CODES = new Set([
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
]);

function isTlsVerification(code: string | undefined): boolean {
  return code !== undefined && TLS_VERIFY_CODES.has(code);
}
