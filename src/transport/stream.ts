import type { Socket } from 'node:net';
import { IrcTimeoutError, type IrcsockError } from '../errors.js';
import { LineDecoder, type DecodedLine, type LineDecoderOptions } from '../framing/line-decoder.js';
import { LinkDeflater, LinkInflater } from '../framing/zlib.js';
import type { Endpoint, ProxyFacts, Transport, TransportKind, TransportSink } from './transport.js';
import type { TlsInfo } from './tls.js';

export interface StreamTransportInit {
  socket: Socket;
  kind: 'tcp' | 'tls' | 'unix';
  peer: Endpoint;
  local: Endpoint;
  tls: TlsInfo | undefined;
  proxy: ProxyFacts | undefined;
  maxTagBytes: number;
  maxBodyBytes: number;
  /** Bytes of one over-long line after which the line decoder gives up on the peer. */
  maxOverlongBytes: number;
  maxInflatePerRead: number;
}

const EMPTY = Buffer.alloc(0);

// One options object per set of limits (in practice one per listener), not one per connection.
const decoderOptionSets = new Map<string, LineDecoderOptions>();
function decoderOptions(maxTagBytes: number, maxBodyBytes: number, maxOverlongBytes: number): LineDecoderOptions {
  const key = `${maxTagBytes} ${maxBodyBytes} ${maxOverlongBytes}`;
  let opts = decoderOptionSets.get(key);
  if (opts === undefined) {
    if (decoderOptionSets.size >= 64) decoderOptionSets.clear();
    opts = Object.freeze({ maxTagBytes, maxBodyBytes, maxOverlongBytes });
    decoderOptionSets.set(key, opts);
  }
  return opts;
}
// How long a closing stream waits for the peer's FIN after sending its own.
const LINGER = 2_000;

function noop(): void {
  // A released socket's late errors belong to nobody.
}

interface StreamHandle {
  reading: boolean;
  readStop(): number;
  readStart(): number;
}

/** Node's libuv stream handle under a socket (see freezeInput for why it is needed). */
function socketHandle(socket: Socket): StreamHandle | undefined {
  const handle = (socket as unknown as { _handle?: Partial<StreamHandle> | null })._handle;
  if (handle === null || handle === undefined || typeof handle.readStop !== 'function' || typeof handle.readStart !== 'function') return undefined;
  return handle as StreamHandle;
}

const OWNER: unique symbol = Symbol('ircsock.transport');
type OwnedSocket = Socket & { [OWNER]: StreamTransport };

/** A held write of an unset that winds down: bytes, or the point where a new compressed link starts. */
type Held = Buffer | typeof START_COMPRESSION;
const START_COMPRESSION: unique symbol = Symbol('start compression');

/**
 * A byte-stream wire (TCP, TLS, Unix socket): the socket, the line decoder
 * and the compressed link. Lines are pulled with `next()`, so a switch to zlib
 * made while a line is handled takes effect at the byte after that line.
 */
export class StreamTransport implements Transport {
  readonly kind: TransportKind;
  readonly peer: Endpoint;
  readonly local: Endpoint;
  readonly tls: TlsInfo | undefined;
  readonly proxy: ProxyFacts | undefined;
  readonly websocket = undefined;
  bytesIn = 0;
  bytesOut = 0;
  compressed = false;

