/**
 * The new side of a hand-off, in the successor process: takes the listening
 * sockets, then the connections, and serves them once the predecessor has
 * sent the whole set.
 */
import net, { type Server, type Socket } from 'node:net';
import type { Backend } from '../backend.js';
import type { Connection, ConnectionSnapshot } from '../connection/connection.js';
import { IrcArgumentError, IrcHandoffError } from '../errors.js';
import { InheritedListener } from '../listen/inherited.js';
import { checkDuration } from '../options.js';
import { decode, HANDOFF_VERSION, unwrap, wrap, type ToPredecessor, type ToSuccessor } from './protocol.js';

export interface ReceiveOptions {
  /** Milliseconds to wait for the predecessor's listeners. Default 30 000. */
  timeout?: number;
}

export interface AdoptOptions {
  /** The predecessor's shared state (its `state()`), given before any connection. */
  state?: (data: unknown) => void;
}

export interface AdoptResult {
  /** Connections taken over. */
  adopted: number;
}

type Channel = Pick<NodeJS.Process, 'on' | 'off'> & { send?: NodeJS.Process['send']; channel?: NodeJS.Process['channel'] };

/**
 * True when this process was started as a successor: it has an IPC channel
 * and `IRCSOCK_HANDOFF=1` in its environment (what the predecessor sets when
 * it forks; see the README). The variable is removed, so children of this
 * process do not think the same.
 */
export function isHandoffSuccessor(): boolean {
  const flag = process.env.IRCSOCK_HANDOFF === '1';
  delete process.env.IRCSOCK_HANDOFF;
  return flag && typeof process.send === 'function';
}

/**
 * Starts the successor's side: says hello (with the protocol version) to the
 * parent process and waits for its listening sockets. Then create listeners
 * on them (`createListener({ inherit })`) and call `adopt()`.
 */
export async function receiveHandoff(opts: ReceiveOptions = {}, channel: Channel = process): Promise<HandoffReceiver> {
  const timeout = checkDuration('receiveHandoff()', 'timeout', opts.timeout ?? 30_000);
  if (typeof channel.send !== 'function') {
    throw new IrcArgumentError('ERR_INVALID_ARG', 'receiveHandoff(): this process has no IPC channel to a predecessor');
  }
  const receiver = new HandoffReceiver(channel);
  await receiver.start(timeout);
  return receiver;
}

function refuse(_listener: unknown, socket: Socket): void {
  socket.destroy();
}

export class HandoffReceiver {
  readonly #channel: Channel;
  readonly #listeners = new Map<string, InheritedListener>();
  #onMessage: ((msg: unknown, handle: unknown) => void) | undefined;
  #backend: Backend | undefined;
  #adopted: Connection[] = [];

  /** @internal */
  constructor(channel: Channel) {
    this.#channel = channel;
  }

  /** The predecessor's listening sockets, by key (`127.0.0.1:6667`, `unix:/run/irc.sock`). */
  get listeners(): ReadonlyMap<string, InheritedListener> {
    return this.#listeners;
  }

