import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import tls, { type SecureContext, type SecureContextOptions } from 'node:tls';
import { IrcTlsError } from '../../errors.js';
import { isPath, pemPaths, PEM_KEYS } from './files.js';
import { certFingerprints } from './fingerprint.js';
import { SniMap } from './sni.js';
import { FileWatch } from './watch.js';

/** One certificate a context serves, as a reload reports it. */
export interface TlsCertificateFacts {
  /** `''` for the default certificate, else the SNI name (or `*.wildcard`) it serves. */
  name: string;
  /** SHA-256 fingerprint, lower-case hex without colons. */
  sha256: string;
  subject: string;
  /** `notAfter`, as OpenSSL writes it. */
  validTo: string;
  /** The certificate's file, when it was given as a path. */
  file: string | undefined;
}

/**
 * What a context is built from: the default certificate's options and the
 * SNI entries (their own key and certificate; every other option, `ca`,
 * `ciphers`, `minVersion`…, comes from the default's). File paths are kept,
 * so every build reads the files again, through their symlinks as they are now.
 */
export interface TlsContextSpec {
  readonly base: SecureContextOptions;
  readonly sni: readonly (readonly [name: string, opts: SecureContextOptions])[];
}

/** One build of a spec: every context made, nothing swapped yet. */
export interface BuiltContexts {
  /** The default context's options with file contents in place of paths (for `tls.Server#setSecureContext`). */
  readonly defaultOptions: SecureContextOptions;
  readonly sni: SniMap<SecureContext>;
  readonly certificates: readonly TlsCertificateFacts[];
}

/** Who uses a set of contexts: a TLS acceptor switches to a new build for its next handshakes. */
export interface TlsContextUser {
  use(built: BuiltContexts): void;
}

export interface TlsCredentialsHooks {
  /** A watch-triggered reload swapped the contexts. */
  reloaded(built: BuiltContexts, ms: number): void;
  /** A watch-triggered reload failed: the old contexts stay. */
  failed(err: IrcTlsError): void;
}

/** Keys that are a certificate's own; the rest is shared by the SNI entries. */
const OWN_KEYS = new Set(['key', 'cert', 'pfx', 'passphrase']);

/**
 * A TLS context as an object: the default secure context and the SNI map,
 * built from key and certificate (PEM text, Buffers or paths), rebuilt by
 * `prepare()` and swapped by `commit()` so that a reload either replaces
 * everything or nothing. Handshakes under way and established connections
 * keep the context they started with; the next handshake gets the new one.
 */
export class TlsCredentials {
  readonly #where: string;
  readonly #spec: TlsContextSpec;
  readonly #users = new Set<TlsContextUser>();
  readonly #watchDebounce: number | undefined;
  readonly #hooks: TlsCredentialsHooks | undefined;
  #current: BuiltContexts;
  #watch: FileWatch | undefined;
  #closed = false;

  /**
   * Builds the contexts at once (reading the files synchronously): a setup
   * that cannot work throws `IrcTlsError` (`ERR_TLS_CONFIG`) here, not at the
   * first handshake.
   */
  constructor(where: string, spec: TlsContextSpec, watchDebounce: number | undefined, hooks?: TlsCredentialsHooks) {
    this.#where = where;
    this.#spec = spec;
    this.#watchDebounce = watchDebounce;
    this.#hooks = hooks;
    this.#current = build(where, spec, 'ERR_TLS_CONFIG', (p) => readFileSync(p));
  }

  get current(): BuiltContexts {
    return this.#current;
  }

