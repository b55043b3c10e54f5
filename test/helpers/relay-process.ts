/**
 * The relay as its own process (`node build/src/cli/main.js relay …`, or any
 * command that ends up running it) for the restart tests: its log, read
 * line by line, and raw IRC clients over TCP or TLS.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { once } from './net.js';

export const RELAY_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export class RelayProcess {
  readonly child: ChildProcessWithoutNullStreams;
  log = '';
  /** Set once stdout ends: every process writing to it (the relay and any successor) is gone. */
  ended = false;
  readonly #waiters: (() => void)[] = [];

  constructor(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    const onText = (b: Buffer): void => {
      this.log += b.toString();
      for (const w of this.#waiters.splice(0)) w();
    };
    this.child.stdout.on('data', onText);
    this.child.stderr.on('data', onText);
    this.child.stdout.on('end', () => {
      this.ended = true;
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  static relay(args: readonly string[]): RelayProcess {
    return new RelayProcess(process.execPath, [RELAY_MAIN, 'relay', ...args]);
  }

  /** Waits until the log matches, and returns the match. */
  async waitLog(re: RegExp, ms = 10_000): Promise<RegExpExecArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.log);
      if (m !== null) return m;
      const left = deadline - Date.now();
      if (left <= 0 || this.ended) throw new Error(`relay log never matched ${String(re)}:\n${this.log}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits until stdout ends: the relay and every successor have exited. */
  async waitEnded(ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`relay output did not end:\n${this.log}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

/** A registered-or-not IRC client: its lines, and waits on them. */
export class IrcClient {
  readonly lines: string[] = [];
  closed = false;
  #buf = '';
  readonly #waiters: (() => void)[] = [];
  /** Called for every line, as it comes. */
  onLine: ((line: string) => void) | undefined;

  constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.#buf += chunk;
      let i: number;
      while ((i = this.#buf.indexOf('\n')) >= 0) {
        const line = this.#buf.slice(0, i).replace(/\r$/, '');
        this.#buf = this.#buf.slice(i + 1);
        this.lines.push(line);
        this.onLine?.(line);
      }
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('error', () => {
      // 'close' follows.
    });
  }

  static async tcp(port: number): Promise<IrcClient> {
    const s = net.connect(port, '127.0.0.1');
    await once(s, 'connect');
    return new IrcClient(s);
  }

  static async tls(port: number, ca: string): Promise<IrcClient> {
    const s = tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost' });
    await once(s, 'secureConnect');
    return new IrcClient(s);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** NICK, USER, then JOIN each channel; resolves on the last channel's end of NAMES. */
  async register(nick: string, ...channels: string[]): Promise<void> {
    this.send(`NICK ${nick}\r\nUSER ${nick} 0 * :${nick}\r\n`);
    await this.waitFor((l) => l.some((x) => / 001 /.test(x)), `001 for ${nick}`);
    for (const c of channels) {
      this.send(`JOIN ${c}\r\n`);
      await this.waitFor((l) => l.some((x) => x.includes(` 366 ${nick} ${c} `)), `JOIN ${c} for ${nick}`);
    }
  }

  async waitFor(pred: (lines: readonly string[]) => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred(this.lines)) {
      if (this.closed) throw new Error(`closed while waiting for ${what}; last lines ${JSON.stringify(this.lines.slice(-4))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; last lines ${JSON.stringify(this.lines.slice(-4))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}
