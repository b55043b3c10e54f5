/**
 * A successor process for the hand-off tests: an echo backend that takes
 * over its parent's listeners and connections. Every input line comes back
 * as `ECHO <pid> <params...>`; adopted connections are counted in `ADOPTED`
 * messages to the parent. `HANDOFF_FIXTURE=crash` exits on the first adopted
 * connection, mid-hand-off; `=old-version` says hello in a version nobody speaks.
 */
import { Backend, receiveHandoff } from '../../src/index.js';

const mode = process.env.HANDOFF_FIXTURE ?? 'echo';

if (mode === 'old-version') {
  process.send?.({ protocol: 'ircsock-handoff', version: 999, t: 'hello' });
  process.on('message', (msg: { t?: string }) => {
    if (msg.t === 'refuse') process.exit(3);
  });
} else {
  const backend = new Backend();
  backend.on('input', (conn, msg) => {
    backend.send({ command: 'ECHO', params: [String(process.pid), msg.command, ...msg.params] }, conn);
  });
  backend.on('connectionAdopted', (conn, data) => {
    if (mode === 'crash') process.exit(1);
    backend.send({ command: 'ADOPTED', params: [String(process.pid), JSON.stringify(data), String(conn.linesIn)] }, conn);
  });
  const receiver = await receiveHandoff({ timeout: 10_000 });
  for (const inherited of receiver.listeners.values()) await backend.createListener({ inherit: inherited, admission: false });
  const result = await receiver.adopt(backend);
  process.send?.({ fixture: 'adopted', count: result.adopted, pid: process.pid });
  process.on('message', (msg: { fixture?: string }) => {
    if (msg.fixture === 'stop') void backend.shutdown().then(() => process.exit(0));
  });
}
