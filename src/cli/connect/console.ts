import type { Readable, Writable } from 'node:stream';
import {
  Backend,
  escapeIsupportValue,
  Isupport,
  parseLine,
  type Connection,
  type Connector,
  type ConnectorOptions,
  type IrcLineTooLongError,
  type IrcMessage,
  type IrcParseError,
  type ReconnectOptions,
} from '../../index.js';
import { describeCause, errorCode, isCertificateError } from './describe.js';
import { LineReader } from './input.js';
import type { ConnectOptions } from './options.js';

/** The streams the console talks through; the process's own by default. */
export interface ConnectIo {
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
}

/** Deadlines, in milliseconds; tests shorten them. */
export interface ConnectTuning {
  /** For the TCP connection and the TLS handshake. Default 20 000. */
  connectTimeout?: number;
  /** How long to wait for the server to close after QUIT. Default 5 000. */
  quitTimeout?: number;
  /** The schedule of `--reconnect`. Default: the connector's (1 s doubling to 60 s, full jitter). */
  reconnect?: ReconnectOptions;
}

export const PREFIX = 'ircsock connect';
const CONNECT_TIMEOUT = 20_000;
const QUIT_TIMEOUT = 5_000;
// While stdin is paused on a full send queue, how often to look whether it has drained.
const SENDQ_POLL = 25;

/** One run of the console: connect, relay lines both ways, and end with an exit status. */
export class IrcConsole {
  readonly #opts: ConnectOptions;
  readonly #io: ConnectIo;
  readonly #connectTimeout: number;
  readonly #quitTimeout: number;
  readonly #reconnect: ReconnectOptions | true;
  readonly #backend = new Backend();
  #reader: LineReader | undefined;
  #conn: Connection | undefined;
  #connector: Connector | undefined;
  #connections = 0;
  #isupport = new Isupport();
  #isupportShown = false;
  #registered = false;
  /** Set once QUIT went out (typed or at EOF): from then on a close is the goal, not a failure. */
  #quitting = false;
  #quitTimer: NodeJS.Timeout | undefined;
  #pollTimer: NodeJS.Timeout | undefined;
  #lastError: string | undefined;
  #outputHeld = false;
  #outputGone = false;

  constructor(opts: ConnectOptions, io: ConnectIo, tuning: ConnectTuning) {
    this.#opts = opts;
    this.#io = io;
    this.#connectTimeout = tuning.connectTimeout ?? CONNECT_TIMEOUT;
    this.#quitTimeout = tuning.quitTimeout ?? QUIT_TIMEOUT;
    this.#reconnect = tuning.reconnect ?? true;
  }

