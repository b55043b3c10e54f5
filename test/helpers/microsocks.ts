/**
 * A real SOCKS5 server for tests: Debian's `microsocks` on 127.0.0.1, on a
 * free port, killed by its pid at the end of the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { closedPort } from './net.js';

export const MICROSOCKS = '/usr/bin/microsocks';
export const MICROSOCKS_MISSING = 'microsocks not installed: apt-get install microsocks';

/** `false` when microsocks is there, else the message for node:test's `skip`. */
export const microsocksSkip: string | false = existsSync(MICROSOCKS) ? false : MICROSOCKS_MISSING;

export interface Microsocks {
  port: number;
  child: ChildProcess;
}

/** Starts microsocks (with `-u user -P password` when given) and resolves once it accepts connections. */
export async function startMicrosocks(t: TestContext, auth?: { user: string; password: string }): Promise<Microsocks> {
  const port = await closedPort();
  const args = ['-i', '127.0.0.1', '-p', String(port), ...(auth === undefined ? [] : ['-u', auth.user, '-P', auth.password])];
  const child = spawn(MICROSOCKS, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid as number);
      await exited;
    }
  });
  // Ready when a TCP connection is accepted; it prints nothing when it is.
  for (let tries = 0; ; tries++) {
    if (child.exitCode !== null) throw new Error(`microsocks exited (${String(child.exitCode)}): ${stderr}`);
    if (await accepts(port)) break;
    if (tries > 200) throw new Error(`microsocks did not listen on 127.0.0.1:${port}: ${stderr}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return { port, child };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      resolve(false);
    });
  });
}
