/**
 * `npm run test:stress` (issue 6, item 5): the relay in its own process under
 * hostile peers, one `node:test` test per part, run one after another. Every
 * part checks, besides its own invariants: the relay process is alive and
 * answers; a watchdog client's PING (every 200 ms) is answered within 2 s
 * throughout; two healthy clients exchanging sequenced PRIVMSGs in a channel
 * lose nothing and see them in order; the relay's peak RSS stays under the
 * part's stated bound. The figures of every part are printed as one table.
 *
 * STRESS_SCALE (default 1) scales attack durations and counts (0.2 while
 * developing); STRESS_SEED sets the fuzzer's seed.
 */
import { after, test } from 'node:test';
import net from 'node:net';
import tls from 'node:tls';
import { localhostCert } from '../helpers/tls-cert.js';
import { fuzzChunk, type FuzzKind } from './fuzz.js';
import { DEFAULT_LIMITS } from '../../src/limits.js';
import { IrcClient, MiB, Prng, connectSocket, mib, pool, scaled, sleep, tally, waitUntil, type RelayStats } from './harness.js';
import { renderRows, runPart, type PartEnv } from './part.js';

const PART_TIMEOUT = 180_000;

after(() => {
  console.log(renderRows());
});

/** Waits for a socket's 'close' (true) or gives up after `timeout` (false). */
function closed(socket: net.Socket, timeout: number): Promise<boolean> {
  if (socket.closed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('close', onClose);
      resolve(false);
    }, timeout);
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('close', onClose);
  });
}

/** Waits for 'drain' or 'close', at most `timeout`. */
function drained(socket: net.Socket, timeout: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, timeout);
    socket.once('drain', done);
    socket.once('close', done);
  });
}

/** Until the relay's tables are back at the baseline: connections, clients, admission counts. */
async function tablesAtBaseline(env: PartEnv, timeout: number): Promise<RelayStats> {
  let last = env.base;
  const ok = await waitUntil(
    async () => {
      last = await env.relay.stats();
      return last.connections === env.base.connections && last.clients === env.base.clients && sameAdmission(last, env.base);
    },
    timeout,
    200,
  );
  env.check(
    ok,
    `tables not back at baseline after ${timeout} ms: connections ${last.connections} (baseline ${env.base.connections}), clients ${last.clients} (${env.base.clients}), admission ${JSON.stringify(last.admission)} (${JSON.stringify(env.base.admission)})`,
  );
  return last;
}

function sameAdmission(a: RelayStats, b: RelayStats): boolean {
  return JSON.stringify(a.admission.map((x) => x.active)) === JSON.stringify(b.admission.map((x) => x.active));
}

function sum(t: Record<string, number>): number {
  return Object.values(t).reduce((x, y) => x + y, 0);
}

// ---- 1. fuzz -------------------------------------------------------------------

