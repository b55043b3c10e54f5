import type { FloodOptions } from '../limits.js';
import { TokenBucket } from '../limits/token-bucket.js';

/**
 * One connection's flood control: the token bucket, and the line held back
 * while the peer is fakelagged. Made only for connections that have it.
 */
export class Flood {
  readonly #bucket: TokenBucket;
  readonly #disconnects: boolean;
  readonly #maxDelay: number;
  #timer: NodeJS.Timeout | undefined = undefined;
  #held: string | undefined = undefined;

  constructor(opts: FloodOptions) {
    this.#bucket = new TokenBucket({ rate: opts.rate, burst: opts.burst });
    this.#disconnects = opts.mode === 'disconnect';
    this.#maxDelay = opts.maxDelay ?? 10_000;
  }

  get rate(): number {
    return this.#bucket.rate;
  }

  /** Whether a line is held back: nothing is dispatched until it is let go. */
  get holding(): boolean {
    return this.#timer !== undefined;
  }

  /** Charges one line: 0 to pass it, the ms to hold it back, or -1 for Excess Flood. */
  charge(): number {
    const wait = this.#bucket.take();
    if (wait === 0) return 0;
    if (this.#disconnects || this.#bucket.debt > this.#maxDelay) return -1;
    return wait;
  }

  /** Holds `line` for `wait` ms, then hands it to `release`. */
  hold(line: string, wait: number, release: (line: string) => void): void {
    this.#held = line;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#held = undefined;
      release(line);
    }, wait);
    this.#timer.unref();
  }

  /** Stops holding: the line held back, if any, for the caller to dispatch now. */
  clear(): string | undefined {
    const held = this.#held;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#held = undefined;
    return held;
  }
}
