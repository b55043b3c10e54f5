/**
 * The load generator, run as its own process (see `loadgen.ts` for the parent
 * side). It opens many loopback clients, optionally has each send greeting
 * lines and wait for a marker (IRC registration, for the relay bench), and
 * makes K of them send numbered lines — as fast as flow control allows or at
 * a fixed rate — while every client reads everything.
 *
 * It is built to be cheap, so the server under test is the bottleneck:
 * - counting mode: received buffers are only scanned for LF (native indexOf);
 * - tracking mode: each received line is located by a marker and its sender,
 *   sequence number and send time are read from fixed-width digits, for
 *   latency percentiles and lost/reordered lines (costlier; for correctness
 *   checks and moderate rates).
 *
 * Flow control is closed-loop: the generator keeps at most `window` expected
 * deliveries outstanding (sent lines × `fanout` − deliveries received), as
 * well as honouring each socket's own back-pressure, so it never buries the
 * server's write queues in more data than the readers can take.
 */
import net, { type Socket } from 'node:net';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import { emitToParent, serveParent } from './child.js';
import { proxyHeader } from './proxy-header.js';
import { checkUpgradeResponse, FrameReader, frameClientLines, upgradeRequest } from './ws-raw.js';

export interface OpenCommand {
  /** TCP: host and port; or `path`. */
  host?: string;
  port?: number;
  /** A Unix-domain socket to connect to instead of host and port. */
  path?: string;
  /**
   * Send a PROXY header of this version before anything else (TCP only),
   * naming the client's own socket endpoints: what a load balancer in front
   * of the server would send (see `proxy-header.ts`).
   */
  proxy?: 1 | 2;
  /**
   * Connect over WebSocket (IRCv3 WebSocket, `ws://host:port/`) offering this
   * subprotocol: `binary.ircv3.net` or `text.ircv3.net`. One message per line
   * both ways, as a web client sends them.
   */
  ws?: 'binary.ircv3.net' | 'text.ircv3.net';
  count: number;
  /** Connections being set up at once. Default 200. */
  concurrency?: number;
  /** Lines each client sends once connected; `{i}` becomes the client's index. */
  greet?: string[];
  /** A client is ready once this text has arrived (e.g. ' 366 '); default: once connected. */
  readyMarker?: string;
  /** Answer `PING` lines with `PONG` (idle relay clients). */
  autoPong?: boolean;
  /** Give up on the whole open after this long (ms). Default 60 s. */
  timeout?: number;
}

export interface StartCommand {
  /** The first `senders` clients send. */
  senders: number;
  /** 'flood': as fast as flow control allows; 'rate': `rate` lines/s per sender. */
  mode: 'flood' | 'rate';
  rate?: number;
  /** Text before the marked body, e.g. 'PRIVMSG #bench :'. */
  prefix: string;
  /** Bytes of filler after the numbers. Default 32. */
  payloadBytes?: number;
  /** Deliveries each sent line should cause (e.g. clients − 1). */
  fanout: number;
  /** Max deliveries outstanding (flow window). Default fanout × 64 × senders. */
  window?: number;
  /** Lines per write in flood mode. Default 16. */
  batch?: number;
  /** Parse received lines for latency and loss/reorder accounting. */
  track?: boolean;
  /** With tracking: a sender receives its own lines too (echo-message). */
  selfDelivery?: boolean;
  /**
   * One-to-one traffic: sender s writes to its partner s ^ 1 only, `{to}` in
   * `prefix` becoming the partner's index (e.g. 'PRIVMSG b{to} :'); each line
   * causes `fanout` (1) deliveries, to the partner. `senders` must be even.
   */
  pairs?: boolean;
}

