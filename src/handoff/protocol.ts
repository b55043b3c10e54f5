/**
 * The hand-off protocol: the messages the old process (the predecessor) and
 * its successor exchange over Node's IPC channel, and the codec that carries
 * Buffers through it. Every message names the protocol and its version, so
 * neither side mistakes the application's own IPC messages for ours.
 *
 *   successor                         predecessor
 *   hello {version}          →
 *                            ←        welcome | refuse {reason}
 *                            ←        listener {key, kind, proxy} + listening socket   (each)
 *                            ←        listeners-done
 *   ready                    →        (the successor has taken up its listeners)
 *                            ←        state {data}
 *                            ←        conn {seq, listener, snap, data} + socket          (each)
 *   adopted {seq}            →        (each)
 *                            ←        commit {count}
 *   committed                →        (the successor serves them; the predecessor forgets them)
 *                            ←        accepted {key} + socket   (any socket the old listeners still take)
 *                            ←        abort {reason}            (before commit: the successor lets go)
 */
import type { InheritedKind } from '../listen/inherited.js';

/** The protocol version both sides must agree on. */
export const HANDOFF_VERSION = 1;
const PROTOCOL = 'ircsock-handoff';

export type ToSuccessor =
  | { t: 'welcome' }
  | { t: 'refuse'; reason: string }
  | { t: 'listener'; key: string; kind: InheritedKind; proxy: boolean }
  | { t: 'listeners-done' }
  | { t: 'state'; data: string }
  | { t: 'conn'; seq: number; listener: string | undefined; snap: string }
  | { t: 'commit'; count: number }
  | { t: 'accepted'; key: string }
  | { t: 'abort'; reason: string };

export type ToPredecessor = { t: 'hello'; version: number } | { t: 'ready' } | { t: 'adopted'; seq: number } | { t: 'committed' };

type Wire<T> = T & { protocol: typeof PROTOCOL; version: number };

export function wrap<T extends ToSuccessor | ToPredecessor>(msg: T): Wire<T> {
  return { ...msg, protocol: PROTOCOL, version: HANDOFF_VERSION };
}

/** The message, when it is one of ours (of any version: the version check is the caller's). */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names which direction it reads
export function unwrap<T extends ToSuccessor | ToPredecessor>(msg: unknown): (T & { version: number }) | undefined {
  if (typeof msg !== 'object' || msg === null) return undefined;
  const m = msg as { protocol?: unknown; version?: unknown; t?: unknown };
  if (m.protocol !== PROTOCOL || typeof m.version !== 'number' || typeof m.t !== 'string') return undefined;
  return msg as T & { version: number };
}

/**
 * JSON with Buffers as base64: Node's IPC default is JSON, which would turn
 * a Buffer into an array of numbers (or, with 'advanced' serialization, keep
 * it); this works under both.
 */
export function encode(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const raw = this[key];
    return Buffer.isBuffer(raw) ? { $b64: raw.toString('base64') } : v;
  });
}

export function decode(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (typeof v === 'object' && v !== null && typeof (v as { $b64?: unknown }).$b64 === 'string' && Object.keys(v).length === 1) {
      return Buffer.from((v as { $b64: string }).$b64, 'base64');
    }
    return v;
  });
}

/** How both sides name a listening socket: `addr:port`, `[addr]:port`, `unix:/path`. */
export function listenerKey(l: { path: string | undefined; addr: string; port: number }): string {
  if (l.path !== undefined) return `unix:${l.path}`;
  return l.addr.includes(':') ? `[${l.addr}]:${l.port}` : `${l.addr}:${l.port}`;
}
