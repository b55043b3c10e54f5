/**
 * The server side of the hand-off bench: an echo backend. Run by the bench
 * as the old process, it reports its port, and on `{ cmd: 'handoff' }` forks
 * itself as the successor (IRCSOCK_HANDOFF=1), hands everything over,
 * reports the result and exits. As the successor it takes over and reports
 * its pid to the bench through the old process's output line.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Backend, handOff, isHandoffSuccessor, receiveHandoff } from '../../src/index.js';

const backend = new Backend();
backend.on('input', (conn, msg) => {
  backend.send({ command: 'PONG', params: msg.params }, conn);
});

if (isHandoffSuccessor()) {
  const receiver = await receiveHandoff({ timeout: 60_000 });
  for (const inherited of receiver.listeners.values()) await backend.createListener({ inherit: inherited, admission: false, idle: 0 });
  await receiver.adopt(backend);
  process.on('SIGTERM', () => {
    void backend.shutdown('bench over', { timeout: 2_000 }).then(() => process.exit(0));
  });
} else {
  const listener = await backend.createListener({ addr: '127.0.0.1', port: 0, admission: false, idle: 0 });
  process.send?.({ port: listener.port });
  process.on('message', (msg: { cmd?: string }) => {
    if (msg.cmd !== 'handoff') return;
    const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, IRCSOCK_HANDOFF: '1' }, stdio: 'inherit' });
    const started = performance.now();
    handOff(backend, child, { timeout: 120_000 }).then(
      (result) => {
        const whole = performance.now() - started;
        process.send?.({ moved: result.moved, staying: result.staying.length, elapsed: result.elapsed, whole, successor: child.pid });
        if (child.connected) child.disconnect();
        child.unref();
        process.disconnect();
      },
      (err: unknown) => {
        process.send?.({ error: err instanceof Error ? err.message : String(err) });
        child.kill('SIGKILL');
        process.exit(1);
      },
    );
  });
}
