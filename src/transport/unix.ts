import { chmod, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { IrcArgumentError } from '../errors.js';

/** How long to wait for an answer on an existing socket file before calling it stale. */
const PROBE_TIMEOUT = 1_000;

/**
 * Makes `path` free to listen on without ever stealing a live socket: a
 * socket file that nobody answers on (left by a process that died) is
 * removed; one that answers is in use (`EADDRINUSE`); a file that is not a
 * socket is never touched (the listen fails with Node's `EADDRINUSE`).
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) return;
  if (await answers(path)) {
    const err: NodeJS.ErrnoException = new Error(`listen EADDRINUSE: a live server answers on ${path}`);
    err.code = 'EADDRINUSE';
    err.syscall = 'listen';
    throw err;
  }
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect({ path });
    const done = (live: boolean): void => {
      clearTimeout(timer);
      probe.destroy();
      resolve(live);
    };
    // A server too busy to accept within the probe time is still alive: never steal it.
    const timer = setTimeout(() => { done(true); }, PROBE_TIMEOUT);
    probe.once('connect', () => { done(true); });
    probe.once('error', (err: NodeJS.ErrnoException) => { done(err.code !== 'ECONNREFUSED' && err.code !== 'ENOENT'); });
  });
}

/**
 * Sets the socket file's mode once it is bound. Until then it has the mode
 * the umask gives (0755 by default): connecting needs write permission, so
 * only the owner can connect in between, and widening or narrowing it here
 * lets no one else in early.
 */
export async function setSocketMode(path: string, mode: number): Promise<void> {
  await chmod(path, mode);
}

export function checkSocketMode(where: string, mode: unknown): number | undefined {
  if (mode === undefined) return undefined;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `${where}: 'mode' must be a file mode from 0 to 0o777, e.g. 0o660`);
  }
  return mode;
}
