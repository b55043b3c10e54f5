// A tiny IRC client: registers, joins a channel, says hello, and answers PING.
import { Backend } from '../src/index.js';

const [host = '127.0.0.1', port = '6667'] = process.argv.slice(2);
const backend = new Backend();

backend.on('input', (conn, msg) => {
  console.log(msg.raw);
  if (msg.command === 'PING') backend.send({ command: 'PONG', params: msg.params }, conn);
  if (msg.command === '001') {
    backend.send({ command: 'JOIN', params: ['#ircsock'] }, conn);
    backend.send({ command: 'PRIVMSG', params: ['#ircsock', 'hello from ircsock'] }, conn);
  }
});

backend.on('disconnect', (_conn, reason) => {
  console.log(`disconnected: ${reason}`);
  void backend.shutdown();
});

try {
  const conn = await backend.createConnector({ addr: host, port: Number(port), timeout: 10_000 });
  backend.send({ command: 'NICK', params: ['ircsock'] }, conn);
  backend.send({ command: 'USER', params: ['ircsock', '0', '*', 'ircsock example'] }, conn);
} catch (err) {
  console.error(`cannot connect: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  process.exitCode = 1;
  await backend.shutdown();
}
