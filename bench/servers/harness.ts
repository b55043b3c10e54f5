/**
 * What every server under test shares: it runs as a child process of the
 * benchmark, reports its port (and socket file, and whether it requires a
 * PROXY header) with a `ready` event, and answers `stats`
 * (its own `process.cpuUsage()`, `memoryUsage()` and connection count) and
 * `gc` (collect, when started with `--expose-gc`, then `stats`).
 */
import { emitToParent, serveParent } from '../lib/child.js';

export interface ServerStats {
  cpu: NodeJS.CpuUsage;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  connections: number;
  /** Whether `gc` could collect (`--expose-gc`). */
  gc: boolean;
}

export interface ServerUnderTest {
  /** 0 for a Unix-socket server. */
  port: number;
  /** The socket file, for a server listening on a Unix socket (`--path`). */
  path?: string;
  /** Whether the listener requires a PROXY header (`--proxy`). */
  proxy?: boolean;
  /** Whether the listener speaks WebSocket (`--websocket`). */
  websocket?: boolean;
  connections(): number;
  close(): Promise<void> | void;
}

function stats(srv: ServerUnderTest): ServerStats {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return {
    cpu,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    connections: srv.connections(),
    gc: typeof globalThis.gc === 'function',
  };
}

export async function runServer(start: () => Promise<ServerUnderTest>): Promise<void> {
  const srv = await start();
  serveParent(
    {
      stats: () => stats(srv),
      gc: async () => {
        const gc = globalThis.gc;
        if (typeof gc === 'function') {
          // Twice, with a turn between, so weak callbacks and finalizers run.
          gc();
          await new Promise((r) => setImmediate(r));
          gc();
        }
        return stats(srv);
      },
    },
    () => srv.close(),
  );
  emitToParent('ready', { port: srv.port, path: srv.path, proxy: srv.proxy === true, websocket: srv.websocket === true, pid: process.pid });
}