  #send(msg: ToPredecessor): void {
    this.#channel.send?.(wrap(msg));
  }

  /** @internal */
  start(timeout: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#stop();
        reject(new IrcHandoffError('ERR_HANDOFF_TIMEOUT', `no listeners from the predecessor within ${timeout} ms`));
      }, timeout);
      const onGone = (): void => {
        clearTimeout(timer);
        reject(new IrcHandoffError('ERR_HANDOFF_SUCCESSOR_GONE', 'the predecessor closed the IPC channel'));
      };
      this.#channel.on('disconnect', onGone);
      this.#onMessage = (raw, handle) => {
        const msg = unwrap<ToSuccessor>(raw);
        if (msg === undefined) return;
        if (msg.version !== HANDOFF_VERSION) {
          clearTimeout(timer);
          this.#stop();
          reject(new IrcHandoffError('ERR_HANDOFF_VERSION', `the predecessor speaks hand-off protocol ${msg.version}, this process ${HANDOFF_VERSION}`));
          return;
        }
        switch (msg.t) {
          case 'refuse':
            clearTimeout(timer);
            this.#stop();
            reject(new IrcHandoffError('ERR_HANDOFF_VERSION', `the predecessor refused: ${msg.reason}`));
            return;
          case 'listener':
            this.#listeners.set(msg.key, new InheritedListener(msg.key, msg.kind, msg.proxy, handle as Server));
            return;
          case 'listeners-done':
            clearTimeout(timer);
            this.#channel.off('disconnect', onGone);
            resolve();
            return;
          default:
            this.#handle(msg, handle);
        }
      };
      this.#channel.on('message', this.#onMessage);
      this.#send({ t: 'hello', version: HANDOFF_VERSION });
    });
  }

  /**
   * Takes the connections. Each raises `connectionAdopted` on `backend` as it
   * arrives; none is dispatched before the predecessor has sent them all, so
   * the application's state is whole first. Resolves then. Rejects when the
   * predecessor calls it off (or goes away first): the adopted connections
   * are let go again without a close, the listeners' copies closed here.
   */
  adopt(backend: Backend, opts: AdoptOptions = {}): Promise<AdoptResult> {
    this.#backend = backend;
    return new Promise((resolve, reject) => {
      const onGone = (): void => {
        this.#abort();
        reject(new IrcHandoffError('ERR_HANDOFF_SUCCESSOR_GONE', 'the predecessor closed the IPC channel mid-way'));
      };
      this.#channel.on('disconnect', onGone);
      this.#pending = {
        state: opts.state,
        commit: () => {
          // Committed for good: an abort that crosses our 'committed' on the wire is too late to act on.
          this.#pending = undefined;
          this.#channel.off('disconnect', onGone);
          for (const conn of this.#adopted) conn.thaw();
          const adopted = this.#adopted.length;
          this.#adopted = [];
          this.#send({ t: 'committed' });
          // The predecessor keeps the channel only to forward late accepts; it must not keep us alive.
          this.#channel.channel?.unref();
          resolve({ adopted });
        },
        abort: (reason) => {
          this.#channel.off('disconnect', onGone);
          this.#abort();
          reject(new IrcHandoffError('ERR_HANDOFF_SUCCESSOR_GONE', `the predecessor called the hand-off off: ${reason}`));
        },
      };
      this.#send({ t: 'ready' });
    });
  }

  #pending: { state: ((data: unknown) => void) | undefined; commit: () => void; abort: (reason: string) => void } | undefined;

  #handle(msg: ToSuccessor & { version: number }, handle: unknown): void {
    const backend = this.#backend;
    switch (msg.t) {
      case 'state':
        this.#pending?.state?.(decode(msg.data));
        return;
      case 'conn': {
        if (backend === undefined) return;
        // Node passes no handle for a socket that was closed on the way: nothing to adopt.
        if (!(handle instanceof net.Socket)) {
          this.#send({ t: 'adopted', seq: msg.seq });
          return;
        }
        const { snap, data } = decode(msg.snap) as { snap: ConnectionSnapshot; data: unknown };
        const listener = msg.listener === undefined ? undefined : this.#listeners.get(msg.listener)?.listener;
        this.#adopted.push(backend.adoptConnection(handle, snap, listener, data));
        this.#send({ t: 'adopted', seq: msg.seq });
        return;
      }
      case 'commit':
        this.#pending?.commit();
        return;
      case 'accepted': {
        const inherited = this.#listeners.get(msg.key);
        if (inherited?.claimed === true) inherited.offer(handle as Socket);
        else (handle as Socket).destroy();
        return;
      }
      case 'abort':
        this.#pending?.abort(msg.reason);
        return;
      default:
        return;
    }
  }

  /** The predecessor keeps everything: let go of our copies without closing the connections. */
  #abort(): void {
    for (const conn of this.#adopted) this.#backend?.releaseConnection(conn);
    this.#adopted = [];
    for (const inherited of this.#listeners.values()) {
      const l = inherited.listener;
      // Closing a Unix listening socket unlinks its file, which the predecessor still serves: that copy goes at exit.
      if (inherited.kind === 'unix' || l?.path !== undefined) {
        if (l !== undefined) this.#backend?.releaseListener(l, refuse);
        inherited.server.unref();
      } else if (l !== undefined) {
        this.#backend?.closeListener(l);
      } else {
        inherited.close();
      }
    }
    this.#stop();
  }

  #stop(): void {
    if (this.#onMessage !== undefined) this.#channel.off('message', this.#onMessage);
    this.#onMessage = undefined;
  }
}
