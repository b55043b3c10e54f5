import { readFileSync } from 'node:fs';
import { IrcTlsError } from '../../errors.js';

export type PemInput = string | Buffer | readonly (string | Buffer)[];

/** A string that is a file path rather than PEM text. */
export function isPath(value: unknown): value is string {
  return typeof value === 'string' && !value.includes('-----BEGIN');
}

/**
 * A PEM option may be given as PEM text, a Buffer, or a file path (as the seed
 * took file names). Files are read when the option is given (and again on
 * every reload, see `context.ts`).
 */
export function loadPem(where: string, name: string, value: PemInput): string | Buffer | (string | Buffer)[] {
  if (Array.isArray(value)) return value.map((v: string | Buffer) => loadOne(where, name, v));
  return loadOne(where, name, value as string | Buffer);
}

function loadOne(where: string, name: string, value: string | Buffer): string | Buffer {
  if (!isPath(value)) return value;
  try {
    return readFileSync(value);
  } catch (err) {
    throw new IrcTlsError(`${where}: cannot read tls.${name} from '${value}'`, { cause: err, file: value });
  }
}

export const PEM_KEYS = ['key', 'cert', 'ca', 'pfx', 'crl', 'dhparam'] as const;

/** Replaces file paths by file contents in a Node TLS options object. */
export function loadTlsFiles<T extends object>(where: string, opts: T): T {
  const out = { ...opts } as Record<string, unknown>;
  for (const k of PEM_KEYS) {
    const v = out[k];
    if (typeof v === 'string' || Buffer.isBuffer(v) || Array.isArray(v)) out[k] = loadPem(where, k, v as PemInput);
  }
  return out as unknown as T;
}

/** The file paths among a TLS options object's PEM options: what a watch looks at. */
export function pemPaths(opts: object): string[] {
  const out: string[] = [];
  const rec = opts as Record<string, unknown>;
  for (const k of PEM_KEYS) {
    const v = rec[k];
    for (const one of Array.isArray(v) ? (v as unknown[]) : [v]) if (isPath(one)) out.push(one);
  }
  return out;
}