test('1 fuzz: 50 connections send random and mutated IRC bytes for 20 s', { timeout: PART_TIMEOUT }, () =>
  runPart({
    name: '1 fuzz',
    relay: {},
    rssBound: { bytes: (b) => b.rss + 96 * MiB, text: 'baseline + 96 MiB' },
    async attack(env) {
      const seed = Number(process.env.STRESS_SEED ?? 0x5eed);
      const conns = 50;
      const duration = scaled(20_000, 3_000);
      const deadline = performance.now() + duration;
      const kinds: Partial<Record<FuzzKind, number>> = {};
      let bytes = 0;
      let connects = 0;
      let closedByRelay = 0;
      let connectErrors = 0;
      const fuzzer = async (n: number): Promise<void> => {
        const rng = new Prng(seed + n * 7919);
        while (performance.now() < deadline) {
          let socket: net.Socket;
          try {
            socket = await connectSocket({ port: env.port });
          } catch {
            connectErrors++;
            await sleep(50);
            continue;
          }
          connects++;
          socket.on('error', () => undefined);
          socket.resume();
          while (!socket.closed && !socket.destroyed && performance.now() < deadline) {
            const { kind, data } = fuzzChunk(rng, n);
            kinds[kind] = (kinds[kind] ?? 0) + 1;
            bytes += data.length;
            if (!socket.write(data)) await drained(socket, 2_000);
            await sleep(rng.int(0, 20));
          }
          if (socket.closed || socket.destroyed) closedByRelay++;
          else socket.destroy();
          await closed(socket, 2_000);
        }
      };
      await Promise.all(Array.from({ length: conns }, (_, n) => fuzzer(n)));
      const s = await tablesAtBaseline(env, 10_000);
      const badLines = sum(s.inputErrors);
      env.check(badLines > 0, 'the relay reported no bad input: the fuzz did not reach the decoder and parser');
      env.check(connectErrors === 0, `${connectErrors} fuzz connects failed`);
      Object.assign(env.figures, {
        seed,
        connections: connects,
        closedByRelay,
        sent: `${mib(bytes)}MiB`,
        chunks: Object.values(kinds).reduce((a, b) => a + b, 0),
        relayInputErrors: tally(s.inputErrors),
        relayLines: s.inputs,
        relayDisconnects: tally(s.disconnectReasons, 5),
      });
    },
  }),
);

// ---- 2. slowloris ----------------------------------------------------------------

const SLOW_FIRST_LINE = 4_000;
const SLOW_IDLE = 3_000;
/** Timer and scheduling slack allowed on top of the relay's deadlines. */
const SLACK = 2_500;

test('2 slowloris: 1,000 connections send one byte per second', { timeout: PART_TIMEOUT }, () =>
  runPart({
    name: '2 slowloris',
    relay: { idle: SLOW_IDLE, limits: { firstLineTimeout: SLOW_FIRST_LINE } },
    rssBound: { bytes: (b) => b.rss + 96 * MiB, text: 'baseline + 96 MiB' },
    async attack(env) {
      const target = scaled(1_000, 50);
      const duration = scaled(15_000, 4_000);
      const deadline = performance.now() + duration;
      interface Dribbler {
        socket: net.Socket;
        born: number;
        registered: boolean;
        pos: number;
        text: Buffer;
        ours: boolean;
      }
      const open = new Set<Dribbler>();
      let id = 0;
      let opened = 0;
      let peakOpen = 0;
      let connectErrors = 0;
      const dropped = { unregistered: 0, registered: 0 };
      const maxLife = { unregistered: 0, registered: 0 };
      const late: string[] = [];

      const dribble = setInterval(() => {
        for (const d of open) {
          d.socket.write(d.text.subarray(d.pos % d.text.length, (d.pos % d.text.length) + 1));
          d.pos++;
        }
      }, 1_000);

      const openOne = async (): Promise<void> => {
        const n = ++id;
        // Every tenth registers first (so only idle handling can drop it), the rest never send a full line.
        const registered = n % 10 === 0;
        let socket: net.Socket;
        try {
          socket = await connectSocket({ port: env.port });
        } catch {
          connectErrors++;
          return;
        }
        opened++;
        socket.on('error', () => undefined);
        socket.resume();
        const d: Dribbler = {
          socket,
          born: performance.now(),
          registered,
          pos: 0,
          text: Buffer.from(registered ? `PRIVMSG #nowhere :${'z'.repeat(200)}` : `NICK slowloris${n}${'y'.repeat(200)}`),
          ours: false,
        };
        if (registered) socket.write(`NICK sl${n}\r\nUSER sl 0 * :slow\r\n`);
        open.add(d);
        peakOpen = Math.max(peakOpen, open.size);
        socket.once('close', () => {
          open.delete(d);
          if (d.ours) return;
          const life = performance.now() - d.born;
          const kind = registered ? 'registered' : 'unregistered';
          dropped[kind]++;
          maxLife[kind] = Math.max(maxLife[kind], life);
          const bound = registered ? 2 * SLOW_IDLE + SLACK : SLOW_FIRST_LINE + SLACK;
          if (life > bound && late.length < 5) late.push(`${kind} dribbler lived ${Math.round(life)} ms (> ${bound})`);
        });
      };

      // Keep `target` dribblers connected until the deadline, opening at most 200 at a time.
      while (performance.now() < deadline) {
        const want = target - open.size;
        if (want > 0) await pool(want, 200, openOne);
        else await sleep(100);
      }
      // Then let the relay drop the rest: none may outlive its deadline.
      const lastBound = 2 * SLOW_IDLE + SLACK + 1_000;
      const allDropped = await waitUntil(() => open.size === 0, lastBound, 100);
      clearInterval(dribble);
      env.check(allDropped, `${open.size} dribblers still connected ${lastBound} ms after the attack stopped`);
      for (const d of open) {
        d.ours = true;
        d.socket.destroy();
      }
      env.failures.push(...late);
      env.check(connectErrors === 0, `${connectErrors} dribbler connects failed`);
      env.check(dropped.unregistered > 0 && dropped.registered > 0, 'the relay dropped no dribbler of one kind');
      const s = await tablesAtBaseline(env, 5_000);
      Object.assign(env.figures, {
        dribblers: opened,
        peakOpen,
        droppedFirstLine: dropped.unregistered,
        droppedIdle: dropped.registered,
        maxLifeFirstLine: `${(maxLife.unregistered / 1000).toFixed(1)}s(≤${(SLOW_FIRST_LINE + SLACK) / 1000})`,
        maxLifeIdle: `${(maxLife.registered / 1000).toFixed(1)}s(≤${(2 * SLOW_IDLE + SLACK) / 1000})`,
        relay: tally(s.disconnectCodes, 4),
      });
    },
  }),
);

