/**
 * The old side of a hand-off: moves the listening sockets and every movable
 * connection to a successor process, keeps the rest (TLS, WebSocket,
 * compressed links, slow readers) and takes everything back when the
 * successor fails before it has confirmed the whole set.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Backend } from '../backend.js';
import type { Connection } from '../connection/connection.js';
import { IrcArgumentError, IrcHandoffError, type IrcHandoffCode } from '../errors.js';
import type { Listener } from '../listen/listener.js';
import { checkDuration } from '../options.js';
import { encode, HANDOFF_VERSION, listenerKey, unwrap, wrap, type ToPredecessor, type ToSuccessor } from './protocol.js';

export interface HandoffOptions {
  /** The application's state of one connection, as JSON-safe data; the successor gets it in `connectionAdopted`. */
  serialize?: (conn: Connection) => unknown;
  /** The application's shared state (channels, topics…), JSON-safe; the successor's `receiveHandoff` `state` hook gets it first. */
  state?: () => unknown;
  /** Milliseconds for the whole hand-off, from `hello` to `committed`. Default 30 000. */
  timeout?: number;
  /**
   * Milliseconds a connection's written output may take to reach the kernel
   * before the hand-off; a peer slower than that stays here. Default 2 000.
   */
  drainTimeout?: number;
  /**
   * Connections the application keeps here although they could move — ones
   * whose state it does not carry over (a server link, say). They stay, as
   * TLS connections do.
   */
  keep?: (conn: Connection) => boolean;
}

export interface HandoffResult {
  /** Connections the successor took over (gone from this backend). */
  moved: number;
  /** Connections that stayed here: TLS, WebSocket, compressed, closing, or not drained in time. Serve them, then exit. */
  staying: Connection[];
  /** Listening sockets handed over. */
  listeners: number;
  /** Milliseconds from the successor's hello to its confirmation. */
  elapsed: number;
}

const DEFAULT_TIMEOUT = 30_000;
const DEFAULT_DRAIN = 2_000;
const SEND_WINDOW = 16;

/**
 * Hands listeners and connections to `child`, a process the application
 * forked (with an IPC channel) that calls `receiveHandoff()`. Resolves once
 * the successor serves them all; rejects with an `IrcHandoffError` after
 * taking every connection back when the successor fails, exits or runs out
 * of time. Afterwards this process's listening sockets stay open only to
 * forward the connections they still accept to the successor; they close when
 * the process exits (closing a Unix socket here would unlink its file).
 */
export function handOff(backend: Backend, child: ChildProcess, opts: HandoffOptions = {}): Promise<HandoffResult> {
  const where = 'handOff()';
  if (typeof child.send !== 'function' || !child.connected) {
    throw new IrcArgumentError('ERR_INVALID_ARG', `${where}: the successor needs an IPC channel (child_process.fork, or stdio with 'ipc')`);
  }
  const timeout = checkDuration(where, 'timeout', opts.timeout ?? DEFAULT_TIMEOUT);
  const drain = checkDuration(where, 'drainTimeout', opts.drainTimeout ?? DEFAULT_DRAIN);
  if (busy.has(backend)) return Promise.reject(new IrcHandoffError('ERR_HANDOFF_BUSY', `${where}: a hand-off of this backend is under way`));
  busy.add(backend);
  return new Sender(backend, child, opts, timeout, drain).run().finally(() => busy.delete(backend));
}

const busy = new WeakSet<Backend>();

class Sender {
  readonly #backend: Backend;
  readonly #child: ChildProcess;
  readonly #opts: HandoffOptions;
  readonly #timeout: number;
  readonly #drain: number;
  #frozen: Connection[] = [];
  #listeners: Listener[] = [];
  #waiters = new Map<string, (msg: ToPredecessor) => void>();
  #failure: ((err: IrcHandoffError) => void) | undefined;
  #done = false;
  // From here on the successor may be serving: a timeout ends it rather than taking everything back.
  #commitSent = false;

  constructor(backend: Backend, child: ChildProcess, opts: HandoffOptions, timeout: number, drain: number) {
    this.#backend = backend;
    this.#child = child;
    this.#opts = opts;
    this.#timeout = timeout;
    this.#drain = drain;
  }

