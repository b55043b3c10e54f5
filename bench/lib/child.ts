/**
 * Benchmark child processes: fork a module with an IPC channel, ask it things
 * (request/reply with ids and timeouts), and make sure it dies — by pid, at
 * the end of a step or when the parent exits for any reason.
 *
 * Parent side: `startChild()`. Child side: `serveParent()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';

/** What a child sends: a reply to a request, or an event of its own. */
type Incoming =
  | { replyTo: number; ok: true; result: unknown }
  | { replyTo: number; ok: false; error: string }
  | { event: string; data: unknown };

export interface ChildOptions {
  /** Extra node flags, e.g. `['--expose-gc']` or `['--cpu-prof', ...]`. */
  execArgv?: string[];
  /** Raise the child's open-file limit to this (soft, up to the hard limit) through `sh -c ulimit`. */
  fdLimit?: number;
  /** The child kills itself after this long whatever happens (ms). Default 10 minutes. */
  maxLifetime?: number;
  /** How long to wait for the child's first event (ms). Default 15 s. */
  startTimeout?: number;
}

const live = new Set<BenchChild>();
let exitHooked = false;

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', () => {
    for (const c of live) c.killNow();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const c of live) c.killNow();
      process.exit(130);
    });
  }
}

export class BenchChild {
  readonly pid: number;
  readonly name: string;
  readonly #proc: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  readonly #waiters = new Map<string, ((data: unknown) => void)[]>();
  readonly #exited: Promise<void>;
  #nextId = 1;
  #gone = false;

  constructor(name: string, proc: ChildProcess) {
    if (proc.pid === undefined) throw new Error(`${name}: could not start`);
    this.name = name;
    this.pid = proc.pid;
    this.#proc = proc;
    this.#exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.#gone = true;
        live.delete(this);
        for (const p of this.#pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`${name} (pid ${this.pid}) exited (${signal ?? String(code)})`));
        }
        this.#pending.clear();
        resolve();
      });
    });
    proc.on('message', (raw) => {
      this.#onMessage(raw as Incoming);
    });
    proc.on('error', () => {
      // 'exit' follows and rejects what is pending.
    });
    live.add(this);
    hookExit();
  }

  #onMessage(msg: Incoming): void {
    if ('replyTo' in msg) {
      const p = this.#pending.get(msg.replyTo);
      if (p === undefined) return;
      this.#pending.delete(msg.replyTo);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(new Error(`${this.name}: ${msg.error}`));
      return;
    }
    const ws = this.#waiters.get(msg.event);
    if (ws !== undefined && ws.length > 0) (ws.shift() as (d: unknown) => void)(msg.data);
  }

  /** Sends a command and resolves with the child's answer; rejects on timeout or exit. */
  request<T>(cmd: string, args: object = {}, timeout = 30_000): Promise<T> {
    if (this.#gone) return Promise.reject(new Error(`${this.name} (pid ${this.pid}) is gone`));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: no answer to ${cmd} within ${timeout} ms`));
      }, timeout);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.#proc.send({ id, cmd, ...args });
    });
  }

  /** Resolves with the data of the child's next `event` (e.g. 'ready'). */
  waitFor<T>(event: string, timeout = 15_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`${this.name}: no '${event}' within ${timeout} ms`));
      }, timeout);
      const list = this.#waiters.get(event) ?? [];
      list.push((d) => {
        clearTimeout(timer);
        resolve(d as T);
      });
      this.#waiters.set(event, list);
      void this.#exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${this.name} (pid ${this.pid}) exited before '${event}'`));
      });
    });
  }

  /** Asks the child to exit, then kills it by pid if it has not within `grace` ms. */
  async stop(grace = 3_000): Promise<void> {
    if (this.#gone) return;
    this.#proc.send({ id: 0, cmd: 'exit' }, () => {
      // Ignore a closed channel: the kill below covers it.
    });
    const timer = setTimeout(() => {
      this.killNow();
    }, grace);
    await this.#exited;
    clearTimeout(timer);
  }

  killNow(): void {
    if (this.#gone) return;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Forks `modulePath` (a built .js file) with an IPC channel and waits for its `ready` event. */
export async function startChild(name: string, modulePath: string, args: string[] = [], opts: ChildOptions = {}): Promise<{ child: BenchChild; ready: Record<string, unknown> }> {
  const nodeArgs = [...(opts.execArgv ?? []), modulePath, ...args];
  const env = { ...process.env, BENCH_MAX_LIFETIME_MS: String(opts.maxLifetime ?? 600_000) };
  let proc: ChildProcess;
  if (opts.fdLimit !== undefined) {
    // exec keeps the pid, the environment (NODE_CHANNEL_FD) and the IPC fd.
    const script = `ulimit -n ${opts.fdLimit} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"`;
    proc = spawn('/bin/sh', ['-c', script, process.execPath, ...nodeArgs], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
  } else {
    proc = spawn(process.execPath, nodeArgs, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env });
  }
  const child = new BenchChild(name, proc);
  try {
    const ready = await child.waitFor<Record<string, unknown>>('ready', opts.startTimeout ?? 15_000);
    return { child, ready };
  } catch (err) {
    child.killNow();
    throw err;
  }
}

// ---- child side ----------------------------------------------------------

export type Handler = (msg: Record<string, unknown>) => unknown;

/**
 * Answers the parent's requests with `handlers[cmd]` (sync or async); `exit`
 * is built in (calls `onExit` first). The child exits when the parent goes
 * away and after `BENCH_MAX_LIFETIME_MS` in any case.
 */
export function serveParent(handlers: Record<string, Handler>, onExit?: () => void | Promise<void>): void {
  if (process.send === undefined) throw new Error('run this module through the benchmark (it needs an IPC channel)');
  const send = process.send.bind(process);
  const exit = async (): Promise<void> => {
    try {
      await onExit?.();
    } finally {
      process.exit(0);
    }
  };
  process.on('message', (raw) => {
    const msg = raw as Record<string, unknown> & { id: number; cmd: string };
    if (msg.cmd === 'exit') {
      void exit();
      return;
    }
    const h = handlers[msg.cmd];
    if (h === undefined) {
      send({ replyTo: msg.id, ok: false, error: `unknown command ${msg.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => h(msg))
      .then(
        (result) => send({ replyTo: msg.id, ok: true, result }),
        (err: unknown) => send({ replyTo: msg.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  process.on('disconnect', () => {
    void exit();
  });
  const life = Number(process.env.BENCH_MAX_LIFETIME_MS ?? 600_000);
  setTimeout(() => {
    console.error(`benchmark child ${process.pid}: lifetime of ${life} ms is over, exiting`);
    process.exit(2);
  }, life).unref();
}

/** Tells the parent something happened (e.g. `ready` with the port). */
export function emitToParent(event: string, data: unknown): void {
  process.send?.({ event, data });
}