// ---- 3. slow readers ---------------------------------------------------------------

const SLOW_SENDQ = 256 * 1024;
const SLOW_READERS = scaled(200, 20);

test('3 slow readers: 200 connections never read while others flood the channel', { timeout: PART_TIMEOUT }, () =>
  runPart({
    name: '3 slow readers',
    relay: { idle: 0, limits: { sendQ: SLOW_SENDQ, sendQHighWater: 64 * 1024 } },
    rssBound: { bytes: (b) => b.rss + SLOW_READERS * SLOW_SENDQ + 96 * MiB, text: `baseline + ${SLOW_READERS} × SendQ + 96 MiB` },
    async attack(env) {
      const n = SLOW_READERS;
      const channel = '#flood';
      const readers: IrcClient[] = [];
      await pool(n, 50, async (i) => {
        const c = await IrcClient.connect(`sr${i}`, { port: env.port });
        readers.push(c);
        await c.register(`sr${i}`);
        await c.join(channel, 10_000);
        c.socket.pause(); // Never reads again.
      });
      // One flooder: it receives only JOINs and QUITs. (A second one would receive the first one's flood, and
      // this process could not read it as fast as the relay sends: the relay would rightly drop it too.)
      const flooders: IrcClient[] = [];
      for (let k = 0; k < 1; k++) {
        const f = await IrcClient.connect(`flood${k}`, { port: env.port });
        await f.register(`flood${k}`);
        await f.join(channel, 10_000);
        // From here on only count what arrives: the flood is not worth parsing.
        f.socket.removeAllListeners('data');
        f.socket.on('data', () => undefined);
        flooders.push(f);
      }
      const started = performance.now();
      const deadline = started + scaled(30_000, 15_000);
      let stop = false;
      let lines = 0;
      let bytes = 0;
      const pad = 'f'.repeat(100);
      const flood = async (f: IrcClient, k: number): Promise<void> => {
        let seq = 0;
        while (!stop && !f.closed) {
          let batch = '';
          for (let j = 0; j < 64; j++) batch += `PRIVMSG ${channel} :${k} ${++seq} ${pad}\r\n`;
          lines += 64;
          bytes += batch.length;
          if (!f.socket.write(batch)) await drained(f.socket, 1_000);
        }
      };
      const floods = flooders.map((f, k) => flood(f, k));
      let s = env.base;
      const allDropped = await waitUntil(
        async () => {
          s = await env.relay.stats();
          return (s.disconnectCodes.ERR_SENDQ_EXCEEDED ?? 0) >= n || performance.now() > deadline;
        },
        deadline - performance.now() + 1_000,
        250,
      );
      const dropMs = performance.now() - started;
      stop = true;
      await Promise.all(floods);
      s = await env.relay.stats();
      const sendq = s.disconnectCodes.ERR_SENDQ_EXCEEDED ?? 0;
      env.check(allDropped && sendq === n, `${sendq} of ${n} slow readers dropped with SendQ exceeded (expected exactly ${n})`);
      env.check(flooders.every((f) => !f.closed), 'a flooder (a reading client) was dropped');
      Object.assign(env.figures, {
        slowReaders: n,
        droppedSendQ: sendq,
        allDroppedIn: `${(dropMs / 1000).toFixed(1)}s`,
        floodLinesWritten: lines,
        relayLinesIn: s.inputs - env.base.inputs,
        flood: `${mib(bytes)}MiB`,
        sendQ: `${SLOW_SENDQ / 1024}KiB`,
        relay: tally(s.disconnectCodes, 4),
      });
      for (const f of flooders) f.destroy();
      for (const r of readers) r.destroy();
      await tablesAtBaseline(env, 10_000);
    },
  }),
);