  readonly #socket: Socket;
  // Only while it holds something (a partial line, bytes not yet pulled): an
  // idle connection between complete lines carries no decoder.
  #decoder: LineDecoder | undefined = undefined;
  readonly #decoderOptions: LineDecoderOptions;
  readonly #maxInflate: number;
  #sink: TransportSink | undefined = undefined;
  #ending = false;
  #closed = false;
  #error: Error | undefined = undefined;
  #closeTimer: NodeJS.Timeout | undefined = undefined;
  #deadline = LINGER;
  #paused = false;
  // Reads stopped at the handle by freezeInput().
  #frozen = false;
  #inflater: LinkInflater | undefined = undefined;
  #deflater: LinkDeflater | undefined = undefined;
  // Compressed streams being wound down by uncompress(): plain input waits
  // behind what the old inflater still holds, plain output behind the old
  // deflater's last batch.
  #oldInflater: LinkInflater | undefined = undefined;
  #oldDeflater: LinkDeflater | undefined = undefined;
  #heldOutput: Held[] | undefined = undefined;
  #heldOutputBytes = 0;
  // compressNow() while the old inflater still winds down: the rest it holds is compressed input.
  #inflateAfterRetire = false;
  // compressAfterDrain(): writes wait here until what was written before is out.
  #awaitingDrain: Buffer[] | undefined = undefined;
  #awaitingBytes = 0;
  #endWhenDeflated = false;

  constructor(init: StreamTransportInit) {
    this.kind = init.kind;
    this.peer = init.peer;
    this.local = init.local;
    this.tls = init.tls;
    this.proxy = init.proxy;
    this.#socket = init.socket;
    this.#maxInflate = init.maxInflatePerRead;
    this.#decoderOptions = decoderOptions(init.maxTagBytes, init.maxBodyBytes, init.maxOverlongBytes);
  }

