import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { IrcTlsError } from '../../errors.js';
import { certFingerprints, formatPin, parseFingerprint, type Pin } from './fingerprint.js';
import { peerCertificate } from './peer-cert.js';

/** A connector's TLS options: Node's, plus pinned fingerprints. */
export interface ClientTlsOptions extends ConnectionOptions {
  /**
   * Accept the server's certificate when, and only when, its fingerprint is
   * one of these (`sha256:<hex>` or `sha512:<hex>`, colons and case free):
   * instead of a CA, as IRC server links and bouncers do. Self-signed
   * certificates are fine; the host name is not checked. A mismatch fails
   * with `ERR_TLS_FINGERPRINT`.
   */
  fingerprint?: string | readonly string[];
}

// The pins of each options object clientTlsOptions made: dial() hands that same object to checkPinned.
const pinsOf = new WeakMap<ConnectionOptions, readonly Pin[]>();

/**
 * Node client options for a connector: with pins, Node's own chain and name
 * checks are off (`rejectUnauthorized: false`) and {@link checkPinned} decides
 * after the handshake, before a byte of IRC is written.
 */
export function clientTlsOptions(where: string, opts: ClientTlsOptions): ConnectionOptions {
  const { fingerprint, ...rest } = opts;
  const out: ConnectionOptions = { minVersion: 'TLSv1.2', ...rest };
  if (fingerprint === undefined) return out;
  const list: unknown[] = typeof fingerprint === 'string' ? [fingerprint] : [...fingerprint];
  if (list.length === 0) throw new IrcTlsError(`${where}: tls.fingerprint is empty; give at least one 'sha256:<hex>'`);
  pinsOf.set(out, list.map((f) => parseFingerprint(`${where} tls.fingerprint`, f as string)));
  out.rejectUnauthorized = false;
  return out;
}

/**
 * After the handshake of a connector with pins: `undefined` when the peer's
 * certificate matches one, else the `ERR_TLS_FINGERPRINT` error to fail with.
 * Without pins, always `undefined` (Node has verified the chain and name).
 */
export function checkPinned(opts: ConnectionOptions | undefined, socket: TLSSocket): IrcTlsError | undefined {
  const pins = opts === undefined ? undefined : pinsOf.get(opts);
  const first = pins?.[0];
  if (pins === undefined || first === undefined) return undefined;
  const der = peerCertificate(socket)?.raw;
  const fps = der === undefined ? undefined : certFingerprints(der);
  if (fps !== undefined && pins.some((p) => fps[p.algorithm] === p.hex)) return undefined;
  const expected = pins.map(formatPin);
  const actual = fps === undefined ? undefined : `${first.algorithm}:${fps[first.algorithm]}`;
  return new IrcTlsError(
    `the server's certificate ${actual === undefined ? '(none sent)' : actual} is not the pinned ${expected.join(' or ')}`,
    { code: 'ERR_TLS_FINGERPRINT', expected, actual },
  );
}

/** Whether a connector's options carry pins. */
export function isPinned(opts: ConnectionOptions | undefined): boolean {
  return opts !== undefined && pinsOf.has(opts);
}
