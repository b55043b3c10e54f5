import type { Readable } from 'node:stream';

// A console line is typed or pasted; anything this long without a newline is a
// mistake (a binary file on stdin), and holding it would only grow memory.
const MAX_PENDING = 64 * 1024;

export interface LineHandlers {
  line(line: string): void;
  /** A line over the cap, dropped unsent; `chars` is at least how long it was. */
  tooLong(chars: number): void;
  end(): void;
}

/**
 * Splits a text stream into lines at LF, dropping one CR before it, and
 * nothing else: a bare CR stays in the line, for `parseLine` to refuse,
 * where readline would have split the line there and sent both halves.
 */
export class LineReader {
  readonly #stream: Readable;
  readonly #on: LineHandlers;
  #partial = '';
  #skipping = false;
  #stopped = false;

  constructor(stream: Readable, handlers: LineHandlers) {
    this.#stream = stream;
    this.#on = handlers;
    stream.setEncoding('utf8');
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    // An unreadable stdin is the end of input, as far as the console goes.
    stream.on('error', this.#onEnd);
  }

  pause(): void {
    if (!this.#stopped) this.#stream.pause();
  }

  resume(): void {
    if (!this.#stopped) this.#stream.resume();
  }

  /** Stops reading for good, so a process stdin no longer keeps Node alive. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stream.off('data', this.#onData);
    this.#stream.off('end', this.#onEnd);
    this.#stream.off('error', this.#onEnd);
    this.#stream.pause();
  }

  readonly #onData = (chunk: string): void => {
    let start = 0;
    for (;;) {
      if (this.#stopped) return;
      const lf = chunk.indexOf('\n', start);
      if (lf < 0) break;
      const piece = chunk.slice(start, lf);
      start = lf + 1;
      if (this.#skipping) {
        this.#skipping = false;
        continue;
      }
      let line = this.#partial === '' ? piece : this.#partial + piece;
      this.#partial = '';
      if (line.endsWith('\r')) line = line.slice(0, -1);
      if (line.length > MAX_PENDING) this.#on.tooLong(line.length);
      else this.#on.line(line);
    }
    if (this.#skipping || start === chunk.length) return;
    const rest = chunk.slice(start);
    if (this.#partial.length + rest.length > MAX_PENDING) {
      this.#on.tooLong(this.#partial.length + rest.length);
      this.#partial = '';
      this.#skipping = true;
    } else {
      this.#partial += rest;
    }
  };

  readonly #onEnd = (): void => {
    if (this.#stopped) return;
    const last = this.#partial;
    this.#partial = '';
    // A last line without a newline is still a line the user meant to send.
    if (last !== '' && !this.#skipping) this.#on.line(last.endsWith('\r') ? last.slice(0, -1) : last);
    this.stop();
    this.#on.end();
  };
}
