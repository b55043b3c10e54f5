/** Server-side WebSocket framing of line batches (RFC 6455 §5.2), checked byte by byte. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frameChunk, frameLines, headerLength } from '../../src/transport/ws-frame.js';

/** Reads unmasked frames back: [fin+opcode byte, payload] each. */
function unframe(buf: Buffer): { b0: number; payload: Buffer }[] {
  const out: { b0: number; payload: Buffer }[] = [];
  let i = 0;
  while (i < buf.length) {
    const b0 = buf[i] as number;
    const b1 = buf[i + 1] as number;
    assert.equal(b1 & 0x80, 0, 'a server frame is never masked');
    let len = b1 & 0x7f;
    let h = 2;
    if (len === 126) {
      len = buf.readUInt16BE(i + 2);
      h = 4;
    } else if (len === 127) {
      len = Number(buf.readBigUInt64BE(i + 2));
      h = 10;
    }
    out.push({ b0, payload: buf.subarray(i + h, i + h + len) });
    i += h + len;
  }
  assert.equal(i, buf.length);
  return out;
}

test('every length form: 0, 125 (7-bit), 126 and 65535 (16-bit), 65536 (64-bit)', () => {
  for (const len of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
    const line = Buffer.alloc(len, 0x61);
    const { frames, payloadBytes } = frameLines(Buffer.concat([line, Buffer.from('\r\n')]), true);
    assert.equal(frames.length, headerLength(len) + len, String(len));
    assert.equal(payloadBytes, len);
    const [f] = unframe(frames);
    assert.equal(f?.b0, 0x82, 'FIN + binary');
    assert.deepEqual(f.payload, line);
  }
});

test('a batch is one frame per CRLF line; text frames carry U+FFFD for invalid UTF-8; a tail without CRLF is one more message', () => {
  const data = Buffer.concat([Buffer.from('PING a\r\nPRIVMSG #x caf'), Buffer.from([0xe9]), Buffer.from('\r\nNOTICE * :é😀\r\nRAW')]);
  const bin = unframe(frameLines(data, true).frames);
  assert.deepEqual(bin.map((f) => f.b0), [0x82, 0x82, 0x82, 0x82]);
  assert.deepEqual(bin[1]?.payload, Buffer.concat([Buffer.from('PRIVMSG #x caf'), Buffer.from([0xe9])]));
  const text = unframe(frameLines(data, false).frames);
  assert.deepEqual(text.map((f) => f.b0), [0x81, 0x81, 0x81, 0x81]);
  assert.deepEqual(text.map((f) => f.payload.toString('utf8')), ['PING a', 'PRIVMSG #x caf\ufffd', 'NOTICE * :é😀', 'RAW']);
});

test('frameChunk frames a shared chunk once per kind', () => {
  const chunk = Buffer.from('PING x\r\n');
  const a = frameChunk(chunk, true);
  assert.equal(frameChunk(chunk, true), a);
  const t = frameChunk(chunk, false);
  assert.notEqual(t, a);
  assert.equal(t.frames[0], 0x81);
});
