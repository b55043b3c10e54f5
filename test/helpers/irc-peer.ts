/** A raw IRC client for tests, with a read cursor over the lines it received. */
import { LineClient, once } from './net.js';

/**
 * A raw client with a read cursor: `expect` consumes lines up to the first
 * match. The last parameter has a `:` only when it needs one (the backend's
 * default), so patterns write it as `:?` where the text has no space.
 */
export class Peer {
  readonly client: LineClient;
  #cursor = 0;

  constructor(client: LineClient) {
    this.client = client;
  }

  static async connect(port: number, host?: string): Promise<Peer> {
    return new Peer(await LineClient.connect(port, host));
  }

  send(...lines: string[]): void {
    this.client.write(...lines);
  }

  /** The next line matching `re` (lines before it are skipped). */
  async expect(re: RegExp, timeout?: number): Promise<string> {
    let hit = this.#find(re);
    if (hit === undefined) {
      try {
        await once(this.client.socket, 'line', {
          timeout,
          filter: () => (hit = this.#find(re)) !== undefined,
        });
      } catch (err) {
        // Say what did arrive: a failing run on CI must be readable without a rerun.
        const unread = this.client.lines.slice(this.#cursor).join('\n');
        throw new Error(`no line matching ${String(re)}; unread:\n${unread}`, { cause: err });
      }
    }
    return hit!;
  }

  /** Every line that arrives from now until a line matching `end` (a marker the test provoked), `end` excluded. */
  async linesUntil(end: RegExp): Promise<string[]> {
    const start = this.#cursor;
    await this.expect(end);
    return this.client.lines.slice(start, this.#cursor - 1);
  }

  /** Proves everything sent before has been handled: a PING round trip. */
  async sync(): Promise<string[]> {
    const token = `sync${Math.random().toString(36).slice(2)}`;
    this.send(`PING ${token}`);
    return this.linesUntil(new RegExp(`PONG \\S+ :?${token}$`));
  }

  async quit(): Promise<void> {
    if (!this.client.closed) this.send('QUIT :done');
    await this.client.waitClosed();
  }

  #find(re: RegExp): string | undefined {
    const lines = this.client.lines;
    for (let i = this.#cursor; i < lines.length; i++) {
      // LineClient keeps bytes as latin1 text; IRC text is UTF-8.
      const line = Buffer.from(lines[i]!, 'latin1').toString('utf8');
      if (re.test(line)) {
        this.#cursor = i + 1;
        return line;
      }
    }
    return undefined;
  }
}

/** Connects and registers `nick` on the server at `port`; resolves after the end of the welcome (422 or 376). */
export async function registerPeer(port: number, nick: string): Promise<Peer> {
  const p = await Peer.connect(port);
  p.send(`NICK ${nick}`, `USER ${nick.replace(/\W/g, '') || 'u'} 0 * :Real ${nick}`);
  await p.expect(/ (?:422|376) /);
  return p;
}
