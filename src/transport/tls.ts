/**
 * TLS for the transport layer; the parts live in `./tls/`: `files.ts`
 * (PEM text, Buffers or paths), `context.ts` (secure contexts as objects,
 * rebuilt on reload), `sni.ts` (server names to contexts), `watch.ts` (key
 * and certificate files renewed on disk), `acceptor.ts` (server handshakes),
 * `facts.ts` (what a connection knows of its TLS), `fingerprint.ts` (CertFP)
 * and `pin.ts` (pinned peers on connectors).
 */
export { loadPem, loadTlsFiles, pemPaths, type PemInput } from './tls/files.js';
export { tlsInfo, type TlsInfo } from './tls/facts.js';
export { certFingerprints, parseFingerprint, formatPin, type CertFingerprints, type Pin, type FingerprintAlgorithm } from './tls/fingerprint.js';
export { SniMap } from './tls/sni.js';
export { TlsCredentials, type TlsCertificateFacts, type TlsContextSpec, type BuiltContexts } from './tls/context.js';
export { TlsAcceptor, type AcceptorOptions } from './tls/acceptor.js';
export { FileWatch } from './tls/watch.js';
export { clientTlsOptions, checkPinned, isPinned, type ClientTlsOptions } from './tls/pin.js';
export { planServerTls, SERVER_ONLY_KEYS, type ServerTlsOptions, type ServerTlsPlan, type ClientCertMode } from './tls/server-options.js';
export { peerCertificate } from './tls/peer-cert.js';