  attach(sink: TransportSink): void {
    this.#sink = sink;
    const s = this.#socket as OwnedSocket;
    // Shared handlers that find their transport on the socket: tens of
    // thousands of idle connections must not each carry six closures.
    s[OWNER] = this;
    s.setNoDelay(true);
    const on = StreamTransport.#handlers;
    /* eslint-disable @typescript-eslint/unbound-method -- EventEmitter calls them with the socket as `this`, as they expect */
    s.on('data', on.data);
    s.on('drain', on.drain);
    s.on('end', on.end);
    s.on('finish', on.finish);
    s.on('error', on.error);
    s.on('close', on.close);
    /* eslint-enable @typescript-eslint/unbound-method */
    // The PROXY stage leaves the socket paused; a 'data' listener alone does not undo an explicit pause.
    if (s.isPaused()) s.resume();
    // A socket that died while it went through the accept pipeline never emits 'close' again.
    if (s.destroyed) queueMicrotask(() => { this.#onClose(); });
  }

  static readonly #handlers = {
    data: function (this: OwnedSocket, chunk: Buffer): void {
      this[OWNER].#onData(chunk);
    },
    drain: function (this: OwnedSocket): void {
      this[OWNER].#sink?.onDrain();
    },
    end: function (this: OwnedSocket): void {
      // Node ends our side on the next tick: what this turn queued (a reply
      // to the peer's QUIT) goes out first.
      this[OWNER].#sink?.onPeerEnd();
    },
    finish: function (this: OwnedSocket): void {
      const t = this[OWNER];
      if (t.#ending) t.#linger();
    },
    error: function (this: OwnedSocket, err: Error): void {
      this[OWNER].#error ??= err;
    },
    close: function (this: OwnedSocket): void {
      this[OWNER].#onClose();
    },
  };

  get socket(): Socket {
    return this.#socket;
  }

  get destroyed(): boolean {
    return this.#socket.destroyed;
  }

  get writable(): boolean {
    return !this.#socket.destroyed && !this.#ending;
  }

  get needDrain(): boolean {
    return this.#socket.writableNeedDrain;
  }

  get writableLength(): number {
    return this.#socket.writableLength + this.#deflatedPending() + this.#heldOutputBytes + this.#awaitingBytes;
  }

  get buffered(): number {
    return this.#decoder?.buffered ?? 0;
  }

  next(): DecodedLine | undefined {
    return this.#decoder?.next();
  }

  #takeRemainder(): Buffer {
    const d = this.#decoder;
    this.#decoder = undefined;
    return d === undefined ? EMPTY : d.takeRemainder();
  }

  write(data: Buffer): void {
    if (this.#socket.destroyed) return;
    if (this.#awaitingDrain !== undefined) {
      this.#awaitingDrain.push(data);
      this.#awaitingBytes += data.length;
      return;
    }
    this.#writeRaw(data);
  }

  /** Bytes after the queue: through the deflater when compressed, else straight out. */
  #writeRaw(data: Buffer): void {
    // While an old deflater's last batch is still on its way, plain bytes wait behind it.
    if (this.#heldOutput !== undefined || (this.#deflater === undefined && this.#oldDeflater !== undefined)) {
      (this.#heldOutput ??= []).push(data);
      this.#heldOutputBytes += data.length;
    } else if (this.#deflater !== undefined) {
      this.#deflater.write(data);
    } else {
      this.bytesOut += data.length;
      this.#socket.write(data);
    }
  }

  dropHeld(): void {
    if (this.#awaitingDrain !== undefined) {
      this.#awaitingDrain = [];
      this.#awaitingBytes = 0;
    }
  }

  get movable(): boolean {
    return (
      this.kind !== 'tls' &&
      !this.#closed &&
      !this.#ending &&
      !this.#socket.destroyed &&
      this.#inflater === undefined &&
      this.#deflater === undefined &&
      this.#oldInflater === undefined &&
      this.#oldDeflater === undefined &&
      this.#awaitingDrain === undefined
    );
  }

  freezeInput(): void {
    this.pause();
    // socket.pause() only stops the stream flowing: libuv keeps reading into
    // Node's buffer until the high-water mark. Bytes read here after the
    // hand-off started would be lost to the successor, so the read stops at
    // the handle. Node offers no public call for that (its own child_process
    // socket passing has the same gap); `reading` is the flag its `_read`
    // checks to start reading again on resume().
    const handle = socketHandle(this.#socket);
    if (handle !== undefined) {
      handle.reading = false;
      handle.readStop();
      this.#frozen = true;
    }
    // What Node read before the stop: read() emits it as 'data', into the decoder.
    while (this.#socket.readableLength > 0 && this.#socket.read() !== null) {
      // Drained chunk by chunk.
    }
  }

  thawInput(): void {
    // The stream may believe a read is still under way (its own flag): start the handle again ourselves.
    const handle = this.#frozen ? socketHandle(this.#socket) : undefined;
    this.#frozen = false;
    this.resume();
    if (handle !== undefined && !this.#socket.destroyed) {
      handle.reading = true;
      handle.readStart();
    }
  }

  takeInput(): Buffer {
    return this.#takeRemainder();
  }

  restoreInput(data: Buffer): void {
    if (data.length === 0) return;
    const rest = this.#takeRemainder();
    this.#decoder = new LineDecoder(this.#decoderOptions);
    this.#decoder.write(rest.length === 0 ? data : Buffer.concat([data, rest]));
  }

  whenWritten(cb: () => void): void {
    if (this.#socket.writableLength === 0 || this.#socket.destroyed) {
      queueMicrotask(cb);
      return;
    }
    this.#socket.write(EMPTY, () => {
      cb();
    });
  }

  release(): void {
    const s = this.#socket;
    this.#closed = true;
    clearTimeout(this.#closeTimer);
    s.removeAllListeners('data');
    s.removeAllListeners('drain');
    s.removeAllListeners('end');
    s.removeAllListeners('finish');
    s.removeAllListeners('close');
    s.removeAllListeners('error');
    // Closing our descriptor is not a FIN while the successor holds its own.
    s.on('error', noop);
    s.destroy();
  }

  pause(): void {
    this.#paused = true;
    this.#socket.pause();
    // Else a fakelagged compressed peer would still fill the decoder from what zlib holds.
    this.#inflater?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#inflater?.resume();
    this.#socket.resume();
  }

  end(deadline: number): void {
    if (this.#ending || this.#socket.destroyed) return;
    this.#ending = true;
    this.#deadline = deadline;
    // A setCompressedLink switch still waiting for the drain happens now:
    // what was written before it is in the socket already, so the writes
    // made after it go out compressed, as the peer expects, not plain.
    if (this.#awaitingDrain !== undefined) this.#switchAfterDrain();
    if (this.#deflatedPending() > 0 || this.#heldOutput !== undefined) {
      this.#endWhenDeflated = true;
    } else {
      this.#socket.end();
    }
    this.#closeTimer = setTimeout(() => {
      this.#error ??= new IrcTimeoutError(
        'ERR_DISCONNECT_TIMEOUT',
        `peer did not take the last ${this.#socket.writableLength} bytes within ${deadline} ms`,
        deadline,
      );
      this.#socket.destroy();
    }, deadline);
    this.#closeTimer.unref();
  }

  destroy(err?: Error): void {
    if (err !== undefined) this.#error ??= err;
    this.#awaitingDrain = undefined;
    this.#awaitingBytes = 0;
    this.#socket.destroy();
  }

  /**
   * Our FIN is out: wait a moment for the peer's before closing. Closing at
   * once, while the peer still sends, makes the kernel answer with an RST,
   * which can throw away our last lines (the ERROR) before the peer reads them.
   * A peer that reads our FIN closes too, so this rarely waits.
   */
  #linger(): void {
    if (this.#socket.destroyed) return;
    clearTimeout(this.#closeTimer);
    this.#closeTimer = setTimeout(() => this.#socket.destroy(), Math.min(LINGER, this.#deadline));
    this.#closeTimer.unref();
  }

  #deflatedPending(): number {
    return (this.#deflater?.pending ?? 0) + (this.#oldDeflater?.pending ?? 0);
  }

  // --- the compressed link -------------------------------------------------

  compressNow(): void {
    if (this.#closed || this.#inflater !== undefined) return;
    if (this.#awaitingDrain !== undefined) {
      this.#switchAfterDrain();
      return;
    }
    this.#startCompression();
  }

  compressAfterDrain(): void {
    if (this.#closed || this.#inflater !== undefined || this.#awaitingDrain !== undefined) return;
    this.#awaitingDrain = [];
    // Writes complete in order: this callback runs once everything before it is out.
    this.#socket.write(EMPTY, () => {
      if (this.#awaitingDrain === undefined || this.#closed) return;
      this.#switchAfterDrain();
    });
  }

  #switchAfterDrain(): void {
    const waiting = this.#awaitingDrain ?? [];
    this.#awaitingDrain = undefined;
    this.#awaitingBytes = 0;
    this.#startCompression();
    for (const data of waiting) this.#writeRaw(data);
  }

  #startCompression(): void {
    const sink = this.#sink;
    const fail = (err: IrcsockError): void => {
      sink?.onFailure(err.code === 'ERR_ZLIB' ? 'Compression error' : 'Decompression limit exceeded', err);
    };
    this.compressed = true;
    if (this.#oldDeflater !== undefined) {
      // The old stream's last batch is still being written: the new one starts after it.
      (this.#heldOutput ??= []).push(START_COMPRESSION);
    } else {
      this.#newDeflater(fail);
    }
    if (this.#oldInflater !== undefined) {
      this.#inflateAfterRetire = true;
    } else {
      this.#newInflater(fail, this.#takeRemainder());
    }
    sink?.onCompressed();
  }

  #newInflater(fail: (err: IrcsockError) => void, first: Buffer): void {
    const inflater: LinkInflater = new LinkInflater({
      maxInflatedPerChunk: this.#maxInflate,
      onData: (chunk) => {
        this.#feed(chunk);
      },
      onDrain: () => {
        if (this.#oldInflater === inflater) this.#retireInflater();
      },
      onError: fail,
    });
    this.#inflater = inflater;
    if (this.#paused) inflater.pause();
    if (first.length > 0) inflater.write(first);
  }

  #newDeflater(fail: (err: IrcsockError) => void): void {
    this.#deflater = new LinkDeflater({
      onData: (chunk) => {
        this.bytesOut += chunk.length;
        this.#socket.write(chunk);
        this.#afterDeflate();
      },
      onError: fail,
    });
  }