export interface Mark {
  /** ms, performance.now() of the generator. */
  t: number;
  txLines: number;
  rxLines: number;
  rxBytes: number;
  cpu: NodeJS.CpuUsage;
  /** Present in tracking mode: latency (µs) of deliveries since the last mark. */
  latency?: { count: number; p50: number; p99: number; max: number; mean: number };
  /** Present in tracking mode. */
  gaps?: number;
  reordered?: number;
  /** With tracking, after `stop`: expected deliveries that never arrived. */
  missing?: number;
  errors: number;
  closed: number;
  /** Flood mode: times deliveries stopped with the window full (lost lines); 0 in a healthy run. */
  stalls: number;
}

const LF = 0x0a;
const CR = 0x0d;
// '~B' then 4 digits of sender, '.', 10 digits of sequence, '.', 12 digits of µs.
const MARKER = Buffer.from('~B');
const MARKER_0 = 0x7e;
const MARKER_1 = 0x42;
const SENDER_W = 4;
const SEQ_W = 10;
const TS_W = 12;
const BODY_W = MARKER.length + SENDER_W + 1 + SEQ_W + 1 + TS_W;

/**
 * One client's connection as the generator uses it: a byte stream (TCP, Unix)
 * or a WebSocket, one message per line.
 */
interface Wire {
  /** Writes CRLF-terminated lines; false once the peer's buffers are full (wait for `onDrain`). */
  write(text: string): boolean;
  readonly destroyed: boolean;
  destroy(): void;
  onDrain(fn: () => void): void;
}

function streamWire(sock: Socket): Wire {
  return {
    write: (text) => sock.write(text),
    get destroyed() {
      return sock.destroyed;
    },
    destroy: () => sock.destroy(),
    onDrain: (fn) => sock.on('drain', fn),
  };
}

/** A WebSocket client's wire: each line written as one masked frame (see `ws-raw.ts`). */
function webSocketWire(sock: Socket, binary: boolean): Wire {
  return {
    write: (text) => sock.write(frameClientLines(text, binary)),
    get destroyed() {
      return sock.destroyed;
    },
    destroy: () => sock.destroy(),
    onDrain: (fn) => sock.on('drain', fn),
  };
}

interface Client {
  idx: number;
  sock: Wire;
  /** Partial line kept between reads in tracking mode. */
  part: Buffer | undefined;
  /** Per sender: the next sequence number expected (tracking mode). */
  nextSeq: Float64Array | undefined;
  blocked: boolean;
}

const clients: Client[] = [];
let rxLines = 0;
let rxBytes = 0;
let txLines = 0;
let errors = 0;
let closed = 0;

let run: Run | undefined;

class Run {
  readonly cfg: Required<Omit<StartCommand, 'rate'>> & { rate: number };
  readonly senders: Client[];
  readonly seq: Float64Array;
  readonly filler: string;
  /** Per sender: the text before the marked body (its partner's, in pairs mode). */
  readonly prefixes: string[];
  readonly hist: RecordableHistogram;
  readonly rxAtStart: number;
  readonly txAtStart: number;
  gaps = 0;
  reordered = 0;
  /** Times the window was re-based because deliveries stopped coming (lost lines). */
  stalls = 0;
  /** Deliveries written off by those re-basings. */
  writtenOff = 0;
  #lastRx = -1;
  stopped = false;
  windowBlocked = false;
  pumpScheduled = false;
  timer: NodeJS.Timeout | undefined;
  stallTimer: NodeJS.Timeout | undefined;
  t0 = 0;
  rr = 0;

  constructor(c: StartCommand) {
    const senders = Math.min(c.senders, clients.length);
    this.cfg = {
      senders,
      mode: c.mode,
      rate: c.rate ?? 0,
      prefix: c.prefix,
      payloadBytes: c.payloadBytes ?? 32,
      fanout: c.fanout,
      window: c.window ?? c.fanout * 64 * senders,
      batch: c.batch ?? 16,
      track: c.track ?? false,
      selfDelivery: c.selfDelivery ?? false,
      pairs: c.pairs ?? false,
    };
    if (this.cfg.pairs && senders % 2 !== 0) throw new Error('pairs: an even number of senders');
    this.senders = clients.slice(0, senders);
    this.seq = new Float64Array(senders);
    this.filler = 'x'.repeat(this.cfg.payloadBytes);
    this.prefixes = Array.from({ length: senders }, (_, s) => (this.cfg.pairs ? c.prefix.replaceAll('{to}', String(s ^ 1)) : c.prefix));
    this.hist = createHistogram();
    this.rxAtStart = rxLines;
    this.txAtStart = txLines;
    if (this.cfg.track) for (const cl of clients) cl.nextSeq = new Float64Array(senders);
  }