// ---- 4. churn ----------------------------------------------------------------------

type ChurnKind = 'close' | 'reset' | 'partial' | 'quit' | 'join';
const CHURN_KINDS: readonly ChurnKind[] = [
  ...Array<ChurnKind>(9).fill('close'),
  ...Array<ChurnKind>(5).fill('reset'),
  ...Array<ChurnKind>(3).fill('partial'),
  ...Array<ChurnKind>(2).fill('quit'),
  'join',
];

/** Heap used after GC at the end of the churn part's warm-up round. */
const churnHeapMark = new WeakMap<PartEnv, number>();

async function churnCycle(port: number, i: number, kind: ChurnKind): Promise<string | undefined> {
  const socket = net.connect({ host: '127.0.0.1', port });
  let error: string | undefined;
  socket.on('error', (err: NodeJS.ErrnoException) => {
    error ??= err.code ?? err.message;
  });
  let text = '';
  const until = (pattern: string): Promise<boolean> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        done(false);
      }, 10_000);
      const onData = (chunk: Buffer): void => {
        text += chunk.toString('latin1');
        if (text.includes(pattern)) done(true);
      };
      const onClose = (): void => {
        done(text.includes(pattern));
      };
      const done = (ok: boolean): void => {
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('close', onClose);
        resolve(ok);
      };
      socket.on('data', onData);
      socket.once('close', onClose);
    });
  const connected = await new Promise<boolean>((resolve) => {
    socket.once('connect', () => {
      resolve(true);
    });
    socket.once('close', () => {
      resolve(false);
    });
  });
  if (!connected) return `connect: ${error ?? 'closed'}`;
  switch (kind) {
    case 'close':
      socket.end();
      break;
    case 'reset':
      socket.resetAndDestroy();
      break;
    case 'partial':
      socket.end('NICK half');
      break;
    case 'quit':
      socket.write(`NICK ch${i}\r\nUSER ch 0 * :churn\r\n`);
      if (!(await until(' 001 '))) return 'quit: no 001';
      socket.write('QUIT :churn\r\n');
      if (!(await until('ERROR :Closing link'))) return 'quit: no ERROR';
      break;
    case 'join':
      socket.write(`NICK ch${i}\r\nUSER ch 0 * :churn\r\nJOIN #churn\r\n`);
      if (!(await until(' 366 '))) return 'join: no 366';
      socket.destroy();
      break;
  }
  socket.resume();
  if (!(await closed(socket, 10_000))) {
    socket.destroy();
    return `${kind}: not closed within 10 s`;
  }
  return undefined;
}

