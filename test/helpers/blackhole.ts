/**
 * An address that does not answer: a TCP port on `::1` whose listener never
 * accepts (a child process blocked right after listen()) and whose accept
 * queue is full, so the kernel drops every further SYN and a connect hangs
 * — what a dead IPv6 route looks like to Happy Eyeballs, on a loopback-only
 * machine where an unused port or an unrouted prefix would fail at once.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import type { TestContext } from 'node:test';

// Linux queues backlog + 1 finished handshakes; Node turns a backlog of 0 into 511.
const BACKLOG = 1;

const CHILD = `
const net = require('node:net');
const fs = require('node:fs');
const s = net.createServer();
s.listen({ host: process.argv[1], port: Number(process.argv[2]), backlog: ${BACKLOG} }, () => {
  fs.writeSync(1, s.address().port + '\\n');
  // Blocks the event loop: nothing is ever accepted. The test kills us.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);
});`;

/** A port on `host` (default ::1) where connects hang; `port` 0 picks one. */
export async function blackhole(t: TestContext, host = '::1', port = 0): Promise<number> {
  const child = spawn(process.execPath, ['-e', CHILD, host, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  const fillers: net.Socket[] = [];
  t.after(async () => {
    for (const s of fillers) s.destroy();
    process.kill(child.pid as number);
    await exited;
  });
  const bound = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => { resolve(Number(String(d).trim())); });
    child.once('exit', (code) => { reject(new Error(`blackhole child exited (${String(code)})`)); });
  });
  // Fill the accept queue: these handshakes complete, later ones are dropped.
  for (let i = 0; i <= BACKLOG; i++) {
    const s = net.connect({ host, port: bound });
    fillers.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => { resolve(); });
      s.once('error', reject);
    });
  }
  return bound;
}