  outstanding(): number {
    return (txLines - this.txAtStart) * this.cfg.fanout - (rxLines - this.rxAtStart) - this.writtenOff;
  }

  /**
   * If deliveries stopped while the window is full, some were lost (a client
   * dropped, a line the server did not relay): write them off so the run goes
   * on, and count it — a healthy run has no stalls.
   */
  checkStall = (): void => {
    if (this.stopped) return;
    if (this.windowBlocked && rxLines === this.#lastRx) {
      this.stalls++;
      this.writtenOff += this.outstanding();
      this.windowBlocked = false;
      this.schedulePump();
    }
    this.#lastRx = rxLines;
  };

  line(s: number, nowUs: number): string {
    const seq = this.seq[s] as number;
    this.seq[s] = seq + 1;
    return `${this.prefixes[s] as string}~B${String(s).padStart(SENDER_W, '0')}.${String(seq).padStart(SEQ_W, '0')}.${String(Math.floor(nowUs)).padStart(TS_W, '0')} ${this.filler}\r\n`;
  }

  write(c: Client, s: number, n: number): void {
    const now = performance.now() * 1000;
    let text = '';
    for (let k = 0; k < n; k++) text += this.line(s, now);
    txLines += n;
    if (!c.sock.write(text)) c.blocked = true;
  }

  pump = (): void => {
    this.pumpScheduled = false;
    if (this.stopped || this.cfg.mode !== 'flood') return;
    const { batch, window } = this.cfg;
    const k = this.senders.length;
    let idle = 0;
    // Round-robin over unblocked senders until the window is full or all are blocked.
    while (idle < k) {
      if (this.outstanding() + batch * this.cfg.fanout > window) {
        this.windowBlocked = true;
        return;
      }
      const s = this.rr;
      this.rr = (this.rr + 1) % k;
      const c = this.senders[s] as Client;
      if (c.blocked || c.sock.destroyed) {
        idle++;
        continue;
      }
      idle = 0;
      this.write(c, s, batch);
    }
  };

  schedulePump(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    setImmediate(this.pump);
  }

  start(): void {
    this.t0 = performance.now();
    this.senders.forEach((c) => {
      c.sock.onDrain(() => {
        c.blocked = false;
        if (this.cfg.mode === 'flood') this.schedulePump();
      });
    });
    if (this.cfg.mode === 'flood') {
      this.stallTimer = setInterval(this.checkStall, 250);
      this.pump();
    } else {
      const tick = (): void => {
        if (this.stopped) return;
        const elapsed = (performance.now() - this.t0) / 1000;
        const due = Math.floor(elapsed * this.cfg.rate);
        this.senders.forEach((c, s) => {
          const n = due - (this.seq[s] as number);
          if (n > 0 && !c.blocked && !c.sock.destroyed) this.write(c, s, n);
        });
      };
      this.timer = setInterval(tick, 5);
    }
  }

  /** Called after every received chunk while running. */
  onReceived(): void {
    if (this.windowBlocked && this.outstanding() <= this.cfg.window / 2) {
      this.windowBlocked = false;
      this.schedulePump();
    }
  }

