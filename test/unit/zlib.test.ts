import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import zlib from 'node:zlib';
import {
  DEFAULT_MAX_INFLATED_PER_CHUNK,
  LinkDeflater,
  LinkInflater,
} from '../../src/framing/zlib.js';
import { IrcLimitError } from '../../src/errors.js';
import type { IrcsockError } from '../../src/errors.js';

// --- fixtures -------------------------------------------------------------

const WORDS = ['hello', 'wörld', 'ŝercô', '日本語', 'Привет', '🙂', 'zip', 'PRIVMSG', '#chan', 'a:b', '\\s;', 'x'];

/** 10,000-ish varied lines: UTF-8, tags, long bodies and long tag sections, CRLF and LF endings. */
function makeLines(count: number, seed: number): Buffer[] {
  const r = rng(seed);
  const pick = (): string => WORDS[Math.floor(r() * WORDS.length)] ?? 'x';
  const lines: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const kind = r();
    let line: string;
    if (kind < 0.02) {
      line = `@+draft/long=${'t'.repeat(4000 + Math.floor(r() * 4000))} :n!u@h PRIVMSG #c :${pick()}`;
    } else if (kind < 0.05) {
      line = `:srv NOTICE * :${Array.from({ length: 60 }, pick).join(' ')}`;
    } else if (kind < 0.4) {
      line = `@time=2024-01-0${1 + (i % 9)}T00:00:00.${i}Z;msgid=${i.toString(36)};+x=a\\sb :nick${i % 97}!u@host PRIVMSG #chan${i % 13} :${pick()} ${pick()} ${i}`;
    } else {
      line = `:nick${i % 211} PRIVMSG #${pick()} :${Array.from({ length: 1 + Math.floor(r() * 12) }, pick).join(' ')}`;
    }
    lines.push(Buffer.from(line + (r() < 0.9 ? '\r\n' : '\n'), 'utf8'));
  }
  return lines;
}

/** Cut `lines` into batches of 1..maxLines lines, as a connection coalescing one turn's writes would. */
function makeBatches(lines: readonly Buffer[], maxLines: number, seed: number): Buffer[] {
  const r = rng(seed);
  const batches: Buffer[] = [];
  for (let i = 0; i < lines.length; ) {
    const n = 1 + Math.floor(r() * maxLines);
    batches.push(Buffer.concat(lines.slice(i, i + n)));
    i += n;
  }
  return batches;
}

const LINES = makeLines(10_000, 5);
const PLAIN = Buffer.concat(LINES);
const SYNC_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

// --- helpers --------------------------------------------------------------

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Sink {
  chunks: Buffer[];
  bytes: number;
  errors: IrcsockError[];
  text(from?: number): Buffer;
  /** Called on every callback, so waiting needs no polling. */
  wake(): void;
  waiter: (() => void) | undefined;
}

function sink(): Sink {
  const s: Sink = {
    chunks: [],
    bytes: 0,
    errors: [],
    text: (from = 0) => Buffer.concat(s.chunks.slice(from)),
    wake: () => {
      s.waiter?.();
    },
    waiter: undefined,
  };
  return s;
}

/** Resolve when `cond()` holds; reject after `ms` with `what`, so a hang names itself. */
async function until(s: Sink, cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      s.waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    s.waiter = undefined;
  }
}

function inflaterInto(s: Sink, maxInflatedPerChunk?: number): LinkInflater {
  return new LinkInflater({
    onData: (c) => {
      s.chunks.push(c);
      s.bytes += c.length;
      s.wake();
    },
    onError: (e) => {
      s.errors.push(e);
      s.wake();
    },
    ...(maxInflatedPerChunk === undefined ? {} : { maxInflatedPerChunk }),
  });
}

function deflaterInto(s: Sink, level?: number): LinkDeflater {
  return new LinkDeflater({
    onData: (c) => {
      s.chunks.push(c);
      s.bytes += c.length;
      s.wake();
    },
    onError: (e) => {
      s.errors.push(e);
      s.wake();
    },
    ...(level === undefined ? {} : { level }),
  });
}

/** Deflate `batches` with a LinkDeflater, all written in one go; one chunk per batch comes back. */
async function deflateBatches(batches: readonly Buffer[]): Promise<Buffer[]> {
  const out = sink();
  const d = deflaterInto(out);
  for (const b of batches) d.write(b);
  await until(out, () => out.chunks.length === batches.length, 'one deflated chunk per batch');
  assert.equal(d.pending, 0);
  d.close();
  assert.deepEqual(out.errors, []);
  return out.chunks;
}

