/**
 * A minimal WebSocket client for the load generator: the HTTP upgrade by
 * hand, then RFC 6455 frames read and written directly on the socket. It is
 * built to be cheap (as the TCP clients only count LFs), so that the server,
 * not the generator, is what a WebSocket fan-out row measures: received
 * frames are located by their headers, never copied or decoded unless asked;
 * sent frames carry an all-zero mask key (valid, and the server unmasks them
 * as any other — only the generator saves the XOR).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** The upgrade request, and the `Sec-WebSocket-Accept` the server must answer with. */
export function upgradeRequest(host: string, port: number, protocol: string): { request: string; accept: string } {
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  const request =
    `GET / HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`;
  return { request, accept };
}

/**
 * Checks the server's answer to the upgrade (`head`: up to the blank line):
 * `101`, the accept key, the subprotocol. Returns an error text, or undefined.
 */
export function checkUpgradeResponse(head: string, accept: string, protocol: string): string | undefined {
  if (!/^HTTP\/1\.1 101 /.test(head)) return `upgrade refused: ${head.split('\r\n')[0] ?? ''}`;
  const header = (name: string): string | undefined => new RegExp(`^${name}:\\s*(.*?)\\s*$`, 'im').exec(head)?.[1];
  if (header('sec-websocket-accept') !== accept) return 'wrong Sec-WebSocket-Accept';
  const chosen = header('sec-websocket-protocol');
  if (chosen !== protocol) return `the server chose subprotocol ${JSON.stringify(chosen ?? '')}, not ${protocol}`;
  return undefined;
}

function header(opcode: number, len: number): Buffer {
  // FIN, opcode; MASK bit and length; then the (all-zero) mask key.
  const h = Buffer.alloc(len < 126 ? 6 : len < 0x10000 ? 8 : 14);
  h[0] = 0x80 | opcode;
  if (len < 126) {
    h[1] = 0x80 | len;
  } else if (len < 0x10000) {
    h[1] = 0x80 | 126;
    h.writeUInt16BE(len, 2);
  } else {
    h[1] = 0x80 | 127;
    h.writeUInt32BE(Math.floor(len / 0x1_0000_0000), 2);
    h.writeUInt32BE(len >>> 0, 6);
  }
  return h;
}

/** CRLF-terminated lines as masked client frames, one message per line, in one Buffer. */
export function frameClientLines(text: string, binary: boolean): Buffer {
  const parts: Buffer[] = [];
  let start = 0;
  for (;;) {
    const end = text.indexOf('\r\n', start);
    if (end < 0) break;
    const payload = Buffer.from(text.slice(start, end), binary ? 'latin1' : 'utf8');
    parts.push(header(binary ? OP_BINARY : OP_TEXT, payload.length), payload);
    start = end + 2;
  }
  return Buffer.concat(parts);
}

/**
 * Reads server frames off a stream of chunks. `onMessage(buf, start, end)`
 * gets each data message's payload in place; pings are answered with pongs.
 * An incomplete frame at the end of a chunk is kept for the next one.
 */
export class FrameReader {
  #carry: Buffer | undefined = undefined;

  constructor(
    private readonly sock: Socket,
    private readonly onMessage: (buf: Buffer, start: number, end: number) => void,
  ) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.#carry !== undefined) {
      buf = Buffer.concat([this.#carry, chunk]);
      this.#carry = undefined;
    }
    let i = 0;
    const n = buf.length;
    while (n - i >= 2) {
      const b0 = buf[i] as number;
      let len = (buf[i + 1] as number) & 0x7f;
      let h = 2;
      if (len === 126) {
        if (n - i < 4) break;
        len = buf.readUInt16BE(i + 2);
        h = 4;
      } else if (len === 127) {
        if (n - i < 10) break;
        len = buf.readUInt32BE(i + 2) * 0x1_0000_0000 + buf.readUInt32BE(i + 6);
        h = 10;
      }
      const start = i + h;
      const end = start + len;
      if (end > n) break;
      const opcode = b0 & 0x0f;
      if (opcode === OP_TEXT || opcode === OP_BINARY) this.onMessage(buf, start, end);
      else if (opcode === OP_PING) this.sock.write(Buffer.concat([header(OP_PONG, len), buf.subarray(start, end)]));
      else if (opcode === OP_CLOSE) this.sock.end();
      i = end;
    }
    if (i < n) this.#carry = Buffer.from(buf.subarray(i));
  }
}
