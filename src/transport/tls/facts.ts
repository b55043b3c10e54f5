import type { TLSSocket } from 'node:tls';
import { certFingerprints } from './fingerprint.js';
import { peerCertificate } from './peer-cert.js';

/** TLS facts of a secure connection. */
export interface TlsInfo {
  /** Negotiated protocol, e.g. `TLSv1.3`. */
  protocol: string | null;
  /** Negotiated cipher suite name (OpenSSL's). */
  cipher: string;
  /** The server name the client asked for (SNI), on the server side; `undefined` when it sent none. */
  servername: string | undefined;
  /** The ALPN protocol agreed on, or `undefined`. */
  alpn: string | undefined;
  /**
   * SHA-256 fingerprint of the peer's certificate, when it sent one (CertFP):
   * lower-case hex without colons, as ircds show it.
   */
  fingerprint: string | undefined;
  /** SHA-512 fingerprint of the peer's certificate, lower-case hex without colons. */
  fingerprint512: string | undefined;
  /** The peer certificate's subject, one line (`CN=client.test, O=…`). */
  subject: string | undefined;
  /** The peer certificate's issuer, one line. */
  issuer: string | undefined;
  /**
   * Whether the peer's certificate was verified: against the listener's `ca`
   * (or Node's roots when none is given) on a server, against the CA or the
   * pin on a connector.
   */
  authorized: boolean;
}

export function tlsInfo(socket: TLSSocket, authorized = socket.authorized): TlsInfo {
  const x509 = peerCertificate(socket);
  const fps = x509 === undefined ? undefined : certFingerprints(x509.raw);
  const servername = (socket as TLSSocket & { servername?: string | false | null }).servername;
  const alpn = socket.alpnProtocol;
  return {
    protocol: socket.getProtocol(),
    cipher: socket.getCipher().name,
    servername: typeof servername === 'string' && servername !== '' ? servername : undefined,
    alpn: typeof alpn === 'string' ? alpn : undefined,
    fingerprint: fps?.sha256,
    fingerprint512: fps?.sha512,
    subject: x509 === undefined ? undefined : oneLine(x509.subject),
    issuer: x509 === undefined ? undefined : oneLine(x509.issuer),
    authorized,
  };
}

function oneLine(dn: string): string {
  return dn.split('\n').filter((s) => s !== '').join(', ');
}
