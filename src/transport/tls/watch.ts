import { watch, realpathSync, type FSWatcher } from 'node:fs';
import path from 'node:path';

/**
 * Watches key and certificate files the way they are renewed in practice:
 * certbot points a symlink in `live/` at a new file in `archive/` (replacing
 * the link by rename), lego and most scripts write a new file and rename it
 * over the old. A watch on the file itself follows the inode that was
 * replaced and goes quiet, so this watches the *directories*: the one that
 * holds the name that was configured and the one that holds what it points
 * to now (re-resolved after every change), and reacts to events for those
 * names only. Events are debounced, so a key and a certificate written one
 * after the other are read once, together.
 */
export class FileWatch {
  readonly #files: readonly string[];
  readonly #debounce: number;
  readonly #onChange: () => void;
  readonly #watchers = new Map<string, FSWatcher>();
  /** Base names that matter, per watched directory. */
  #names = new Map<string, Set<string>>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(files: readonly string[], debounce: number, onChange: () => void) {
    this.#files = files.map((f) => path.resolve(f));
    this.#debounce = debounce;
    this.#onChange = onChange;
    this.refresh();
  }

  /** Re-resolves symlinks and watches the directories that now matter (after a reload). */
  refresh(): void {
    if (this.#closed) return;
    const names = new Map<string, Set<string>>();
    const add = (file: string): void => {
      const dir = path.dirname(file);
      let set = names.get(dir);
      if (set === undefined) names.set(dir, (set = new Set()));
      set.add(path.basename(file));
    };
    for (const file of this.#files) {
      add(file);
      try {
        const real = realpathSync(file);
        if (real !== file) add(real);
      } catch {
        // Missing just now (mid-rename): the directory watch sees it come back.
      }
    }
    this.#names = names;
    for (const [dir, w] of this.#watchers) {
      if (!names.has(dir)) {
        w.close();
        this.#watchers.delete(dir);
      }
    }
    for (const dir of names.keys()) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = watch(dir, (_event, name) => {
          this.#event(dir, name);
        });
        // A directory removed under the watch: it is gone, the next refresh may find it again.
        w.on('error', () => {
          w.close();
          this.#watchers.delete(dir);
        });
        this.#watchers.set(dir, w);
      } catch {
        // A directory that does not exist (yet) is looked for again on the next refresh.
      }
    }
  }

  #event(dir: string, name: string | Buffer | null): void {
    if (this.#closed) return;
    const wanted = this.#names.get(dir);
    if (name !== null && wanted !== undefined && !wanted.has(name.toString())) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) this.#onChange();
    }, this.#debounce);
  }

  /** The directories watched now (for tests and diagnostics). */
  get directories(): string[] {
    return [...this.#watchers.keys()];
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
  }
}
