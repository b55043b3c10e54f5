/**
 * A TLS server for the handshake bench: an ircsock TLS listener (`--kind
 * ircsock`) or a plain `node:tls` server (`--kind node`). Each answers a
 * finished handshake with one line, so the client knows the server side is
 * done too. Both serve the same key and certificate, TLS 1.3 only.
 */
import { copyFileSync, readFileSync, renameSync } from 'node:fs';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { Backend } from '../../src/index.js';
import { emitToParent, serveParent } from '../lib/child.js';

const { values } = parseArgs({
  options: { kind: { type: 'string' }, key: { type: 'string' }, cert: { type: 'string' }, orig: { type: 'string' }, alt: { type: 'string' } },
});
const kind = values.kind;
const keyPath = values.key as string;
const certPath = values.cert as string;
const LINE = ':bench NOTICE * :hello\r\n';
let handshakes = 0;
let failures = 0;

async function start(): Promise<{ port: number; close: () => Promise<void>; reload?: () => Promise<number> }> {
  if (kind === 'node') {
    // The same server settings as an ircsock listener's defaults: a client certificate asked for, not required.
    const server = tls.createServer({ key: readFileSync(keyPath), cert: readFileSync(certPath), minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: false });
    server.on('secureConnection', (s) => {
      handshakes++;
      s.on('error', () => undefined);
      s.end(LINE);
    });
    server.on('tlsClientError', () => failures++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    return { port, close: () => new Promise((resolve) => server.close(() => { resolve(); })) };
  }
  const backend = new Backend({ tls: { key: keyPath, cert: certPath, minVersion: 'TLSv1.3' } });
  backend.on('listenerOpen', (conn) => {
    handshakes++;
    backend.send({ source: 'bench', command: 'NOTICE', params: ['*', 'hello'] }, conn);
    backend.disconnect(conn);
  });
  backend.on('tlsClientError', () => failures++);
  const listener = await backend.createListener({ addr: '127.0.0.1', tls: true, admission: false, handshakeBudget: false });
  // Alternates between two pairs (`--orig DIR`, `--alt DIR`, each with key.pem and cert.pem), renamed into place as a renewal would.
  let flip = false;
  const reload = async (): Promise<number> => {
    flip = !flip;
    const from = (flip ? values.alt : values.orig) as string;
    for (const [name, to] of [['key.pem', keyPath], ['cert.pem', certPath]] as const) {
      copyFileSync(`${from}/${name}`, `${to}.tmp`);
      renameSync(`${to}.tmp`, to);
    }
    const started = performance.now();
    await backend.reloadTls();
    return performance.now() - started;
  };
  return { port: listener.port, close: () => backend.shutdown(), reload };
}

const server = await start();
let reloading: { timer: NodeJS.Timeout; times: number[]; failed: number } | undefined;
serveParent(
  {
    stats: () => ({ handshakes, failures, cpu: process.cpuUsage() }),
    startReloads: (msg) => {
      if (server.reload === undefined) throw new Error('only the ircsock server reloads');
      const every = Number(msg.every);
      const state = { timer: setInterval(() => {
        void (server.reload as () => Promise<number>)().then((ms) => state.times.push(ms), () => state.failed++);
      }, every), times: [] as number[], failed: 0 };
      reloading = state;
      return null;
    },
    stopReloads: () => {
      if (reloading === undefined) return { times: [], failed: 0 };
      clearInterval(reloading.timer);
      const { times, failed } = reloading;
      reloading = undefined;
      return { times, failed };
    },
  },
  () => server.close(),
);
emitToParent('ready', { port: server.port });
