/**
 * The ircsock server under test: one Backend, one listener on 127.0.0.1 with
 * the default idle timer (180 s) and default limits, and an `input` handler that re-sends each
 * PRIVMSG to every other connection — formatted once by `backend.send`.
 *
 * `--path FILE`: listen on a Unix-domain socket at FILE instead.
 * `--proxy`: the listener requires a PROXY header (`proxy: true`: trusted from loopback).
 * `--websocket`: the listener speaks WebSocket (IRCv3 WebSocket, default options).
 */
import { Backend, type Connection } from '../../src/index.js';
import { runServer } from './harness.js';

const pathArg = process.argv.indexOf('--path');
const path = pathArg >= 0 ? process.argv[pathArg + 1] : undefined;
if (pathArg >= 0 && (path === undefined || path === '')) throw new Error('--path FILE');
const proxy = process.argv.includes('--proxy');
const websocket = process.argv.includes('--websocket');

await runServer(async () => {
  const backend = new Backend();
  const conns: Connection[] = [];
  backend.on('listenerOpen', (conn) => {
    conns.push(conn);
  });
  backend.on('disconnect', (conn) => {
    const i = conns.indexOf(conn);
    if (i >= 0) conns.splice(i, 1);
  });
  backend.on('input', (conn, msg) => {
    if (msg.command !== 'PRIVMSG') return;
    backend.send(msg, ...conns.filter((c) => c !== conn));
  });
  // Defaults throughout, except room for the idle benchmark's 10,000 connections
  // (admission's default maxTotal is 10,000; loopback is exempt from the per-IP limits,
  // and only maxTotal applies to Unix-socket peers).
  const admission = { maxTotal: 100_000 };
  const listener = await backend.createListener(
    { ...(path !== undefined ? { path } : { addr: '127.0.0.1', port: 0 }), admission, ...(proxy ? { proxy: true } : {}), ...(websocket ? { websocket: true } : {}) },
  );
  return {
    port: listener.port,
    ...(listener.path !== undefined ? { path: listener.path } : {}),
    proxy: listener.proxy,
    websocket: listener.websocket,
    connections: () => backend.connections.size,
    close: () => backend.shutdown(),
  };
});
