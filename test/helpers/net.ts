/**
 * Small helpers for socket tests: waiting on events without hanging, a raw
 * line client over `net`, and an IPv6 probe.
 */
import type { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Backend, BackendEvents } from '../../src/backend.js';

/** How long a test waits for an event before it fails instead of hanging. */
export const DEFAULT_WAIT = 5_000;

export interface OnceOptions<A extends unknown[]> {
  /** Milliseconds before the wait fails the test. Default {@link DEFAULT_WAIT}. */
  timeout?: number;
  /** Only resolve for an emission whose arguments pass this test. */
  filter?: (...args: A) => boolean;
}

/** Any emitter: the backend's events are typed by the overloads, others (sockets) are not. */
type AnyEmitter = NodeJS.EventEmitter;

/**
 * Resolves with the arguments of the next `event` (passing `filter`), or
 * rejects after `timeout` ms naming the event, so a missing event fails the
 * test in seconds. The timer is cleared either way.
 */
export function once<K extends keyof BackendEvents>(emitter: Backend, event: K, opts?: OnceOptions<BackendEvents[K]>): Promise<BackendEvents[K]>;
export function once(emitter: AnyEmitter, event: string, opts?: OnceOptions<unknown[]>): Promise<unknown[]>;
export function once(emitter: AnyEmitter, event: string, opts: OnceOptions<unknown[]> = {}): Promise<unknown[]> {
  const timeout = opts.timeout ?? DEFAULT_WAIT;
  return new Promise((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      if (opts.filter !== undefined && !opts.filter(...args)) return;
      clearTimeout(timer);
      emitter.off(event, onEvent);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`timed out after ${timeout} ms waiting for '${event}'`));
    }, timeout);
    emitter.on(event, onEvent);
  });
}

/** Resolves once `event` has fired `count` times in all (counting from now), with every emission's arguments. */
export function times<K extends keyof BackendEvents>(emitter: Backend, event: K, count: number, timeout?: number): Promise<BackendEvents[K][]>;
export function times(emitter: AnyEmitter, event: string, count: number, timeout?: number): Promise<unknown[][]>;
export function times(emitter: AnyEmitter, event: string, count: number, timeout = DEFAULT_WAIT): Promise<unknown[][]> {
  const seen: unknown[][] = [];
  return new Promise((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      seen.push(args);
      if (seen.length < count) return;
      clearTimeout(timer);
      emitter.off(event, onEvent);
      resolve(seen);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`timed out after ${timeout} ms waiting for ${count} '${event}' (got ${seen.length})`));
    }, timeout);
    emitter.on(event, onEvent);
  });
}

/** Counts every emission of the named events from now on; `stop()` detaches. */
export function countEvents(emitter: AnyEmitter, names: readonly string[]): { counts: Record<string, number>; stop(): void } {
  const ee = emitter;
  const counts: Record<string, number> = {};
  const handlers = names.map((name) => {
    counts[name] = 0;
    const h = (): void => {
      counts[name] = (counts[name] ?? 0) + 1;
    };
    ee.on(name, h);
    return [name, h] as const;
  });
  return {
    counts,
    stop() {
      for (const [name, h] of handlers) ee.off(name, h);
    },
  };
}

/** Resolves when `predicate()` holds, checking after every emission of `event`; fails after `timeout`. */
export async function until(emitter: AnyEmitter, event: string, predicate: () => boolean, timeout = DEFAULT_WAIT): Promise<void> {
  if (predicate()) return;
  await once(emitter, event, { timeout, filter: () => predicate() });
}

/**
 * A raw IRC peer over `net`: collects the lines it receives (without CR/LF)
 * and writes lines with CRLF. For checking what the backend puts on the wire.
 */
export class LineClient {
  readonly socket: net.Socket;
  readonly lines: string[] = [];
  /** Number of 'data' events seen. */
  chunks = 0;
  bytes = 0;
  /** Set once the socket has closed. */
  closed = false;
  error: Error | undefined = undefined;
  readonly #events: EventEmitter;
  #partial = '';

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.#events = socket;
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      this.chunks++;
      this.bytes += text.length;
      const parts = (this.#partial + text).split('\n');
      this.#partial = parts.pop() ?? '';
      for (const p of parts) {
        this.lines.push(p.endsWith('\r') ? p.slice(0, -1) : p);
        socket.emit('line');
      }
    });
    socket.on('error', (err) => {
      this.error = err;
    });
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Collects the lines of a socket the caller made (TLS, a bound local address, ...). */
  static over(socket: net.Socket): LineClient {
    return new LineClient(socket);
  }

  /** Connects to `host:port`; resolves once connected. */
  static async connect(port: number, host = '127.0.0.1', timeout = DEFAULT_WAIT): Promise<LineClient> {
    const socket = net.connect({ host, port });
    try {
      await once(socket, 'connect', { timeout });
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return new LineClient(socket);
  }

  /** Writes each line with CRLF, in one write. */
  write(...lines: string[]): void {
    this.socket.write(lines.map((l) => l + '\r\n').join(''));
  }

  /** Resolves when at least `n` lines have arrived in all; returns them all. */
  async waitLines(n: number, timeout = DEFAULT_WAIT): Promise<string[]> {
    if (this.lines.length < n) {
      await once(this.#events, 'line', { timeout, filter: () => this.lines.length >= n });
    }
    return this.lines;
  }

  /** Resolves with line number `n` (0-based) once it has arrived. */
  async line(n: number, timeout = DEFAULT_WAIT): Promise<string> {
    return (await this.waitLines(n + 1, timeout))[n] as string;
  }

  /** Resolves once the socket has closed. */
  async waitClosed(timeout = DEFAULT_WAIT): Promise<void> {
    if (!this.closed) await once(this.#events, 'close', { timeout });
  }

  /** Destroys the socket and waits for it to close. */
  async destroy(): Promise<void> {
    this.socket.destroy();
    await this.waitClosed();
  }
}

/** Whether this machine can bind `::1` (some containers have no IPv6). */
export function hasIPv6(): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => {
      resolve(false);
    });
    server.listen({ host: '::1', port: 0, ipv6Only: true }, () => {
      server.close(() => {
        resolve(true);
      });
    });
  });
}

/** A port that nobody listens on: bound once, then closed. */
export function closedPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host, port: 0 }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/** A plain TCP server that accepts and reads but never answers: a TLS handshake to it never completes. */
export async function silentServer(): Promise<{ silent: net.Server; held: net.Socket[]; port: number }> {
  const silent = net.createServer();
  const held: net.Socket[] = [];
  silent.on('connection', (s) => {
    held.push(s);
    s.resume();
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  return { silent, held, port: (silent.address() as net.AddressInfo).port };
}