test('4 churn: 20,000 connect/disconnect cycles, 200 at a time', { timeout: PART_TIMEOUT }, () =>
  runPart({
    name: '4 churn',
    relay: {},
    rssBound: { bytes: (b) => b.rss + 96 * MiB, text: 'baseline + 96 MiB' },
    async attack(env) {
      const cycles = scaled(20_000, 500);
      const concurrency = 200;
      const kinds: Partial<Record<ChurnKind, number>> = {};
      const errors: Record<string, number> = {};
      // A warm-up round first: what the first cycles leave for good (optimised code, inline caches, the
      // admission table's first window) is not a leak, and would otherwise count against the bound.
      const warmup = scaled(2_000, 100);
      await pool(warmup, concurrency, async (i) => {
        const err = await churnCycle(env.port, cycles + i, CHURN_KINDS[i % CHURN_KINDS.length] as ChurnKind);
        if (err !== undefined) errors[`warm-up ${err}`] = (errors[`warm-up ${err}`] ?? 0) + 1;
      });
      await tablesAtBaseline(env, 15_000);
      churnHeapMark.set(env, (await env.relay.gc()).heapUsed);
      const started = performance.now();
      await pool(cycles, concurrency, async (i) => {
        const kind = CHURN_KINDS[i % CHURN_KINDS.length] as ChurnKind;
        kinds[kind] = (kinds[kind] ?? 0) + 1;
        const err = await churnCycle(env.port, i, kind);
        if (err !== undefined) errors[err] = (errors[err] ?? 0) + 1;
      });
      const secs = (performance.now() - started) / 1000;
      env.check(sum(errors) === 0, `churn cycles failed: ${tally(errors)}`);
      Object.assign(env.figures, {
        cycles,
        perSecond: Math.round(cycles / secs),
        kinds: tally(kinds),
      });
    },
    async after(env) {
      // Tables first (connections, clients, admission), then every handle and timer back to the baseline's count.
      await tablesAtBaseline(env, 15_000);
      let last = env.base;
      const same = await waitUntil(
        async () => {
          last = await env.relay.stats();
          return JSON.stringify(sorted(last.handles)) === JSON.stringify(sorted(env.base.handles));
        },
        10_000,
        200,
      );
      env.check(same, `handles not back at baseline: ${JSON.stringify(sorted(last.handles))} (baseline ${JSON.stringify(sorted(env.base.handles))})`);
      const final = await env.relay.gc();
      const heapGrowth = final.heapUsed - (churnHeapMark.get(env) ?? env.base.heapUsed);
      env.check(heapGrowth <= 4 * MiB, `heap after GC grew by ${mib(heapGrowth)} MiB over 20,000 cycles after the warm-up (bound 4 MiB)`);
      Object.assign(env.figures, {
        handles: `${tally(final.handles, 8)}(=baseline)`,
        connections: `${final.connections}(=baseline)`,
        admissionActive: final.admission.map((a) => a.active).join(','),
        heapGrowthAfterGc: `${mib(heapGrowth)}MiB(≤4, from the warm-up mark)`,
        opened: final.opened,
      });
    },
  }),
);

function sorted(t: Record<string, number>): [string, number][] {
  return Object.entries(t).sort(([a], [b]) => a.localeCompare(b));
}

// ---- 5. long lines and a connect storm -------------------------------------------------

const STORM_THROTTLE = 20;

