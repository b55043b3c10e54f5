import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import { IrcTlsError } from '../errors.js';

/** TLS facts of a secure connection. */
export interface TlsInfo {
  /** Negotiated protocol, e.g. `TLSv1.3`. */
  protocol: string | null;
  /** Negotiated cipher suite name (OpenSSL's). */
  cipher: string;
  /** SHA-256 fingerprint of the peer's certificate (`AB:CD:…`), when it sent one (CertFP). */
  fingerprint: string | undefined;
  /** Whether the peer's certificate was verified against the trusted CAs. */
  authorized: boolean;
}

export function tlsInfo(socket: TLSSocket): TlsInfo {
  const cert = socket.getPeerCertificate();
  const fingerprint = typeof cert.fingerprint256 === 'string' && cert.fingerprint256 !== '' ? cert.fingerprint256 : undefined;
  return {
    protocol: socket.getProtocol(),
    cipher: socket.getCipher().name,
    fingerprint,
    authorized: socket.authorized,
  };
}

type PemInput = string | Buffer | readonly (string | Buffer)[];

/**
 * A PEM option may be given as PEM text, a Buffer, or a file path (as the seed
 * took file names). Files are read once, when the option is given.
 */
export function loadPem(where: string, name: string, value: PemInput): string | Buffer | (string | Buffer)[] {
  if (Array.isArray(value)) return value.map((v: string | Buffer) => loadOne(where, name, v));
  return loadOne(where, name, value as string | Buffer);
}

function loadOne(where: string, name: string, value: string | Buffer): string | Buffer {
  if (typeof value !== 'string' || value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value);
  } catch (err) {
    throw new IrcTlsError(`${where}: cannot read tls.${name} from '${value}'`, { cause: err });
  }
}

const PEM_KEYS = ['key', 'cert', 'ca', 'pfx', 'crl', 'dhparam'] as const;

/** Replaces file paths by file contents in a Node TLS options object. */
export function loadTlsFiles<T extends object>(where: string, opts: T): T {
  const out = { ...opts } as Record<string, unknown>;
  for (const k of PEM_KEYS) {
    const v = out[k];
    if (typeof v === 'string' || Buffer.isBuffer(v) || Array.isArray(v)) out[k] = loadPem(where, k, v as PemInput);
  }
  return out as unknown as T;
}