  async run(): Promise<number> {
    const backend = this.#backend;
    // Handlers go on before connecting: with TLS, the server's first lines can
    // arrive in the same turn as the handshake, before an `await` resumes.
    backend.on('input', (conn, msg) => {
      this.#onInput(conn, msg);
    });
    backend.on('inputError', (_conn, err) => {
      this.#onInputError(err);
    });
    // The session ends with the connector: after one connection, or, with
    // --reconnect, when we quit. `cause` is why it ended when we did not.
    const closed = new Promise<Error | undefined>((resolve) => {
      backend.once('connectorClosed', (_connector, cause) => {
        resolve(cause);
      });
    });
    backend.on('connectorOpen', (conn) => {
      this.#onOpen(conn);
    });
    backend.on('disconnect', () => {
      this.#conn = undefined;
      // The server closed after our QUIT: done, do not reconnect.
      if (this.#quitting) this.#connector?.close('QUIT');
    });
    backend.on('connectorRetry', (_connector, delay, cause) => {
      const what = this.#connections === 0 ? 'cannot connect to' : 'connection lost to';
      this.#note(`${what} ${this.#opts.target}: ${describeCause(cause)}; reconnecting in ${(delay / 1000).toFixed(1)} s`);
    });

    // A closed stdout (`| head`) means nobody reads any more: leave as at EOF.
    // A closed stderr leaves nowhere to complain; neither may crash the process.
    const onStdoutError = (): void => {
      this.#outputGone = true;
      const conn = this.#conn;
      if (conn === undefined) return;
      // No 'drain' will come: read on, or the server's close would go unseen.
      if (this.#outputHeld) conn.socket.resume();
      this.#onEof();
    };
    this.#io.stdout.on('error', onStdoutError);
    this.#io.stderr.on('error', ignore);
    try {
      return await this.#session(closed);
    } finally {
      this.#io.stdout.off('error', onStdoutError);
      this.#io.stderr.off('error', ignore);
    }
  }

  async #session(closed: Promise<Error | undefined>): Promise<number> {
    const backend = this.#backend;
    const { host, port, path, url, socks, target, tls, reconnect } = this.#opts;
    let where: ConnectorOptions;
    if (url !== undefined) where = { url, ...(tls === false ? {} : { tls }) };
    else if (path !== undefined) where = { path, tls };
    else where = { addr: host, port, tls, ...(socks === undefined ? {} : { socks }) };
    try {
      const p = backend.createConnector({ ...where, timeout: this.#connectTimeout, ...(reconnect ? { reconnect: this.#reconnect } : {}) });
      this.#connector = p.connector;
      await p;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      // Verifying against the system CAs (a --tls-servername included): the hint is worth giving.
      const systemCas = tls === true || (typeof tls === 'object' && tls.ca === undefined && tls.rejectUnauthorized !== false);
      let hint = '';
      if (isCertificateError(e) && systemCas) hint = '; trust it with --tls-ca FILE, or skip verification with --insecure';
      // A plain-text server drops a TLS hello without a word: the likeliest cause is the wrong port.
      else if (tls !== false && errorCode(e) === 'ECONNRESET') hint = path !== undefined ? '; does it speak TLS?' : '; is it a TLS port?';
      this.#note(`cannot connect to ${target}: ${describeCause(e)}${hint}`);
      await backend.shutdown();
      return 1;
    }

    backend.on('sendQueueHigh', (conn) => {
      this.#holdInput(conn);
    });
    this.#reader = new LineReader(this.#io.stdin, {
      line: (line) => {
        this.#onTyped(line);
      },
      tooLong: (chars) => {
        this.#note(`not sent: a line of more than ${chars} characters`);
      },
      end: () => {
        this.#onEof();
      },
    });
    if (this.#outputGone) this.#onEof();

    const cause = await closed;
    this.#reader.stop();
    clearTimeout(this.#quitTimer);
    clearInterval(this.#pollTimer);
    let status = 0;
    if (!this.#quitting) {
      status = 1;
      if (cause !== undefined && errorCode(cause) !== 'ERR_PEER_CLOSED') this.#note(`connection to ${target} lost: ${describeCause(cause)}`);
      else if (this.#lastError !== undefined) this.#note(`connection to ${target} closed by the server: ${this.#lastError} (ERROR)`);
      else this.#note(`connection to ${target} lost: closed by the server`);
    }
    await backend.shutdown();
    return status;
  }

  /** Each connection, the first and every one after a reconnect: register (again). */
  #onOpen(conn: Connection): void {
    this.#conn = conn;
    this.#registered = false;
    this.#lastError = undefined;
    this.#isupport = new Isupport();
    this.#isupportShown = false;
    if (this.#connections++ > 0) this.#note(`reconnected to ${this.#opts.target}`);
    const { nick, user, realname } = this.#opts;
    if (nick !== undefined) {
      this.#backend.send({ command: 'NICK', params: [nick] }, conn);
      this.#backend.send({ command: 'USER', params: [user, '0', '*', realname] }, conn);
    }
  }

  #onInput(conn: Connection, msg: IrcMessage): void {
    this.#print(conn, msg.raw ?? msg.toString());
    switch (msg.command) {
      case 'PING':
        this.#reply(conn, { command: 'PONG', params: msg.params });
        break;
      case '001':
        if (!this.#registered) {
          this.#registered = true;
          for (const chan of this.#opts.join) this.#reply(conn, { command: 'JOIN', params: [chan] });
        }
        break;
      case 'ERROR':
        this.#lastError = msg.params.at(-1) ?? '';
        break;
      case '005':
        this.#isupport.apply(msg);
        break;
      case '376':
      case '422':
        this.#showIsupport();
        break;
    }
  }

  // After the MOTD (376, or 422 when there is none): every 005 has come by then.
  #showIsupport(): void {
    if (!this.#opts.showIsupport || this.#isupportShown) return;
    this.#isupportShown = true;
    const is = this.#isupport;
    if (is.size === 0) {
      this.#note('isupport: the server announced no ISUPPORT (005) tokens');
      return;
    }
    this.#note(`isupport: casemapping ${is.casemapping}, chantypes ${is.chantypes}, prefix (${is.prefix.modes})${is.prefix.prefixes}, network ${is.network ?? '(none)'}`);
    for (const [name, value] of is.entries()) this.#note(`isupport: ${value === true ? name : `${name}=${escapeIsupportValue(value)}`}`);
  }

  // Called from inside ircsock's input dispatch: a message that cannot be
  // formatted is a note, never an exception thrown into the backend.
  #reply(conn: Connection, msg: { command: string; params: readonly string[] }): void {
    try {
      this.#backend.send(msg, conn);
    } catch (err) {
      const e = err as Error;
      this.#note(`note: could not send ${msg.command}: ${e.message} (${errorCode(e) ?? 'error'})`);
    }
  }

  #print(conn: Connection, line: string): void {
    if (this.#outputGone) return;
    const out = this.#io.stdout;
    const ok = out.write(this.#opts.timestamps ? `${new Date().toISOString()} ${line}\n` : `${line}\n`);
    if (!ok && !this.#outputHeld) {
      // A slow stdout (a pager, a pipe) must slow the server down, not fill memory.
      this.#outputHeld = true;
      conn.socket.pause();
      out.once('drain', () => {
        this.#outputHeld = false;
        conn.socket.resume();
      });
    }
  }

  #onInputError(err: IrcParseError | IrcLineTooLongError): void {
    if (err.code === 'ERR_IRC_PARSE') {
      this.#note(`note: unparsable line from the server: ${err.message} (${err.code}): ${JSON.stringify(err.line)}`);
    } else {
      this.#note(`note: ${err.message} (${err.code})`);
    }
  }

  #onTyped(line: string): void {
    if (line.trim() === '') return;
    const conn = this.#conn;
    let msg: IrcMessage;
    try {
      msg = parseLine(line);
    } catch (err) {
      const e = err as Error;
      this.#note(`not sent: ${e.message} (${errorCode(e) ?? 'error'}): ${JSON.stringify(line)}`);
      return;
    }
    if (conn === undefined) {
      this.#note(`not sent (not connected, waiting to reconnect): ${JSON.stringify(line)}`);
      return;
    }
    if (this.#backend.sendLine(line, conn) > 0 && msg.command === 'QUIT') this.#startQuit(conn);
  }

  #onEof(): void {
    this.#reader?.stop();
    const conn = this.#conn;
    if (conn === undefined) {
      // Between connections: nothing to QUIT, just stop trying.
      this.#quitting = true;
      this.#connector?.close('QUIT');
      return;
    }
    if (!this.#quitting && this.#backend.sendLine('QUIT', conn) === 0) return;
    this.#startQuit(conn);
  }

  #startQuit(conn: Connection): void {
    this.#quitting = true;
    if (this.#quitTimer !== undefined) return;
    this.#quitTimer = setTimeout(() => {
      this.#note(`the server did not close the connection within ${this.#quitTimeout} ms after QUIT; closing it`);
      this.#backend.disconnect(conn, 'QUIT deadline');
    }, this.#quitTimeout);
  }

  #holdInput(conn: Connection): void {
    const reader = this.#reader;
    if (reader === undefined || this.#pollTimer !== undefined) return;
    reader.pause();
    this.#pollTimer = setInterval(() => {
      if (conn.connected && conn.queuedBytes >= conn.limits.sendQHighWater / 2) return;
      clearInterval(this.#pollTimer);
      this.#pollTimer = undefined;
      reader.resume();
    }, SENDQ_POLL);
  }

  #note(text: string): void {
    this.#io.stderr.write(`${PREFIX}: ${text}\n`);
  }
}

function ignore(): void {
  // Errors of a stream nobody can report to any more.
}
