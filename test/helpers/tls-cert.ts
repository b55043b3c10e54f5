/**
 * Throwaway self-signed certificates for TLS tests, made with `openssl` into a
 * temporary directory. Each kind is made once per process and removed when the
 * process exits (or earlier, by `cleanup()`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface TestCert {
  /** PEM text of the private key. */
  key: string;
  /** PEM text of the certificate (self-signed: it is its own CA). */
  cert: string;
  keyPath: string;
  certPath: string;
  /** Removes the files; the next call for this kind makes new ones. */
  cleanup(): void;
}

const cache = new Map<string, TestCert>();
const dirs = new Set<string>();

process.once('exit', () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function make(kind: string, cn: string, san: string): TestCert {
  const cached = cache.get(kind);
  if (cached !== undefined) return cached;
  const dir = mkdtempSync(path.join(tmpdir(), `ircsock-cert-${kind}-`));
  dirs.add(dir);
  const keyPath = path.join(dir, 'key.pem');
  const certPath = path.join(dir, 'cert.pem');
  // prettier-ignore
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`,
    '-keyout', keyPath, '-out', certPath,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  const cert: TestCert = {
    key: readFileSync(keyPath, 'utf8'),
    cert: readFileSync(certPath, 'utf8'),
    keyPath,
    certPath,
    cleanup() {
      cache.delete(kind);
      dirs.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  cache.set(kind, cert);
  return cert;
}

/** A certificate for `localhost`, `127.0.0.1` and `::1`. */
export function localhostCert(): TestCert {
  return make('localhost', 'localhost', 'DNS:localhost,IP:127.0.0.1,IP:::1');
}

/** A certificate for `wrong.example` only: host-name checks against localhost must fail. */
export function wrongNameCert(): TestCert {
  return make('wrong', 'wrong.example', 'DNS:wrong.example');
}

/** A second certificate, e.g. for a client to present (CertFP). */
export function clientCert(): TestCert {
  return make('client', 'client.test', 'DNS:client.test');
}

/**
 * A certificate made into `dir` as `<name>.key` and `<name>.crt` (not
 * cached: every call makes a new key). For reload tests, which need a new
 * certificate each time, and for SNI names.
 */
export function makeCertIn(dir: string, name: string, cn: string, san = `DNS:${cn}`): { key: string; cert: string; keyPath: string; certPath: string } {
  const keyPath = path.join(dir, `${name}.key`);
  const certPath = path.join(dir, `${name}.crt`);
  // prettier-ignore
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${cn}`, '-addext', `subjectAltName=${san}`,
    '-keyout', keyPath, '-out', certPath,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  return { key: readFileSync(keyPath, 'utf8'), cert: readFileSync(certPath, 'utf8'), keyPath, certPath };
}

/** A temporary directory removed when the process exits. */
export function tempDir(label: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `ircsock-${label}-`));
  dirs.add(dir);
  return dir;
}

/** What `openssl x509 -fingerprint` says, as CertFP: lower-case hex without colons. */
export function opensslFingerprint(certPath: string, algorithm: 'sha256' | 'sha512'): string {
  const out = execFileSync('openssl', ['x509', '-noout', '-fingerprint', `-${algorithm}`, '-in', certPath], { encoding: 'utf8' });
  const m = /Fingerprint=([0-9A-F:]+)/i.exec(out);
  if (m === null) throw new Error(`openssl printed no fingerprint: ${out}`);
  return (m[1] as string).replace(/:/g, '').toLowerCase();
}
