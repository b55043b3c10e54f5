/**
 * The Node ceiling: a plain `net` server that splits input into lines with
 * `Buffer.indexOf` (no IRC parsing) and writes each complete line that starts
 * with `PRIVMSG ` (a byte compare, as the ircsock server relays only PRIVMSG)
 * to every other socket. How the writes reach the kernel is chosen by `--mode`:
 *
 * - `queue` (the default, "plain"): each line is pushed onto a per-socket
 *   array, and once per turn of the event loop each socket gets one
 *   `Buffer.concat` and one `write` — ircsock's own write strategy, without
 *   IRC parsing, formatting or the backend's bookkeeping.
 * - `cork` ("plain-cork"): `socket.write(line)` per line, the socket corked at
 *   its first write of the turn and uncorked in `setImmediate` (one writev per
 *   turn) — the textbook Node idiom.
 * - `chunk` ("plain-chunk"): the complete lines of each read written as one
 *   buffer to each other socket — no per-line work at all; a lower bound on
 *   the cost of relaying bytes, not of relaying lines.
 *
 * A `PRIVMSG` whose target does not start with `#` goes to the one socket
 * that sent `NICK <target>` (a Map lookup of the target's bytes as latin1;
 * no casemapping, no registration): the one-to-one ceiling of the relay
 * bench's pairs workload. Channel targets go to every other socket, as before.
 *
 * `--path FILE`: listen on a Unix-domain socket at FILE instead of 127.0.0.1.
 */
import net, { type Socket } from 'node:net';
import { runServer } from './harness.js';

const LF = 0x0a;
// Like the ircsock server's handler, relay PRIVMSG lines only (a byte compare, not parsing).
const PRIVMSG = Buffer.from('PRIVMSG ');
const NICK = Buffer.from('NICK ');
const HASH = 0x23;
const SPACE = 0x20;
const CR = 0x0d;
const modeArg = process.argv.indexOf('--mode');
const mode = modeArg >= 0 ? process.argv[modeArg + 1] : 'queue';
if (mode !== 'queue' && mode !== 'cork' && mode !== 'chunk') throw new Error(`--mode queue|cork|chunk, not ${String(mode)}`);
// `--path FILE`: listen on a Unix-domain socket instead of 127.0.0.1.
const pathArg = process.argv.indexOf('--path');
const path = pathArg >= 0 ? process.argv[pathArg + 1] : undefined;
if (pathArg >= 0 && (path === undefined || path === '')) throw new Error('--path FILE');

interface Peer {
  sock: Socket;
  rest: Buffer | undefined;
  nick: string | undefined;
  pending: Buffer[];
  pendingBytes: number;
}

await runServer(async () => {
  const peers: Peer[] = [];
  const byNick = new Map<string, Peer>();
  let dirty: Peer[] = [];
  let flushScheduled = false;

  const flushAll = (): void => {
    flushScheduled = false;
    const list = dirty;
    dirty = [];
    for (const p of list) {
      if (mode === 'cork') {
        p.sock.uncork();
        continue;
      }
      const data = p.pending.length === 1 ? (p.pending[0] as Buffer) : Buffer.concat(p.pending, p.pendingBytes);
      p.pending = [];
      p.pendingBytes = 0;
      if (!p.sock.destroyed) p.sock.write(data);
    }
  };
  const out = (p: Peer, buf: Buffer): void => {
    if (mode === 'cork') {
      if (p.sock.writableCorked === 0) {
        p.sock.cork();
        dirty.push(p);
      }
      p.sock.write(buf);
    } else {
      if (p.pendingBytes === 0) dirty.push(p);
      p.pending.push(buf);
      p.pendingBytes += buf.length;
    }
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushAll);
    }
  };

  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    const me: Peer = { sock, rest: undefined, nick: undefined, pending: [], pendingBytes: 0 };
    peers.push(me);
    sock.on('data', (chunk: Buffer) => {
      let data = chunk;
      if (me.rest !== undefined) {
        data = Buffer.concat([me.rest, chunk]);
        me.rest = undefined;
      }
      let start = 0;
      if (mode === 'chunk') {
        const last = data.lastIndexOf(LF);
        if (last >= 0) {
          const lines = data.subarray(0, last + 1);
          for (const p of peers) if (p !== me) out(p, lines);
          start = last + 1;
        }
      } else {
        let lf = data.indexOf(LF);
        while (lf !== -1) {
          if (data.compare(PRIVMSG, 0, PRIVMSG.length, start, start + PRIVMSG.length) === 0) {
            const line = data.subarray(start, lf + 1);
            const at = start + PRIVMSG.length;
            if (data[at] === HASH) {
              for (const p of peers) if (p !== me) out(p, line);
            } else {
              const sp = data.indexOf(SPACE, at);
              const to = sp >= 0 && sp < lf ? byNick.get(data.toString('latin1', at, sp)) : undefined;
              if (to !== undefined) out(to, line);
            }
          } else if (data.compare(NICK, 0, NICK.length, start, start + NICK.length) === 0) {
            const end = data[lf - 1] === CR ? lf - 1 : lf;
            if (me.nick !== undefined) byNick.delete(me.nick);
            me.nick = data.toString('latin1', start + NICK.length, end);
            byNick.set(me.nick, me);
          }
          start = lf + 1;
          lf = data.indexOf(LF, start);
        }
      }
      if (start < data.length) me.rest = Buffer.from(data.subarray(start));
    });
    sock.on('error', () => {
      // 'close' follows.
    });
    sock.on('close', () => {
      const i = peers.indexOf(me);
      if (i >= 0) peers.splice(i, 1);
      if (me.nick !== undefined && byNick.get(me.nick) === me) byNick.delete(me.nick);
    });
  });
  await new Promise<void>((resolve) => server.listen(path !== undefined ? { path, backlog: 4096 } : { host: '127.0.0.1', port: 0, backlog: 4096 }, resolve));
  return {
    port: path !== undefined ? 0 : (server.address() as net.AddressInfo).port,
    ...(path !== undefined ? { path } : {}),
    connections: () => peers.length,
    close: () => {
      for (const p of peers) p.sock.destroy();
      return new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
});
