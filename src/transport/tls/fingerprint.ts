import { createHash } from 'node:crypto';
import { IrcArgumentError } from '../../errors.js';

/**
 * CertFP as ircds show it (InspIRCd, UnrealIRCd, Ergo, Anope): the hash of
 * the certificate's DER bytes in lower-case hex, without colons.
 */
export interface CertFingerprints {
  sha256: string;
  sha512: string;
}

export function certFingerprints(der: Buffer): CertFingerprints {
  return {
    sha256: createHash('sha256').update(der).digest('hex'),
    sha512: createHash('sha512').update(der).digest('hex'),
  };
}

export type FingerprintAlgorithm = 'sha256' | 'sha512';

/** A pinned fingerprint, normalized. */
export interface Pin {
  algorithm: FingerprintAlgorithm;
  /** Lower-case hex, no colons. */
  hex: string;
}

const HEX_LENGTH: Record<FingerprintAlgorithm, number> = { sha256: 64, sha512: 128 };

/**
 * Reads a fingerprint as people paste it: `sha256:ab12…`, `SHA-256=AB:12:…`
 * (openssl's), or bare hex whose length says the algorithm (64: SHA-256,
 * 128: SHA-512). Colons and case do not matter.
 */
export function parseFingerprint(where: string, text: string): Pin {
  if (typeof text !== 'string') {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: a fingerprint must be a string like 'sha256:<64 hex digits>'`);
  }
  const m = /^\s*(?:(sha-?256|sha-?512)\s*[:=]\s*)?([0-9a-f:\s]+)$/i.exec(text);
  const hex = m?.[2]?.replace(/[:\s]/g, '').toLowerCase() ?? '';
  const named = m?.[1]?.toLowerCase().replace('-', '') as FingerprintAlgorithm | undefined;
  const algorithm: FingerprintAlgorithm | undefined =
    named ?? (hex.length === HEX_LENGTH.sha256 ? 'sha256' : hex.length === HEX_LENGTH.sha512 ? 'sha512' : undefined);
  if (m === null || algorithm === undefined || hex.length !== HEX_LENGTH[algorithm]) {
    throw new IrcArgumentError(
      'ERR_INVALID_OPTION',
      `${where}: ${JSON.stringify(text)} is not a fingerprint; give 'sha256:' and 64 hex digits or 'sha512:' and 128 (colons allowed)`,
    );
  }
  return { algorithm, hex };
}

export function formatPin(pin: Pin): string {
  return `${pin.algorithm}:${pin.hex}`;
}