  uncompress(): void {
    this.#inflateAfterRetire = false;
    if (this.#awaitingDrain !== undefined) {
      // Asked to switch and back before the switch happened: nothing ever went out compressed.
      const waiting = this.#awaitingDrain;
      this.#awaitingDrain = undefined;
      this.#awaitingBytes = 0;
      for (const data of waiting) this.#writeRaw(data);
      return;
    }
    const inflater = this.#inflater;
    const deflater = this.#deflater;
    if (inflater === undefined || deflater === undefined) return;
    this.#inflater = undefined;
    this.#deflater = undefined;
    this.compressed = false;
    this.#oldInflater = inflater;
    this.#oldDeflater = deflater;
    // Stop at the peer's switch point, the end of its batch under way: the
    // bytes after it (plain ones, read with it or later) are never inflated,
    // and are fed plain once that batch is done.
    inflater.stopAtBatchEnd();
    this.#retireInflater();
    this.#afterDeflate();
  }

  // Called after every inflated chunk while an old inflater winds down.
  #retireInflater(): void {
    const old = this.#oldInflater;
    if (old === undefined || !old.finished) return;
    const held = old.takeRest();
    old.close();
    this.#oldInflater = undefined;
    if (this.#inflateAfterRetire) {
      this.#inflateAfterRetire = false;
      const fail = (err: IrcsockError): void => {
        this.#sink?.onFailure(err.code === 'ERR_ZLIB' ? 'Compression error' : 'Decompression limit exceeded', err);
      };
      this.#newInflater(fail, held.length === 0 ? EMPTY : Buffer.concat(held));
      return;
    }
    for (const chunk of held) this.#feed(chunk);
  }

  #afterDeflate(): void {
    const old = this.#oldDeflater;
    if (old !== undefined && old.pending === 0) {
      old.close();
      this.#oldDeflater = undefined;
      const held = this.#heldOutput ?? [];
      this.#heldOutput = undefined;
      this.#heldOutputBytes = 0;
      for (let i = 0; i < held.length; i++) {
        const item = held[i] as Held;
        if (item !== START_COMPRESSION) {
          this.#writeRaw(item);
          continue;
        }
        this.#newDeflater((err) => this.#sink?.onFailure('Compression error', err));
        // Anything after a second uncompress() is not supported mid-wind-down: write the rest through it.
        for (const data of held.slice(i + 1)) if (data !== START_COMPRESSION) this.#writeRaw(data);
        break;
      }
    }
    if (this.#endWhenDeflated && this.#deflatedPending() === 0 && this.#heldOutput === undefined && !this.#socket.destroyed) {
      this.#endWhenDeflated = false;
      this.#socket.end();
    }
  }

  // --- input ---------------------------------------------------------------

  #onData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    if (this.#inflater !== undefined) {
      this.#inflater.write(chunk);
    } else if (this.#oldInflater !== undefined) {
      // It takes what is left of the peer's last compressed batch, and keeps the rest for #retireInflater.
      this.#oldInflater.write(chunk);
    } else {
      this.#feed(chunk);
    }
  }

  #feed(chunk: Buffer): void {
    if (chunk.length > 0) (this.#decoder ??= new LineDecoder(this.#decoderOptions)).write(chunk);
    this.#sink?.onReadable();
    // Every line pulled and none begun: the next read starts a fresh decoder.
    if (this.#decoder?.empty === true) this.#decoder = undefined;
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#closeTimer);
    this.#inflater?.close();
    this.#deflater?.close();
    this.#oldInflater?.close();
    this.#oldDeflater?.close();
    this.#heldOutput = undefined;
    this.#heldOutputBytes = 0;
    this.#awaitingDrain = undefined;
    this.#awaitingBytes = 0;
    this.#decoder = undefined;
    this.#sink?.onClose(this.#error);
  }
}
