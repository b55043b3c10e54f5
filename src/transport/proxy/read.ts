import type { Socket } from 'node:net';
import { IrcProxyError } from '../../errors.js';
import type { ProxyHeader } from './header.js';
import { ProxyHeaderParser } from './parse.js';

/**
 * Reads a required PROXY header (v1 or v2) off a freshly accepted socket.
 * Nothing is read as IRC before the header is complete and valid; the bytes
 * that came after it in the same read are put back (`unshift`), so the next
 * reader — the line decoder, or a TLS handshake — sees them first. The socket
 * is left paused. `done` is called exactly once, unless the socket closes
 * first (its owner hears of that by the socket's own `close`).
 */
export function readProxyHeader(
  socket: Socket,
  timeout: number,
  done: (err: IrcProxyError | undefined, header: ProxyHeader | undefined) => void,
): void {
  const parser = new ProxyHeaderParser();
  const finish = (err: IrcProxyError | undefined, header: ProxyHeader | undefined): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    done(err, header);
  };
  const onData = (chunk: Buffer): void => {
    let result;
    try {
      result = parser.push(chunk);
    } catch (err) {
      socket.pause();
      finish(err as IrcProxyError, undefined);
      return;
    }
    if (result === undefined) return;
    socket.pause();
    if (result.rest.length > 0) socket.unshift(result.rest);
    finish(undefined, result.header);
  };
  const onClose = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
  };
  const timer = setTimeout(() => {
    finish(new IrcProxyError('ERR_PROXY_TIMEOUT', `no complete PROXY header within ${timeout} ms`), undefined);
  }, timeout);
  timer.unref();
  socket.on('data', onData);
  socket.once('close', onClose);
}