  /**
   * Tracking: one complete line (without LF) from client `c`, received at
   * `nowUs` (the time its chunk arrived: one clock read per read, not per line,
   * so the generator's own parsing does not count as latency).
   */
  track(c: Client, buf: Buffer, start: number, end: number, nowUs: number): void {
    // The body ends the line at a fixed width (marker, numbers, ' ', filler): look there
    // first, and search only when something (a tag, another format) moved it.
    const e = buf[end - 1] === CR ? end - 1 : end;
    let at = e - this.cfg.payloadBytes - 1 - BODY_W;
    if (at < start || buf[at] !== MARKER_0 || buf[at + 1] !== MARKER_1) at = buf.indexOf(MARKER, start);
    if (at < 0 || at + BODY_W > end) return;
    let p = at + MARKER.length;
    const s = digits(buf, p, SENDER_W);
    p += SENDER_W + 1;
    const seq = digits(buf, p, SEQ_W);
    p += SEQ_W + 1;
    const ts = digits(buf, p, TS_W);
    const next = c.nextSeq as Float64Array;
    if (s >= next.length) return;
    const want = next[s] as number;
    if (seq === want) next[s] = seq + 1;
    else if (seq > want) {
      this.gaps += seq - want;
      next[s] = seq + 1;
    } else this.reordered++;
    const lat = Math.max(1, Math.round(nowUs - ts));
    this.hist.record(lat);
  }

  /** Expected deliveries not (yet) received, by per-(receiver, sender) sequence. */
  missing(): number {
    let m = 0;
    for (const c of clients) {
      const next = c.nextSeq;
      if (next === undefined || c.sock.destroyed) continue;
      for (let s = 0; s < this.senders.length; s++) {
        if (s === c.idx && !this.cfg.selfDelivery) continue;
        // Pairs: a client hears from its partner only.
        if (this.cfg.pairs && s !== (c.idx ^ 1)) continue;
        m += (this.seq[s] as number) - (next[s] as number);
      }
    }
    return m;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    clearInterval(this.stallTimer);
  }
}

function digits(buf: Buffer, at: number, width: number): number {
  let n = 0;
  for (let i = at; i < at + width; i++) n = n * 10 + ((buf[i] as number) - 48);
  return n;
}

function countLf(buf: Buffer): number {
  let n = 0;
  let i = buf.indexOf(LF);
  while (i !== -1) {
    n++;
    i = buf.indexOf(LF, i + 1);
  }
  return n;
}

function onData(c: Client, buf: Buffer): void {
  rxBytes += buf.length;
  const r = run;
  if (r?.cfg.track !== true) {
    rxLines += countLf(buf);
  } else {
    let data = buf;
    if (c.part !== undefined) {
      data = Buffer.concat([c.part, buf]);
      c.part = undefined;
    }
    const nowUs = performance.now() * 1000;
    let start = 0;
    let lf = data.indexOf(LF);
    while (lf !== -1) {
      rxLines++;
      r.track(c, data, start, lf, nowUs);
      start = lf + 1;
      lf = data.indexOf(LF, start);
    }
    if (start < data.length) c.part = Buffer.from(data.subarray(start));
  }
  r?.onReceived();
}

/** One WebSocket message, `buf[start, end)`: exactly one line, no LF. */
function onMessage(c: Client, buf: Buffer, start: number, end: number): void {
  rxBytes += end - start;
  rxLines++;
  const r = run;
  if (r?.cfg.track === true) r.track(c, buf, start, end, performance.now() * 1000);
  r?.onReceived();
}

function pong(c: Client, buf: Buffer): void {
  const text = buf.toString('latin1');
  for (const line of text.split('\n')) {
    const m = /^(?:@\S+ )?(?::\S+ )?PING( .*)?\r?$/.exec(line);
    if (m !== null) c.sock.write(`PONG${m[1] ?? ''}\r\n`);
  }
}

