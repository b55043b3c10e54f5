import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

const seen = new WeakMap<TLSSocket, X509Certificate | undefined>();

/**
 * The peer's certificate, read once per socket. On a client socket Node
 * (20.x) takes the certificate off OpenSSL's peer chain when it is read, so a
 * second `getPeerX509Certificate()` or `getPeerCertificate()` finds nothing:
 * the pin check and the facts must share one read.
 */
export function peerCertificate(socket: TLSSocket): X509Certificate | undefined {
  if (seen.has(socket)) return seen.get(socket);
  const cert = socket.getPeerX509Certificate();
  seen.set(socket, cert);
  return cert;
}
