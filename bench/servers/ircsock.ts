/**
 * The ircsock server under test: one Backend, one listener on 127.0.0.1 with
 * the default idle timer (180 s) and default limits, and an `input` handler that re-sends each
 * PRIVMSG to every other connection — formatted once by `backend.send`.
 */
import { Backend, type Connection } from '../../src/index.js';
import { runServer } from './harness.js';

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
  // (admission's default maxTotal is 10,000; loopback is exempt from the per-IP limits).
  const listener = await backend.createListener({ addr: '127.0.0.1', port: 0, admission: { maxTotal: 100_000 } });
  return {
    port: listener.port,
    connections: () => backend.connections.size,
    close: () => backend.shutdown(),
  };
});