function openWebSocket(cmd: OpenCommand, idx: number, protocol: 'binary.ircv3.net' | 'text.ircv3.net'): Promise<Client> {
  return new Promise((resolve, reject) => {
    const host = cmd.host as string;
    const port = cmd.port as number;
    const sock = net.connect({ host, port });
    const c: Client = { idx, sock: webSocketWire(sock, protocol === 'binary.ircv3.net'), part: undefined, nextSeq: undefined, blocked: false };
    let ready = false;
    let seen = '';
    let head = '';
    const fail = (err: Error): void => {
      if (!ready) {
        ready = true;
        sock.destroy();
        reject(err);
      }
    };
    const { request, accept } = upgradeRequest(host, port, protocol);
    const frames = new FrameReader(sock, (buf, start, end) => {
      if (!ready && cmd.readyMarker !== undefined) {
        seen = (seen + buf.toString('latin1', start, end) + '\n').slice(-4096);
        if (seen.includes(cmd.readyMarker)) {
          ready = true;
          resolve(c);
        }
      }
      if (cmd.autoPong === true && buf.includes('PING', start) && buf.indexOf('PING', start) < end) pong(c, buf.subarray(start, end));
      onMessage(c, buf, start, end);
    });
    const opened = (): void => {
      if (cmd.greet !== undefined && cmd.greet.length > 0) {
        c.sock.write(cmd.greet.map((l) => `${l.replaceAll('{i}', String(idx))}\r\n`).join(''));
      }
      if (cmd.readyMarker === undefined) {
        ready = true;
        resolve(c);
      }
    };
    sock.setNoDelay(true);
    sock.on('error', (err) => {
      errors++;
      fail(err);
    });
    sock.on('close', () => {
      closed++;
      fail(new Error('closed during setup'));
    });
    let upgraded = false;
    sock.on('data', (buf: Buffer) => {
      if (upgraded) {
        frames.push(buf);
        return;
      }
      head += buf.toString('latin1');
      const blank = head.indexOf('\r\n\r\n');
      if (blank < 0) {
        if (head.length > 8192) fail(new Error('no end to the upgrade response'));
        return;
      }
      const problem = checkUpgradeResponse(head.slice(0, blank), accept, protocol);
      if (problem !== undefined) {
        fail(new Error(problem));
        return;
      }
      upgraded = true;
      const rest = Buffer.from(head.slice(blank + 4), 'latin1');
      head = '';
      opened();
      if (rest.length > 0) frames.push(rest);
    });
    sock.once('connect', () => {
      sock.write(request);
    });
  });
}

function openOne(cmd: OpenCommand, idx: number): Promise<Client> {
  if (cmd.ws !== undefined) return openWebSocket(cmd, idx, cmd.ws);
  return new Promise((resolve, reject) => {
    const sock = cmd.path !== undefined ? net.connect({ path: cmd.path }) : net.connect({ host: cmd.host, port: cmd.port as number });
    const c: Client = { idx, sock: streamWire(sock), part: undefined, nextSeq: undefined, blocked: false };
    let ready = false;
    let seen = '';
    const fail = (err: Error): void => {
      if (!ready) {
        ready = true;
        sock.destroy();
        reject(err);
      }
    };
    // A Unix socket whose accept backlog is full refuses at once with EAGAIN (TCP
    // would queue the SYN): open() tries again, and it counts as no error.
    let backlogFull = false;
    sock.setNoDelay(true);
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EAGAIN' && cmd.path !== undefined && sock.connecting) backlogFull = true;
      else errors++;
      fail(err);
    });
    sock.on('close', () => {
      if (!backlogFull) closed++;
      fail(new Error('closed during setup'));
    });
    sock.on('data', (buf: Buffer) => {
      if (!ready && cmd.readyMarker !== undefined) {
        seen = (seen + buf.toString('latin1')).slice(-4096);
        if (seen.includes(cmd.readyMarker)) {
          ready = true;
          resolve(c);
        }
      }
      if (cmd.autoPong === true && buf.includes('PING')) pong(c, buf);
      onData(c, buf);
    });
    sock.once('connect', () => {
      if (cmd.proxy !== undefined) {
        // Its own write, as a proxy sends it before relaying the client's first bytes.
        const local = { address: sock.localAddress ?? '', port: sock.localPort ?? 0 };
        const remote = { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 };
        sock.write(proxyHeader(cmd.proxy, local, remote));
      }
      if (cmd.greet !== undefined && cmd.greet.length > 0) {
        sock.write(cmd.greet.map((l) => `${l.replaceAll('{i}', String(idx))}\r\n`).join(''));
      }
      if (cmd.readyMarker === undefined) {
        ready = true;
        resolve(c);
      }
    });
  });
}