  async run(): Promise<HandoffResult> {
    const child = this.#child;
    const failed = new Promise<never>((_resolve, reject) => {
      this.#failure = reject;
    });
    const onMessage = (raw: unknown): void => {
      const msg = unwrap<ToPredecessor>(raw);
      if (msg === undefined) return;
      const waiter = this.#waiters.get(msg.t === 'adopted' ? `adopted:${msg.seq}` : msg.t);
      if (waiter !== undefined) waiter(msg);
    };
    const onGone = (): void => {
      this.#fail('ERR_HANDOFF_SUCCESSOR_GONE', 'the successor exited or closed its IPC channel');
    };
    child.on('message', onMessage);
    child.once('exit', onGone);
    child.once('disconnect', onGone);
    const timer = setTimeout(() => {
      if (this.#commitSent) {
        // The successor may already be serving what it adopted: taking it all back now would have two
        // processes on the same sockets. Only a successor that is gone can be rolled back from: end it,
        // and its exit calls the hand-off off.
        this.#child.kill('SIGKILL');
        return;
      }
      this.#fail('ERR_HANDOFF_TIMEOUT', `the hand-off did not end within ${this.#timeout} ms`);
    }, this.#timeout);
    try {
      return await Promise.race([this.#steps(), failed]);
    } catch (err) {
      this.#rollback();
      throw err;
    } finally {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onGone);
      child.off('disconnect', onGone);
    }
  }

  #fail(code: IrcHandoffCode, message: string): void {
    if (this.#done) return;
    this.#failure?.(new IrcHandoffError(code, message));
  }

  #await<T extends ToPredecessor>(key: string): Promise<T> {
    return new Promise((resolve) => {
      this.#waiters.set(key, (msg) => {
        this.#waiters.delete(key);
        resolve(msg as T);
      });
    });
  }

  #send(msg: ToSuccessor, handle?: Socket | Listener['server'], keepOpen = true): Promise<void> {
    return new Promise((resolve, reject) => {
      const cb = (err: Error | null): void => {
        if (err === null) resolve();
        else reject(new IrcHandoffError('ERR_HANDOFF_SUCCESSOR_GONE', `sending to the successor failed: ${err.message}`, { cause: err }));
      };
      if (handle === undefined) this.#child.send(wrap(msg), cb);
      else this.#child.send(wrap(msg), handle, { keepOpen }, cb);
    });
  }

  async #steps(): Promise<HandoffResult> {
    const backend = this.#backend;
    const hello = await this.#await<{ t: 'hello'; version: number }>('hello');
    const started = performance.now();
    if (hello.version !== HANDOFF_VERSION) {
      await this.#send({ t: 'refuse', reason: `protocol version ${HANDOFF_VERSION} here, ${hello.version} there` }).catch(noop);
      throw new IrcHandoffError('ERR_HANDOFF_VERSION', `the successor speaks hand-off protocol ${hello.version}, this process ${HANDOFF_VERSION}`);
    }
    await this.#send({ t: 'welcome' });

    // Listening sockets first: the successor accepts on them as soon as it
    // takes them up; ours go on accepting too, but keep what they accept
    // unread from the moment connections start to move (see holdAccepts).
    this.#listeners = [...backend.activeListeners.values()];
    for (const l of this.#listeners) {
      const kind = l.kind;
      await this.#send({ t: 'listener', key: listenerKey(l), kind, proxy: l.proxy }, l.server);
    }
    await this.#send({ t: 'listeners-done' });
    await this.#await('ready');

    backend.holdAccepts(true);
    const keep = this.#opts.keep;
    const candidates = [...backend.connections.values()].filter((c) => c.movable && keep?.(c) !== true);
    this.#frozen = candidates;
    const drained = await Promise.all(candidates.map((c) => c.freeze(this.#drain)));
    const moving: Connection[] = [];
    for (const [i, conn] of candidates.entries()) {
      // A peer that does not read would leave bytes in Node's buffer, which cannot move: it stays.
      if (drained[i] === true && conn.movable) moving.push(conn);
      else conn.thaw();
    }
    this.#frozen = moving;

    const state = this.#opts.state?.();
    await this.#send({ t: 'state', data: encode(state ?? null) });
    const serialize = this.#opts.serialize;
    const acks: Promise<unknown>[] = [];
    const inflight = new Set<Promise<void>>();
    for (const [seq, conn] of moving.entries()) {
      const snap = conn.snapshot();
      const data = serialize === undefined ? null : serialize(conn);
      const socket = conn.socket;
      // Node treats a socket that has a `server` as a cluster worker's and
      // makes that server's close wait for the child's copy: this is no cluster.
      (socket as Socket & { server: unknown }).server = null;
      const listener = conn.origin === 'listener' ? this.#listeners.find((l) => l.id === conn.originId) : undefined;
      acks.push(this.#await(`adopted:${seq}`));
      // Node passes one handle at a time and re-queues every waiting message
      // on each acknowledgement (quadratic in the queue): keep a small window.
      if (inflight.size >= SEND_WINDOW) await Promise.race(inflight);
      const sent = this.#send({ t: 'conn', seq, listener: listener === undefined ? undefined : listenerKey(listener), snap: encode({ snap, data }) }, socket);
      inflight.add(sent);
      void sent.then(
        () => inflight.delete(sent),
        () => inflight.delete(sent),
      );
      acks.push(sent);
    }
    await Promise.all(acks);
    const committed = this.#await('committed');
    this.#commitSent = true;
    await this.#send({ t: 'commit', count: moving.length });
    await committed;
    this.#done = true;
    const elapsed = performance.now() - started;

    for (const conn of moving) backend.releaseConnection(conn);
    this.#frozen = [];
    this.#forwardAccepts();
    const movedIds = new Set(moving.map((c) => c.id));
    return {
      moved: moving.length,
      staying: [...backend.connections.values()].filter((c) => !movedIds.has(c.id)),
      listeners: this.#listeners.length,
      elapsed,
    };
  }

  /**
   * The successor serves the listening sockets now. Ours stay open (closing a
   * Unix one would unlink its file) but out of this backend; what they still
   * accept goes to the successor unread, or, if it is gone, is closed.
   */
  #forwardAccepts(): void {
    const backend = this.#backend;
    const child = this.#child;
    const held = backend.holdAccepts(true);
    const forward = (listener: Listener, socket: Socket): void => {
      if (!child.connected) {
        socket.destroy();
        return;
      }
      (socket as Socket & { server: unknown }).server = null;
      child.send(wrap<ToSuccessor>({ t: 'accepted', key: listenerKey(listener) }), socket, { keepOpen: false }, (err) => {
        if (err !== null) socket.destroy();
      });
    };
    for (const [l, s] of held) forward(l, s);
    for (const l of this.#listeners) backend.releaseListener(l, forward);
    backend.holdAccepts(false);
  }

  #rollback(): void {
    const backend = this.#backend;
    if (this.#child.connected) this.#child.send(wrap<ToSuccessor>({ t: 'abort', reason: 'hand-off called off' }), noop);
    backend.acceptHeld(backend.holdAccepts(false));
    for (const conn of this.#frozen) conn.thaw();
    this.#frozen = [];
  }
}

function noop(): void {
  // Best effort: the successor may be gone.
}
