// A tiny IRC-ish server: answers PING, echoes PRIVMSG to everyone else,
// pings idle clients and drops the ones that do not answer.
import { Backend } from '../src/index.js';

const backend = new Backend();

backend.on('listenerOpen', (conn) => {
  conn.isClient = true;
  console.log(`+ ${conn.id} ${conn.peerAddr}:${conn.peerPort}`);
});

backend.on('input', (conn, msg) => {
  switch (msg.command) {
    case 'PING':
      backend.send({ source: 'irc.example', command: 'PONG', params: ['irc.example', ...msg.params] }, conn);
      break;
    case 'PONG':
      conn.pingPending = false;
      break;
    case 'PRIVMSG': {
      const others = [...backend.connections.values()].filter((c) => c !== conn);
      // Formatted once, the same bytes queued to every other connection.
      backend.send({ source: `user${conn.id}`, command: 'PRIVMSG', params: msg.params }, ...others);
      break;
    }
    case 'QUIT':
      backend.send({ command: 'ERROR', params: ['Closing link'] }, conn);
      backend.disconnect(conn, 'Quit');
      break;
  }
});

backend.on('inputError', (conn, err) => {
  if (err.code === 'ERR_LINE_TOO_LONG') {
    backend.send({ source: 'irc.example', command: '417', params: ['*', 'Input line was too long'] }, conn);
  }
});

backend.on('connectionIdle', (conn) => {
  if (conn.pingPending) {
    backend.disconnect(conn, 'Ping timeout');
    return;
  }
  conn.pingPending = true;
  backend.send({ command: 'PING', params: ['irc.example'] }, conn);
});

backend.on('disconnect', (conn, reason) => {
  console.log(`- ${conn.id} ${reason}`);
});

const listener = await backend.createListener({ addr: '127.0.0.1', port: 6667, idle: 60_000 });
console.log(`listening on ${listener.addr}:${listener.port}`);

process.once('SIGINT', () => {
  void backend.shutdown('Server shutting down');
});