async function open(cmd: OpenCommand): Promise<{ opened: number; failed: number; firstError?: string; ms: number }> {
  if (cmd.path === undefined && (cmd.host === undefined || cmd.port === undefined)) throw new Error('open: give host and port, or path');
  if (cmd.path !== undefined && cmd.proxy !== undefined) throw new Error('open: PROXY headers are sent over TCP only');
  if (cmd.ws !== undefined && (cmd.path !== undefined || cmd.proxy !== undefined)) throw new Error('open: WebSocket clients connect over TCP, without PROXY headers');
  const t0 = performance.now();
  const concurrency = cmd.concurrency ?? 200;
  const deadline = t0 + (cmd.timeout ?? 60_000);
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const base = clients.length;
  const slots: (Client | undefined)[] = new Array<Client | undefined>(cmd.count);
  const worker = async (): Promise<void> => {
    while (next < cmd.count && performance.now() < deadline) {
      const i = next++;
      for (let attempt = 1; ; attempt++) {
        try {
          slots[i] = await openOne(cmd, base + i);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN' && cmd.path !== undefined && attempt < 500 && performance.now() < deadline) {
            await new Promise((r) => setTimeout(r, 5));
            continue;
          }
          failed++;
          firstError ??= err instanceof Error ? `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}` : String(err);
        }
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, cmd.count) }, worker));
  // Keep indices dense and equal to positions, so sender i is client i.
  for (const c of slots) {
    if (c === undefined) continue;
    c.idx = clients.length;
    clients.push(c);
  }
  return { opened: clients.length - base, failed, ...(firstError === undefined ? {} : { firstError }), ms: performance.now() - t0 };
}

function mark(reset: boolean): Mark {
  const r = run;
  const m: Mark = { t: performance.now(), txLines, rxLines, rxBytes, cpu: process.cpuUsage(), errors, closed, stalls: r?.stalls ?? 0 };
  if (r?.cfg.track === true) {
    const h = r.hist;
    m.latency = h.count === 0
      ? { count: 0, p50: NaN, p99: NaN, max: NaN, mean: NaN }
      : { count: h.count, p50: h.percentile(50), p99: h.percentile(99), max: h.max, mean: h.mean };
    m.gaps = r.gaps;
    m.reordered = r.reordered;
    if (r.stopped) m.missing = r.missing();
    if (reset) h.reset();
  }
  return m;
}

serveParent(
  {
    open: (msg) => open(msg as unknown as OpenCommand),
    start: (msg) => {
      if (run !== undefined && !run.stopped) throw new Error('a run is already going');
      run = new Run(msg as unknown as StartCommand);
      run.start();
      return mark(false);
    },
    mark: (msg) => mark(msg.reset === true),
    stop: () => {
      run?.stop();
      return mark(false);
    },
    /** Resolves once no data has arrived for `quietMs` (or after `timeout`): lets in-flight deliveries land. */
    settle: async (msg) => {
      const quiet = Number(msg.quietMs ?? 200);
      const timeout = Number(msg.timeout ?? 10_000);
      const t0 = performance.now();
      let last = rxLines;
      for (;;) {
        await new Promise((r) => setTimeout(r, quiet));
        if (rxLines === last || performance.now() - t0 > timeout) return mark(false);
        last = rxLines;
      }
    },
    close: () => {
      for (const c of clients) c.sock.destroy();
      const n = clients.length;
      clients.length = 0;
      run = undefined;
      return { closed: n };
    },
  },
  () => {
    for (const c of clients) c.sock.destroy();
  },
);

emitToParent('ready', { pid: process.pid });
