/**
 * Server names to values (secure contexts), as SNI chooses them: an exact
 * name first, then a wildcard `*.example.net` covering one label
 * (`irc.example.net`, not `example.net` nor `a.irc.example.net`, as RFC 6125
 * reads a certificate's wildcard), else nothing (the default context).
 * Names compare case-insensitively, without a trailing dot.
 */
export class SniMap<T> {
  readonly #exact = new Map<string, T>();
  readonly #wild = new Map<string, T>();

  /** Throws a plain `Error` saying why when `name` is not a host name or a one-label wildcard. */
  static check(name: string): string {
    const n = normalize(name);
    const bare = n.startsWith('*.') ? n.slice(2) : n;
    if (bare === '' || !/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(bare)) {
      throw new Error(`${JSON.stringify(name)} is not a server name or a wildcard like '*.example.net'`);
    }
    if (n.startsWith('*.') && !bare.includes('.')) throw new Error(`${JSON.stringify(name)}: a wildcard needs at least two labels after '*.'`);
    return n;
  }

  set(name: string, value: T): this {
    const n = SniMap.check(name);
    if (n.startsWith('*.')) this.#wild.set(n.slice(2), value);
    else this.#exact.set(n, value);
    return this;
  }

  get(servername: string): T | undefined {
    const n = normalize(servername);
    const exact = this.#exact.get(n);
    if (exact !== undefined) return exact;
    const dot = n.indexOf('.');
    return dot > 0 ? this.#wild.get(n.slice(dot + 1)) : undefined;
  }

  get size(): number {
    return this.#exact.size + this.#wild.size;
  }
}

function normalize(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}
