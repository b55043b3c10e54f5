/**
 * The relay in-process, its log lines kept and told as events, so that tests
 * wait for a line such as `link NAME up` instead of sleeping.
 */
import { EventEmitter } from 'node:events';
import { startRelay, type Relay, type RelayOptions } from '../../src/cli/relay/server.js';
import { once } from './net.js';

export class LoggedRelay {
  readonly relay: Relay;
  /** Every log line so far. */
  readonly lines: readonly string[];
  readonly #events: EventEmitter;

  private constructor(relay: Relay, lines: readonly string[], events: EventEmitter) {
    this.relay = relay;
    this.lines = lines;
    this.#events = events;
  }

  /** `startRelay(opts)` with its `log` captured (a `log` in `opts` is replaced). */
  static async start(opts: RelayOptions): Promise<LoggedRelay> {
    const lines: string[] = [];
    const events = new EventEmitter();
    const relay = await startRelay({
      ...opts,
      log: (line) => {
        lines.push(line);
        events.emit('line', line);
      },
    });
    return new LoggedRelay(relay, lines, events);
  }

  /** The first listener's port. */
  get port(): number {
    return this.relay.ports[0] as number;
  }

  /** Resolves with the first log line (already written or to come) matching `re`. */
  async logged(re: RegExp): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen !== undefined) return seen;
    const [line] = await once(this.#events, 'line', { filter: (l) => re.test(l as string) });
    return line as string;
  }
}