/** Length-prefixed records, the framing the Perl and Python helpers below speak. */
function frame(chunks: readonly Buffer[]): Buffer {
  return Buffer.concat(
    chunks.flatMap((c) => {
      const len = Buffer.alloc(4);
      len.writeUInt32BE(c.length);
      return [len, c];
    }),
  );
}

function unframe(buf: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let pos = 0; pos < buf.length; ) {
    const len = buf.readUInt32BE(pos);
    out.push(buf.subarray(pos + 4, pos + 4 + len));
    pos += 4 + len;
  }
  return out;
}

/** Feed `chunks` one at a time; after each, exactly `expected[i]` must have come out, and nothing more. */
async function assertEachDecodableOnArrival(chunks: readonly Buffer[], expected: readonly Buffer[]): Promise<void> {
  const s = sink();
  const inf = inflaterInto(s);
  let want = 0;
  for (const [i, chunk] of chunks.entries()) {
    const batch = expected[i];
    assert.ok(batch);
    const start = s.chunks.length;
    want += batch.length;
    inf.write(chunk);
    await until(s, () => s.bytes >= want || s.errors.length > 0, `batch ${i} to inflate on arrival`);
    assert.deepEqual(s.errors, []);
    assert.equal(s.bytes, want, `batch ${i}: inflated size`);
    assert.ok(s.text(start).equals(batch), `batch ${i}: inflated bytes`);
  }
  inf.close();
}

// --- round trip -----------------------------------------------------------