  /** The key, certificate and CA files the contexts are read from. */
  get files(): string[] {
    const out = new Set<string>();
    for (const opts of [this.#spec.base, ...this.#spec.sni.map(([, o]) => o)]) for (const p of pemPaths(opts)) out.add(p);
    return [...out];
  }

  /** Whether a watch is running (it runs while somebody uses the contexts). */
  get watching(): boolean {
    return this.#watch !== undefined;
  }

  /** The SNI context for a server name, or `undefined` for the default one. */
  lookup(servername: string): SecureContext | undefined {
    return this.#current.sni.get(servername);
  }

  subscribe(user: TlsContextUser): void {
    this.#users.add(user);
    if (this.#watchDebounce !== undefined && this.#watch === undefined && !this.#closed) {
      const files = this.files;
      if (files.length > 0) this.#watch = new FileWatch(files, this.#watchDebounce, () => void this.#watchReload());
    }
  }

  unsubscribe(user: TlsContextUser): void {
    this.#users.delete(user);
    if (this.#users.size === 0) this.#stopWatch();
  }

  /** Reads every file again and builds every context; rejects with `ERR_TLS_RELOAD` naming the file, and changes nothing. */
  async prepare(): Promise<BuiltContexts> {
    const paths = this.files;
    const contents = new Map<string, Buffer>();
    await Promise.all(
      paths.map(async (p) => {
        try {
          contents.set(p, await readFile(p));
        } catch (err) {
          throw new IrcTlsError(`${this.#where}: TLS reload: cannot read '${p}' (${(err as NodeJS.ErrnoException).code ?? 'error'}); the old certificates stay`, {
            code: 'ERR_TLS_RELOAD',
            file: p,
            cause: err,
          });
        }
      }),
    );
    return build(this.#where, this.#spec, 'ERR_TLS_RELOAD', (p) => contents.get(p) as Buffer);
  }

  /** Swaps to a prepared build: every user's next handshake uses it. */
  commit(built: BuiltContexts): void {
    if (this.#closed) return;
    this.#current = built;
    for (const user of this.#users) user.use(built);
    this.#watch?.refresh();
  }

  async #watchReload(): Promise<void> {
    const started = performance.now();
    let built: BuiltContexts;
    try {
      built = await this.prepare();
    } catch (err) {
      this.#watch?.refresh();
      if (!this.#closed) this.#hooks?.failed(err as IrcTlsError);
      return;
    }
    if (this.#closed) return;
    this.commit(built);
    this.#hooks?.reloaded(built, performance.now() - started);
  }

  #stopWatch(): void {
    this.#watch?.close();
    this.#watch = undefined;
  }

  /** Stops the watch for good (shutdown). */
  close(): void {
    this.#closed = true;
    this.#users.clear();
    this.#stopWatch();
  }
}

type Read = (path: string) => Buffer;

function build(where: string, spec: TlsContextSpec, code: 'ERR_TLS_CONFIG' | 'ERR_TLS_RELOAD', read: Read): BuiltContexts {
  const certificates: TlsCertificateFacts[] = [];
  const shared: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec.base)) if (!OWN_KEYS.has(k)) shared[k] = v;
  const { options: defaultOptions } = buildOne(where, '', spec.base, code, read, certificates);
  const sni = new SniMap<SecureContext>();
  for (const [name, own] of spec.sni) {
    const { context } = buildOne(where, name, { ...shared, ...own }, code, read, certificates);
    sni.set(name, context);
  }
  return { defaultOptions, sni, certificates };
}

function buildOne(
  where: string,
  name: string,
  given: SecureContextOptions,
  code: 'ERR_TLS_CONFIG' | 'ERR_TLS_RELOAD',
  read: Read,
  certificates: TlsCertificateFacts[],
): { options: SecureContextOptions; context: SecureContext } {
  const label = name === '' ? '' : ` (SNI ${name})`;
  const tail = code === 'ERR_TLS_RELOAD' ? '; the old certificates stay' : '';
  const fail = (what: string, file: string | undefined, cause: unknown): never => {
    const detail = cause instanceof Error ? `: ${cause.message}` : '';
    throw new IrcTlsError(`${where}${label}: ${what}${file === undefined ? '' : ` '${file}'`}${detail}${tail}`, { code, file, cause });
  };
  const options: Record<string, unknown> = { ...given };
  const files: Partial<Record<string, string>> = {};
  for (const k of PEM_KEYS) {
    const v = options[k];
    if (v === undefined) continue;
    const load = (one: unknown): unknown => {
      if (!isPath(one)) return one;
      files[k] ??= one;
      try {
        return read(one);
      } catch (err) {
        return fail(`cannot read tls.${k} from`, one, err);
      }
    };
    options[k] = Array.isArray(v) ? (v as unknown[]).map(load) : load(v);
  }
  const cert = options.cert;
  const key = options.key;
  let facts: TlsCertificateFacts | undefined;
  if (typeof cert === 'string' || Buffer.isBuffer(cert)) {
    try {
      const x509 = new X509Certificate(cert);
      facts = { name, sha256: certFingerprints(x509.raw).sha256, subject: x509.subject.split('\n').join(', '), validTo: x509.validTo, file: files.cert };
    } catch (err) {
      fail('not a PEM certificate:', files.cert, err);
    }
  }
  if (typeof key === 'string' || Buffer.isBuffer(key)) {
    try {
      createPrivateKey({ key, ...(typeof options.passphrase === 'string' ? { passphrase: options.passphrase } : {}) });
    } catch (err) {
      fail('not a usable private key:', files.key, err);
    }
  }
  let context: SecureContext;
  try {
    context = tls.createSecureContext(options);
  } catch (err) {
    // Both parse on their own by now: what is left is a key that is not the certificate's (a half-renewed pair).
    const which = files.cert ?? files.key ?? files.pfx;
    return fail(`the key and certificate do not go together (or a TLS option is wrong) at`, which, err);
  }
  if (facts !== undefined) certificates.push(facts);
  return { options: options, context };
}