test('5 a 16 KiB line, 10 MiB lines without LF (closed at readQ), a connect storm above the throttle', { timeout: PART_TIMEOUT }, () =>
  runPart({
    name: '5 long lines + storm',
    relay: { admission: { exempt: [], maxPerIp: 1_000, throttle: { connections: STORM_THROTTLE, windowMs: 60_000 } } },
    rssBound: { bytes: (b) => b.rss + 96 * MiB, text: 'baseline + 96 MiB' },
    async attack(env) {
      // A 16 KiB line: 417, and the connection goes on.
      const c16 = await IrcClient.connect('long16', { port: env.port });
      await c16.register('long16');
      const got417 = c16.waitFor((m) => m.command === '417', '417 for the 16 KiB line');
      c16.send(`PRIVMSG #nowhere :${'A'.repeat(16 * 1024)}`);
      await got417;
      const pong16 = c16.waitFor((m) => m.command === 'PONG' && m.params[1] === 'after16k', 'PONG after the 16 KiB line');
      c16.send('PING after16k');
      await pong16;
      c16.destroy();

      // 10 MB without LF on 4 connections at once: the relay closes each (ERR_READQ_EXCEEDED) once 128 KiB of
      // the line (its readQ) have passed, within one socket read more; the relay and the other connections go on.
      const bigConns = 4;
      const big = 10 * MiB;
      const readQ = DEFAULT_LIMITS.readQ;
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      const before = await env.relay.gc();
      await env.relay.resetPeak();
      const started = performance.now();
      const n417s: number[] = [];
      const closedEarly: boolean[] = [];
      const sentInAll: number[] = [];
      await Promise.all(
        Array.from({ length: bigConns }, async (_, k) => {
          const c = await IrcClient.connect(`long${k}`, { port: env.port });
          await c.register(`long${k}`);
          n417s[k] = 0;
          c.onLine((m) => {
            if (m.command === '417') n417s[k] = (n417s[k] ?? 0) + 1;
          });
          // readQ + one chunk, then nothing more: the relay must close on these bytes alone.
          let sent = 0;
          for (; sent < readQ + chunk.length && !c.closed; sent += chunk.length) {
            if (!c.socket.write(chunk)) await drained(c.socket, 10_000);
          }
          closedEarly[k] = await closed(c.socket, 10_000);
          // Had it not closed, the rest of the 10 MB would follow.
          for (; sent < big && !c.closed; sent += chunk.length) {
            if (!c.socket.write(sent + chunk.length > big ? chunk.subarray(0, big - sent) : chunk)) await drained(c.socket, 10_000);
          }
          sentInAll[k] = sent;
          c.destroy();
        }),
      );
      const bigSecs = (performance.now() - started) / 1000;
      const held = await env.relay.gc();
      const during = await env.relay.stats();
      const peakRise = during.peakRss - before.rss;
      const heldRise = held.heapUsed + held.external - (before.heapUsed + before.external);
      const readqCloses = (held.disconnectCodes.ERR_READQ_EXCEEDED ?? 0) - (before.disconnectCodes.ERR_READQ_EXCEEDED ?? 0);
      env.check(
        closedEarly.length === bigConns && closedEarly.every((x) => x),
        `10 MB lines: closed by the relay after ${mib(readQ + chunk.length)} MiB sent: ${JSON.stringify(closedEarly)} (expected all)`,
      );
      env.check(readqCloses === bigConns, `10 MB lines: ${readqCloses} disconnects with ERR_READQ_EXCEEDED (expected ${bigConns})`);
      // The 417 for the line may be dropped with the queue of the connection it closes, never sent twice.
      env.check(n417s.every((x) => x <= 1), `417 counts for the 10 MB lines: ${JSON.stringify(n417s)} (expected at most one each)`);
      env.check(heldRise <= 4 * MiB, `after 4 × 10 MiB unterminated lines, the relay holds ${mib(heldRise)} MiB more (heap + external after GC; bound 4 MiB)`);
      // The relay goes on serving newcomers.
      const next = await IrcClient.connect('after10m', { port: env.port });
      await next.register('after10m');
      const pongNext = next.waitFor((m) => m.command === 'PONG' && m.params[1] === 'after10m', 'PONG after the 10 MiB lines');
      next.send('PING after10m');
      await pongNext;
      next.destroy();

      // A connect storm from 127.0.0.2, above its throttle of 20 per minute.
      const attempts = scaled(500, 100);
      let admitted = 0;
      let refused = 0;
      let refusedWithLine = 0;
      const other: Record<string, number> = {};
      await pool(attempts, 100, async (i) => {
        let socket: net.Socket;
        try {
          socket = await connectSocket({ port: env.port, localAddress: '127.0.0.2' });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code ?? 'connect';
          other[code] = (other[code] ?? 0) + 1;
          return;
        }
        socket.on('error', () => undefined);
        let text = '';
        socket.on('data', (d: Buffer) => {
          text += d.toString('latin1');
          if (text.includes(' 001 ')) socket.end('QUIT\r\n');
        });
        socket.write(`NICK storm${i}\r\nUSER st 0 * :storm\r\n`);
        if (!(await closed(socket, 10_000))) {
          socket.destroy();
          other.hung = (other.hung ?? 0) + 1;
          return;
        }
        if (text.includes(' 001 ')) admitted++;
        else {
          refused++;
          if (text.startsWith('ERROR :Closing link: 127.0.0.2 (Throttled')) refusedWithLine++;
        }
      });
      const s = await env.relay.stats();
      const throttled = s.refused.ERR_THROTTLED ?? 0;
      env.check(admitted === STORM_THROTTLE, `storm: ${admitted} admitted (expected the throttle's ${STORM_THROTTLE})`);
      env.check(refused === attempts - STORM_THROTTLE && refusedWithLine === refused, `storm: ${refused} refused, ${refusedWithLine} with the ERROR line (expected ${attempts - STORM_THROTTLE})`);
      env.check(throttled === attempts - STORM_THROTTLE, `storm: relay counted ${throttled} ERR_THROTTLED (expected ${attempts - STORM_THROTTLE})`);
      env.check(sum(other) === 0, `storm: other outcomes ${tally(other)}`);
      // Healthy service goes on: a newcomer from another address is admitted, the storming one is still refused.
      const fresh = await IrcClient.connect('fresh', { port: env.port, localAddress: '127.0.0.3' });
      await fresh.register('fresh');
      fresh.destroy();
      const again = await connectSocket({ port: env.port, localAddress: '127.0.0.2' });
      again.on('error', () => undefined);
      again.resume();
      env.check(await closed(again, 5_000), 'storm: 127.0.0.2 admitted again inside its throttle window');
      await tablesAtBaseline(env, 5_000);
      Object.assign(env.figures, {
        line16k: '417+PONG',
        lines10MB: `${bigConns}×closed(ERR_READQ_EXCEEDED) in ${bigSecs.toFixed(1)}s, ${mib(Math.max(...sentInAll))}MiB sent at most`,
        heldAfter10MB: `${mib(heldRise)}MiB(≤4)`,
        peakRssRise10MB: `${mib(peakRise)}MiB`,
        storm: attempts,
        admitted,
        refused,
        relayRefused: tally(s.refused),
      });
    },
  }),
);