test('10,000 varied lines in many batches: one sync-flushed chunk per batch, each decodable on arrival', async () => {
  const batches = makeBatches(LINES, 40, 7);
  assert.ok(batches.length > 300);
  const chunks = await deflateBatches(batches);
  assert.equal(chunks.length, batches.length);
  for (const c of chunks) assert.ok(c.subarray(-4).equals(SYNC_TAIL), 'each chunk ends with a sync flush');
  // zlib header (RFC 1950): CM 8, CINFO 7 (32 KiB window), no preset dictionary.
  const first = chunks[0]!;
  assert.equal(first[0], 0x78);
  assert.equal(((first[0] << 8) | first[1]!) % 31, 0);
  assert.equal(first[1]! & 0x20, 0);
  // An independent decoder of the whole stream, then ours, one chunk at a time.
  const whole = zlib.inflateSync(Buffer.concat(chunks), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.ok(whole.equals(PLAIN));
  await assertEachDecodableOnArrival(chunks, batches);
});

test('order holds when writes are made from inside onData and batches vary from 1 byte to 256 KiB of noise', async () => {
  // Noise does not compress: its batch comes out of zlib in many pieces, handed on as one chunk.
  const r = rng(23);
  const big = Buffer.from(Array.from({ length: 1 << 18 }, () => Math.floor(r() * 256)));
  const batches = [Buffer.from('a'), big, Buffer.from('PING :x\r\n'), ...makeBatches(LINES.slice(0, 500), 5, 3)];
  const s = sink();
  let next = 1;
  const d = new LinkDeflater({
    onData: (c) => {
      s.chunks.push(c);
      // Feed the next batch from inside the callback, one at a time after the first two.
      if (next >= 2 && next < batches.length) d.write(batches[next++]!);
      s.wake();
    },
    onError: (e) => {
      s.errors.push(e);
      s.wake();
    },
  });
  d.write(batches[0]!);
  d.write(batches[next++]!);
  assert.equal(d.pending, 1 + big.length);
  await until(s, () => s.chunks.length === batches.length, 'every batch');
  assert.deepEqual(s.errors, []);
  assert.ok(s.chunks[1]!.length > big.length, 'the noise batch came back whole');
  assert.equal(d.pending, 0);
  d.close();
  await assertEachDecodableOnArrival(s.chunks, batches);
});

test('a stream split at random byte boundaries, and one byte at a time, inflates exactly', async () => {
  const stream = Buffer.concat(await deflateBatches(makeBatches(LINES, 25, 11)));
  const r = rng(13);
  const s = sink();
  const inf = inflaterInto(s);
  let pieces = 0;
  for (let pos = 0; pos < stream.length; pieces++) {
    const n = r() < 0.3 ? 1 + Math.floor(r() * 4) : 1 + Math.floor(r() * 3000);
    inf.write(stream.subarray(pos, pos + n));
    pos += n;
  }
  assert.ok(pieces > 100);
  await until(s, () => s.bytes >= PLAIN.length || s.errors.length > 0, 'the whole stream');
  assert.deepEqual(s.errors, []);
  assert.ok(s.text().equals(PLAIN));
  assert.ok(s.chunks.every((c) => c.length <= 16 * 1024), 'output comes in pieces of at most 16 KiB');
  assert.equal(inf.inflatedBytes, PLAIN.length);
  inf.close();

  const head = Buffer.concat(await deflateBatches(LINES.slice(0, 50)));
  const s2 = sink();
  const inf2 = inflaterInto(s2);
  for (let i = 0; i < head.length; i++) inf2.write(head.subarray(i, i + 1));
  const want = Buffer.concat(LINES.slice(0, 50));
  await until(s2, () => s2.bytes >= want.length, 'the byte-by-byte stream');
  assert.ok(s2.text().equals(want));
  inf2.close();
});

// --- corrupt input --------------------------------------------------------

test('corrupt input gives exactly one ERR_ZLIB, after the good data before it, and nothing more', async () => {
  const good = await deflateBatches(LINES.slice(0, 20));
  const cases: [string, Buffer[]][] = [
    ['bad header', [Buffer.from('NICK plain\r\nUSER not compressed\r\n')]],
    // BFINAL=1, BTYPE=11: a reserved block type.
    ['bad block after good data', [...good, Buffer.from([0x07, 0x55, 0xaa])]],
    ['flipped bits', [...good.slice(0, 10), Buffer.from(good[10]!.map((b) => b ^ 0x5a))]],
  ];
  for (const [name, chunks] of cases) {
    const s = sink();
    const inf = inflaterInto(s);
    for (const c of chunks) inf.write(c);
    await until(s, () => s.errors.length > 0, `${name}: an error`);
    // More input after the error is ignored, and no second report comes.
    inf.write(Buffer.from([0xff, 0xff, 0xff]));
    await delay(30);
    assert.equal(s.errors.length, 1, name);
    const err = s.errors[0]!;
    assert.equal(err.code, 'ERR_ZLIB', name);
    assert.equal((err.cause as NodeJS.ErrnoException).code, 'Z_DATA_ERROR', name);
    assert.ok(inf.closed, name);
    if (name === 'bad block after good data') {
      const goodText = s.text();
      // Whatever came out is a prefix of the good lines: nothing invented.
      assert.ok(PLAIN.subarray(0, goodText.length).equals(goodText), name);
    }
    inf.close();
  }
});

test('data after a finished zlib stream is an ERR_ZLIB', async () => {
  const finished = zlib.deflateSync(Buffer.from('SQUIT a :b\r\n'));
  const s = sink();
  const inf = inflaterInto(s);
  inf.write(Buffer.concat([finished, Buffer.from('PRIVMSG #x :lost\r\n')]));
  await until(s, () => s.errors.length > 0, 'an error');
  await delay(20);
  assert.equal(s.errors.length, 1);
  assert.equal(s.errors[0]!.code, 'ERR_ZLIB');
  assert.equal(s.text().toString(), 'SQUIT a :b\r\n');
});

// --- decompression bomb ---------------------------------------------------

/**
 * About 1 MB that inflates to 1 GiB of zeros, built in tens of milliseconds:
 * 4 MiB of zeros ended with a full flush compresses to a segment that needs
 * no history, so the segment can be repeated as often as wanted.
 */
async function makeBomb(): Promise<{ bomb: Buffer; inflated: number }> {
  const seg = 4 << 20;
  const d = zlib.createDeflate({ level: 9 });
  const out: Buffer[] = [];
  d.on('data', (c: Buffer) => out.push(c));
  const segment = async (): Promise<Buffer> => {
    d.write(Buffer.alloc(seg));
    await new Promise<void>((resolve) => {
      d.flush(zlib.constants.Z_FULL_FLUSH, resolve);
    });
    return Buffer.concat(out.splice(0));
  };
  const head = await segment();
  const body = await segment();
  d.destroy();
  const copies = 255;
  return { bomb: Buffer.concat([head, ...Array<Buffer>(copies).fill(body)]), inflated: (copies + 1) * seg };
}

test('a bomb is cut off with ERR_ZLIB_BOMB, at once and with bounded memory', async () => {
  const { bomb, inflated } = await makeBomb();
  assert.ok(bomb.length < 1.1e6 && inflated === 1 << 30, 'about 1 MB that would inflate to 1 GiB');
  const rss0 = process.memoryUsage().rss;
  let peak = rss0;
  const s = sink();
  const inf = new LinkInflater({
    // Like a line decoder dropping an over-long line: look, keep nothing.
    onData: (c) => {
      s.bytes += c.length;
      peak = Math.max(peak, process.memoryUsage().rss);
    },
    onError: (e) => {
      s.errors.push(e);
      s.wake();
    },
  });
  // As socket reads of 64 KiB would arrive.
  for (let pos = 0; pos < bomb.length; pos += 65536) inf.write(bomb.subarray(pos, pos + 65536));
  await until(s, () => s.errors.length > 0, 'the bomb guard');
  await delay(50);
  peak = Math.max(peak, process.memoryUsage().rss);
  assert.equal(s.errors.length, 1);
  const err = s.errors[0]!;
  assert.ok(err instanceof IrcLimitError);
  assert.equal(err.code, 'ERR_ZLIB_BOMB');
  assert.equal(err.limit, DEFAULT_MAX_INFLATED_PER_CHUNK);
  assert.ok(s.bytes <= DEFAULT_MAX_INFLATED_PER_CHUNK, `inflated ${s.bytes} bytes before the cut`);
  assert.ok(peak - rss0 < 64 << 20, `rss grew by ${((peak - rss0) / 2 ** 20).toFixed(1)} MiB`);
  assert.ok(inf.closed);
  assert.equal(inf.pending, 0, 'the queued rest of the bomb was dropped');
});

test('maxInflatedPerChunk: a lower bound cuts sooner, legitimate reads stay under the default', async () => {
  const { bomb } = await makeBomb();
  const s = sink();
  const inf = inflaterInto(s, 64 * 1024);
  inf.write(bomb.subarray(0, 8192));
  await until(s, () => s.errors.length > 0, 'the bomb guard');
  assert.equal(s.errors[0]!.code, 'ERR_ZLIB_BOMB');
  assert.ok(s.bytes <= 64 * 1024);

  // Full 64 KiB reads of ordinary compressed traffic do not trip the default.
  const stream = Buffer.concat(await deflateBatches(makeBatches(LINES, 200, 17)));
  const s2 = sink();
  const inf2 = inflaterInto(s2);
  for (let pos = 0; pos < stream.length; pos += 65536) inf2.write(stream.subarray(pos, pos + 65536));
  await until(s2, () => s2.bytes >= PLAIN.length || s2.errors.length > 0, 'the stream');
  assert.deepEqual(s2.errors, []);
  inf2.close();

  assert.throws(() => inflaterInto(sink(), 10), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => deflaterInto(sink(), 12), { code: 'ERR_INVALID_OPTION' });
  assert.throws(
    () => new LinkDeflater({ onData: () => undefined, onError: () => undefined, ...{ windowBits: 9 } }),
    { code: 'ERR_UNKNOWN_OPTION' },
  );
});

// --- close ----------------------------------------------------------------

test('close(): no callback after it, from a write in flight or from inside onData', async () => {
  const s = sink();
  const d = deflaterInto(s);
  d.write(PLAIN);
  d.close();
  d.write(Buffer.from('after close\r\n'));
  d.close();
  assert.equal(d.pending, 0);

  const i = inflaterInto(s);
  i.write(zlib.deflateSync(PLAIN));
  i.close();
  await delay(50);
  assert.equal(s.chunks.length + s.errors.length, 0);

  // Closing from inside onData stops the rest of the same inflate call.
  let calls = 0;
  const i2: LinkInflater = new LinkInflater({
    onData: () => {
      calls++;
      i2.close();
    },
    onError: (e) => s.errors.push(e),
  });
  i2.write(zlib.deflateSync(PLAIN));
  await delay(50);
  assert.equal(calls, 1);
  assert.deepEqual(s.errors, []);
});

test('close() leaves no handle: a process that used and closed both exits by itself', () => {
  const url = new URL('../../src/framing/zlib.js', import.meta.url).href;
  const script = `
    import zlib from 'node:zlib';
    const { LinkInflater, LinkDeflater } = await import(${JSON.stringify(url)});
    const noop = () => {};
    let n = 0;
    const d = new LinkDeflater({ onData: (c) => { n += c.length; }, onError: noop });
    const i = new LinkInflater({ onData: noop, onError: noop });
    d.write(Buffer.alloc(1 << 20, 'PRIVMSG #x :y\\r\\n'));
    i.write(zlib.deflateSync(Buffer.alloc(1 << 20)));
    setTimeout(() => {
      const d2 = new LinkDeflater({ onData: noop, onError: noop });
      const i2 = new LinkInflater({ onData: noop, onError: noop });
      d2.write(Buffer.alloc(1 << 22));
      i2.write(zlib.deflateSync(Buffer.alloc(1 << 22)));
      d.close(); i.close(); d2.close(); i2.close();
    }, 20);
    process.on('exit', () => console.log('exited', n > 0));
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 10_000, encoding: 'utf8' });
  assert.equal(r.error, undefined, 'the child exits on its own within 10 s');
  assert.equal(r.signal, null, r.stderr);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'exited true');
});

// --- interop with independent zlib implementations ------------------------

function probe(cmd: string, args: string[]): string | false {
  const r = spawnSync(cmd, args, { timeout: 10_000, encoding: 'utf8' });
  return r.status === 0 ? false : `${cmd} ${args.join(' ')} is unavailable: ${r.error?.message ?? r.stderr.trim()}`;
}

const PERL_SKIP = probe('perl', ['-MCompress::Zlib', '-e', '1']);
const PYTHON_SKIP = probe('python3', ['-c', 'import zlib']);

/** Run a helper that reads stdin and writes stdout, both binary. */
function run(cmd: string, args: string[], input: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input, timeout: 20_000, maxBuffer: 64 << 20 });
  assert.equal(r.error, undefined, `${cmd} ran`);
  assert.equal(r.status, 0, r.stderr.toString());
  return r.stdout;
}

// What POE::Filter::Zlib::Stream->put does for each record: deflateInit with
// Compress::Zlib's defaults, then deflate($record) . flush(Z_SYNC_FLUSH).
const PERL_DEFLATE = `
  use strict; use Compress::Zlib;
  binmode STDIN; binmode STDOUT;
  my ($d, $st) = deflateInit(); die "deflateInit: $st" unless $st == Z_OK;
  while (my $line = <STDIN>) {
    my ($out, $s1) = $d->deflate($line); die "deflate: $s1" unless $s1 == Z_OK;
    my ($fl, $s2) = $d->flush(Z_SYNC_FLUSH); die "flush: $s2" unless $s2 == Z_OK;
    my $c = $out . $fl;
    print pack('N', length $c), $c;
  }
`;

// What POE::Filter::Zlib::Stream->get does: inflateInit, inflate each chunk as it comes.
const PERL_INFLATE = `
  use strict; use Compress::Zlib;
  binmode STDIN; binmode STDOUT;
  my ($i, $st) = inflateInit(); die "inflateInit: $st" unless $st == Z_OK;
  local $/; my $all = <STDIN>; my $pos = 0;
  while ($pos < length $all) {
    my $len = unpack('N', substr($all, $pos, 4));
    my $c = substr($all, $pos + 4, $len); $pos += 4 + $len;
    my ($out, $s) = $i->inflate($c); die "inflate: $s" unless $s == Z_OK;
    print pack('N', length $out), $out;
  }
`;

const PY_DEFLATE = `
import sys, zlib
c = zlib.compressobj()
for line in sys.stdin.buffer:
    out = c.compress(line) + c.flush(zlib.Z_SYNC_FLUSH)
    sys.stdout.buffer.write(len(out).to_bytes(4, 'big') + out)
`;

const PY_INFLATE = `
import sys, zlib
d = zlib.decompressobj()
data = sys.stdin.buffer.read()
pos = 0
while pos < len(data):
    n = int.from_bytes(data[pos:pos + 4], 'big')
    out = d.decompress(data[pos + 4:pos + 4 + n])
    pos += 4 + n
    sys.stdout.buffer.write(len(out).to_bytes(4, 'big') + out)
`;
import { mulberry32 as rng } from '../helpers/prng.js';

// The helpers split their input on LF, so every line here must end with one.
const INTEROP_LINES = LINES.slice(0, 2000);

for (const [name, skip, cmd, deflateArgs, inflateArgs] of [
  ['Perl Compress::Zlib (POE::Filter::Zlib::Stream)', PERL_SKIP, 'perl', ['-e', PERL_DEFLATE], ['-e', PERL_INFLATE]],
  ['Python zlib', PYTHON_SKIP, 'python3', ['-c', PY_DEFLATE], ['-c', PY_INFLATE]],
] as const) {
  test(`interop: ${name} deflates, LinkInflater decodes every record on arrival`, { skip }, async () => {
    const chunks = unframe(run(cmd, [...deflateArgs], Buffer.concat(INTEROP_LINES)));
    assert.equal(chunks.length, INTEROP_LINES.length);
    await assertEachDecodableOnArrival(chunks, INTEROP_LINES);
  });

  test(`interop: LinkDeflater deflates, ${name} decodes every batch on arrival`, { skip }, async () => {
    const batches = makeBatches(INTEROP_LINES, 30, 19);
    const chunks = await deflateBatches(batches);
    const outs = unframe(run(cmd, [...inflateArgs], frame(chunks)));
    assert.equal(outs.length, batches.length);
    for (const [i, out] of outs.entries()) assert.ok(out.equals(batches[i]!), `batch ${i}`);
  });
}