// ---- 6. TLS garbage and half-finished handshakes ----------------------------------------

const TLS_HANDSHAKE = 1_000;
const TLS_FIRST_LINE = 3_000;

/** The first bytes a real TLS client sends (its ClientHello), captured from a local server. */
function captureClientHello(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((s) => {
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
        server.close();
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      const c = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false });
      c.on('error', () => undefined);
      c.on('close', () => undefined);
    });
    server.on('error', reject);
  });
}

type TlsKind = 'garbage' | 'plaintext' | 'halfHello' | 'recordHeader' | 'silent' | 'handshakeThenSilent';

test('6 TLS garbage and half-finished TLS handshakes', { timeout: PART_TIMEOUT }, () => {
  const cert = localhostCert();
  return runPart({
    name: '6 TLS',
    tls: true,
    relay: { plain: false, tls: { certPath: cert.certPath, keyPath: cert.keyPath }, limits: { tlsHandshakeTimeout: TLS_HANDSHAKE, firstLineTimeout: TLS_FIRST_LINE } },
    // TLS sessions cost more than plain sockets: about 340 attack connections are live at any time.
    rssBound: { bytes: (b) => b.rss + 128 * MiB, text: 'baseline + 128 MiB' },
    async attack(env) {
      const hello = await captureClientHello();
      const rng = new Prng(0x7151);
      const duration = scaled(12_000, 4_000);
      const deadline = performance.now() + duration;
      // How many of each kind are kept connected at once, and how long the relay may take to drop one.
      const kinds: Record<TlsKind, { live: number; bound: number }> = {
        garbage: { live: scaled(50, 10), bound: SLACK },
        plaintext: { live: scaled(20, 5), bound: SLACK },
        halfHello: { live: scaled(100, 20), bound: TLS_HANDSHAKE + SLACK },
        recordHeader: { live: scaled(50, 10), bound: TLS_HANDSHAKE + SLACK },
        silent: { live: scaled(100, 20), bound: TLS_HANDSHAKE + SLACK },
        handshakeThenSilent: { live: scaled(20, 5), bound: TLS_FIRST_LINE + SLACK },
      };
      const made: Record<string, number> = {};
      const maxLife: Record<string, number> = {};
      const late: string[] = [];
      let connectErrors = 0;
      const one = async (kind: TlsKind): Promise<void> => {
        let socket: net.Socket;
        try {
          socket = await connectSocket({ port: env.port, tls: kind === 'handshakeThenSilent' });
        } catch {
          connectErrors++;
          await sleep(50);
          return;
        }
        const born = performance.now();
        made[kind] = (made[kind] ?? 0) + 1;
        socket.on('error', () => undefined);
        socket.resume();
        switch (kind) {
          case 'garbage':
            socket.write(rng.bytes(rng.int(1, 4096)));
            break;
          case 'plaintext':
            socket.write('NICK plain\r\nUSER plain 0 * :plain\r\n');
            break;
          case 'halfHello':
            socket.write(hello.subarray(0, rng.int(1, hello.length - 1)));
            break;
          case 'recordHeader':
            // A handshake record that promises 16 KiB and delivers a few bytes.
            socket.write(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00]));
            break;
          default:
            break;
        }
        const { bound } = kinds[kind];
        if (!(await closed(socket, bound + 5_000))) {
          socket.destroy();
          late.push(`${kind}: still open after ${bound + 5_000} ms`);
          return;
        }
        const life = performance.now() - born;
        maxLife[kind] = Math.max(maxLife[kind] ?? 0, life);
        if (life > bound && late.length < 10) late.push(`${kind}: dropped after ${Math.round(life)} ms (> ${bound})`);
      };
      await Promise.all(
        (Object.keys(kinds) as TlsKind[]).flatMap((kind) =>
          Array.from({ length: kinds[kind].live }, async () => {
            while (performance.now() < deadline) await one(kind);
          }),
        ),
      );
      env.failures.push(...late.slice(0, 10));
      env.check(connectErrors === 0, `${connectErrors} TLS attack connects failed`);
      const s = await tablesAtBaseline(env, 5_000);
      const timeouts = s.tlsErrors.ERR_TLS_HANDSHAKE_TIMEOUT ?? 0;
      env.check(timeouts > 0, 'the relay reported no TLS handshake timeout');
      Object.assign(env.figures, {
        attempts: sum(made),
        made: tally(made),
        maxLifeMs: Object.entries(maxLife)
          .map(([k, v]) => `${k}=${Math.round(v)}`)
          .join(','),
        tlsClientErrors: tally(s.tlsErrors, 5),
        firstLineDrops: s.disconnectCodes.ERR_REGISTRATION_TIMEOUT ?? 0,
      });
    },
  });
});
