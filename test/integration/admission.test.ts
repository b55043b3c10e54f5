/**
 * Admission control over real loopback sockets (issue 6, item 1): CIDR deny
 * and allow lists, connections per IP and in total, the accept-rate throttle,
 * counts released when connections end, IPv6 and IPv4-mapped addresses, one
 * `Admission` shared by two listeners, the async `check` hook, and refusals
 * on a TLS listener before any handshake.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { Backend, type ConnectionRefusal, type ListenerOptions } from '../../src/backend.js';
import type { Connection } from '../../src/connection/connection.js';
import type { Listener } from '../../src/listen/listener.js';
import { Admission } from '../../src/admission/admission.js';
import { countEvents, hasIPv6, LineClient, once, times, until } from '../helpers/net.js';
import { trackedBackends } from '../helpers/backends.js';
import { localhostCert } from '../helpers/tls-cert.js';

const cert = localhostCert();
after(() => {
  cert.cleanup();
});

const newBackend = trackedBackends();

/** `Promise.withResolvers`, which Node 20 lacks. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const ERROR_LINE = /^ERROR :Closing link: (\S+) \((.+)\)$/;

/** A listener on `addr` with the given options; the connection counter is checked at the end by each test. */
async function listen(backend: Backend, opts: ListenerOptions = {}, addr = '127.0.0.1'): Promise<Listener> {
  return backend.createListener({ addr, ...opts });
}

/** Connects and waits until the backend has admitted the peer; resolves with both ends. */
async function admitted(backend: Backend, listener: Listener, host = '127.0.0.1'): Promise<{ client: LineClient; conn: Connection }> {
  const opened = once(backend, 'listenerOpen', { filter: (_c, l) => l === listener });
  const client = await LineClient.connect(listener.port, host);
  const [conn] = await opened;
  return { client, conn };
}

/**
 * Connects and waits to be turned away: resolves with the refusal event and
 * every line the client received before the socket closed.
 */
async function refused(backend: Backend, listener: Listener, host = '127.0.0.1'): Promise<{ refusal: ConnectionRefusal; lines: string[] }> {
  const event = once(backend, 'connectionRefused', { filter: (r) => r.listener === listener });
  const client = await LineClient.connect(listener.port, host);
  const [refusal] = await event;
  await client.waitClosed();
  return { refusal, lines: client.lines };
}

/** One line from the client reaches the backend as `input` on `conn`: the connection is alive. */
async function alive(backend: Backend, client: LineClient, conn: Connection, text = 'still here'): Promise<void> {
  const input = once(backend, 'input', { filter: (c) => c === conn });
  client.write(`PRIVMSG #t :${text}`);
  const [, msg] = await input;
  assert.deepEqual(msg.params, ['#t', text]);
}

/** Closes the clients and waits for the backend to see every one of them go. */
async function closeAll(backend: Backend, clients: LineClient[]): Promise<void> {
  const gone = times(backend, 'disconnect', clients.length);
  for (const c of clients) c.socket.destroy();
  await gone;
}

test('deny: the peer gets exactly one ERROR line, the socket closes, connectionRefused says who and why', async () => {
  const backend = newBackend();
  const { counts } = countEvents(backend, ['listenerOpen', 'connectionRefused', 'tlsClientError']);
  const listener = await listen(backend, { admission: { deny: ['127.0.0.0/8'] } });
  const { refusal, lines } = await refused(backend, listener);

  assert.equal(refusal.code, 'ERR_DENIED');
  assert.equal(refusal.listener, listener);
  assert.equal(refusal.addr, '127.0.0.1');
  assert.ok(refusal.port > 0);
  assert.equal(typeof refusal.reason, 'string');
  assert.equal(lines.length, 1, 'exactly one line before the close');
  const m = ERROR_LINE.exec(lines[0] ?? '');
  assert.ok(m, `an ERROR line: ${lines[0] ?? ''}`);
  assert.equal(m[1], '127.0.0.1');
  assert.equal(m[2], refusal.reason);
  assert.equal(counts.listenerOpen, 0);
  assert.equal(backend.connections.size, 0);
  assert.equal(listener.admission?.activeCount, 0, 'a refused peer is not counted');
  await backend.shutdown();
});

test('deny: a peer that sends its registration before it is refused still reads the ERROR line', async () => {
  const backend = newBackend();
  const listener = await listen(backend, { admission: { deny: ['127.0.0.1'] } });
  const event = once(backend, 'connectionRefused');
  const socket = net.connect({ host: '127.0.0.1', port: listener.port });
  socket.on('error', () => {
    // A reset after the ERROR line is allowed; the line must still have arrived.
  });
  socket.write('NICK a\r\nUSER a 0 * :a\r\n'.repeat(50));
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  await once(socket, 'close');
  const [refusal] = await event;
  assert.equal(refusal.code, 'ERR_DENIED');
  assert.match(text, /^ERROR :Closing link: 127\.0\.0\.1 \(.+\)\r\n$/);
  await backend.shutdown();
});

test('allow: outside the list is ERR_NOT_ALLOWED; inside is admitted; deny wins inside an allowed range', async () => {
  const backend = newBackend();
  const elsewhere = await listen(backend, { admission: { allow: ['10.0.0.0/8', '2001:db8::/32'] } });
  const { refusal } = await refused(backend, elsewhere);
  assert.equal(refusal.code, 'ERR_NOT_ALLOWED');

  const local = await listen(backend, { admission: { allow: ['127.0.0.0/8'] } });
  const { client, conn } = await admitted(backend, local);
  await alive(backend, client, conn);

  const banned = await listen(backend, { admission: { allow: ['127.0.0.0/8'], deny: ['127.0.0.1/32'] } });
  assert.equal((await refused(backend, banned)).refusal.code, 'ERR_DENIED');

  await closeAll(backend, [client]);
  await backend.shutdown();
});

test('maxPerIp: loopback is exempt by default; with exempt: [] the next connection is ERR_TOO_MANY_PER_IP', async () => {
  const backend = newBackend();
  const exempt = await listen(backend, { admission: { maxPerIp: 1 } });
  const a = await admitted(backend, exempt);
  const b = await admitted(backend, exempt);
  const c = await admitted(backend, exempt);
  assert.equal(exempt.admission?.activeCount, 3);

  const strict = await listen(backend, { admission: { maxPerIp: 2, exempt: [] } });
  const d = await admitted(backend, strict);
  const e = await admitted(backend, strict);
  const { refusal, lines } = await refused(backend, strict);
  assert.equal(refusal.code, 'ERR_TOO_MANY_PER_IP');
  assert.equal(lines.length, 1);
  assert.match(lines[0] ?? '', ERROR_LINE);
  assert.equal(strict.admission?.activeCount, 2);
  assert.equal(strict.admission.connectionsOf('127.0.0.1'), 2);
  // The admitted ones are untouched by the refusal.
  await alive(backend, d.client, d.conn);
  await alive(backend, e.client, e.conn);

  await closeAll(backend, [a.client, b.client, c.client, d.client, e.client]);
  await backend.shutdown();
});

test('maxTotal: a full listener refuses with ERR_TOO_MANY_TOTAL, loopback included', async () => {
  const backend = newBackend();
  const listener = await listen(backend, { admission: { maxTotal: 2 } });
  const a = await admitted(backend, listener);
  const b = await admitted(backend, listener);
  assert.equal((await refused(backend, listener)).refusal.code, 'ERR_TOO_MANY_TOTAL');
  await alive(backend, a.client, a.conn);
  await closeAll(backend, [a.client, b.client]);
  await backend.shutdown();
});

test('throttle: N connections per window, counted per attempt, even after the first ones closed', async () => {
  const backend = newBackend();
  const listener = await listen(backend, { admission: { exempt: [], throttle: { connections: 2, windowMs: 60_000 } } });
  const a = await admitted(backend, listener);
  await closeAll(backend, [a.client]);
  const b = await admitted(backend, listener);
  await closeAll(backend, [b.client]);
  const { refusal } = await refused(backend, listener);
  assert.equal(refusal.code, 'ERR_THROTTLED');
  assert.equal(listener.admission?.activeCount, 0);
  // Another listener (its own Admission) is not affected.
  const other = await listen(backend, { admission: { exempt: [] } });
  const c = await admitted(backend, other);
  await closeAll(backend, [c.client]);
  await backend.shutdown();
});

test('release on close: after the clients leave, new ones are admitted again and activeCount is back to 0', async () => {
  const backend = newBackend();
  const listener = await listen(backend, { admission: { exempt: [], maxPerIp: 2, throttle: false } });
  const admission = listener.admission;
  assert.ok(admission !== undefined);
  for (let round = 0; round < 3; round++) {
    const a = await admitted(backend, listener);
    const b = await admitted(backend, listener);
    assert.equal(admission.activeCount, 2);
    assert.equal((await refused(backend, listener)).refusal.code, 'ERR_TOO_MANY_PER_IP');
    // One leaves by its own close, one is disconnected by the backend.
    const gone = times(backend, 'disconnect', 2);
    a.client.socket.destroy();
    backend.disconnect(b.conn, 'bye');
    await gone;
    assert.equal(admission.activeCount, 0, `round ${round}`);
    assert.equal(admission.keyCount, 0);
    await b.client.waitClosed();
  }
  await backend.shutdown();
});

test('IPv6: deny ::1, per-IP limit on ::1, and an IPv4-mapped peer on a dual-stack listener counts as IPv4', async (t) => {
  if (!(await hasIPv6())) {
    t.skip('no IPv6 on this machine');
    return;
  }
  const backend = newBackend();
  const denied = await listen(backend, { admission: { deny: ['::1/128'] } }, '::1');
  const r = await refused(backend, denied, '::1');
  assert.equal(r.refusal.code, 'ERR_DENIED');
  assert.equal(r.refusal.addr, '::1');
  assert.match(r.lines[0] ?? '', /^ERROR :Closing link: ::1 \(.+\)$/);

  const limited = await listen(backend, { admission: { exempt: [], maxPerIp: 1 } }, '::1');
  const a = await admitted(backend, limited, '::1');
  assert.equal(a.conn.family, 6);
  assert.equal((await refused(backend, limited, '::1')).refusal.code, 'ERR_TOO_MANY_PER_IP');
  await alive(backend, a.client, a.conn);

  // A '::' listener is dual-stack where the system allows it; a 127.0.0.1 peer then shows up as ::ffff:127.0.0.1.
  let dual: Listener | undefined;
  try {
    dual = await backend.createListener({ addr: '::', admission: { deny: ['127.0.0.1'] } });
  } catch {
    dual = undefined;
  }
  if (dual !== undefined) {
    const probe = net.connect({ host: '127.0.0.1', port: dual.port });
    const reachable = await new Promise<boolean>((resolve) => {
      probe.once('connect', () => {
        resolve(true);
      });
      probe.once('error', () => {
        resolve(false);
      });
    });
    probe.destroy();
    if (reachable) {
      const m = await refused(backend, dual, '127.0.0.1');
      assert.equal(m.refusal.code, 'ERR_DENIED', 'IPv4-mapped IPv6 matches the IPv4 deny entry');
    }
  }
  await closeAll(backend, [a.client]);
  await backend.shutdown();
});

test('one Admission shared by two listeners: one set of counts', async () => {
  const backend = newBackend();
  const shared = new Admission({ exempt: [], maxPerIp: 2 });
  const one = await listen(backend, { admission: shared });
  const two = await listen(backend, { admission: shared });
  assert.equal(one.admission, shared);
  assert.equal(two.admission, shared);
  const a = await admitted(backend, one);
  const b = await admitted(backend, two);
  assert.equal(shared.activeCount, 2);
  assert.equal((await refused(backend, one)).refusal.code, 'ERR_TOO_MANY_PER_IP');
  assert.equal((await refused(backend, two)).refusal.code, 'ERR_TOO_MANY_PER_IP');
  await closeAll(backend, [a.client]);
  assert.equal(shared.activeCount, 1);
  const c = await admitted(backend, two);
  assert.equal(shared.activeCount, 2);
  await closeAll(backend, [b.client, c.client]);
  assert.equal(shared.activeCount, 0);
  await backend.shutdown();
});

test('check hook: true admits (after the built-in limits), a string refuses with that reason, false refuses', async () => {
  const backend = newBackend();
  const seen: { addr: string; port: number; listener: Listener }[] = [];
  let verdict: boolean | string = true;
  const listener = await listen(backend, {
    check: async (req) => {
      seen.push(req);
      await Promise.resolve();
      return verdict;
    },
  });
  const a = await admitted(backend, listener);
  assert.equal(seen.length, 1);
  const req = seen[0]!;
  assert.equal(req.addr, '127.0.0.1');
  assert.equal(req.port, a.conn.peerPort);
  assert.equal(req.listener, listener);
  await alive(backend, a.client, a.conn);

  verdict = 'Listed in dnsbl.example';
  const r = await refused(backend, listener);
  assert.equal(r.refusal.code, 'ERR_CHECK_REFUSED');
  assert.equal(r.refusal.reason, 'Listed in dnsbl.example');
  assert.deepEqual(r.lines, ['ERROR :Closing link: 127.0.0.1 (Listed in dnsbl.example)']);

  verdict = false;
  assert.equal((await refused(backend, listener)).refusal.code, 'ERR_CHECK_REFUSED');
  assert.equal(listener.admission?.activeCount, 1, 'refused by the hook: released at once');

  // The hook is not asked about a peer the built-in limits refused.
  const denied = await listen(backend, {
    admission: { deny: ['127.0.0.1'] },
    check: () => {
      assert.fail('check called for a denied peer');
    },
  });
  assert.equal((await refused(backend, denied)).refusal.code, 'ERR_DENIED');
  await closeAll(backend, [a.client]);
  await backend.shutdown();
});

test('check hook that throws or rejects: ERR_CHECK_FAILED, listenerFailure, and the listener keeps serving', async () => {
  const backend = newBackend();
  let mode: 'throw' | 'reject' | 'null' | 'ok' = 'throw';
  const boom = Object.assign(new Error('resolver down'), { code: 'ESERVFAIL' });
  const listener = await listen(backend, {
    // Typed as the hook is; a JavaScript hook may return anything, null included.
    check: (() => {
      if (mode === 'throw') throw boom;
      if (mode === 'reject') return Promise.reject(boom);
      if (mode === 'null') return null;
      return Promise.resolve(true);
    }) as ListenerOptions['check'],
  });
  for (const m of ['throw', 'reject'] as const) {
    mode = m;
    const failure = once(backend, 'listenerFailure');
    const r = await refused(backend, listener);
    assert.equal(r.refusal.code, 'ERR_CHECK_FAILED', m);
    assert.equal(r.lines.length, 1);
    assert.match(r.lines[0] ?? '', ERROR_LINE);
    const [l, err] = await failure;
    assert.equal(l, listener);
    assert.equal(err, boom);
  }
  // A hook returning null is a refusal, not a crash of the accept path.
  mode = 'null';
  assert.equal((await refused(backend, listener)).refusal.code, 'ERR_CHECK_REFUSED');

  mode = 'ok';
  const a = await admitted(backend, listener);
  await alive(backend, a.client, a.conn);
  assert.equal(listener.admission?.activeCount, 1);
  await closeAll(backend, [a.client]);
  await backend.shutdown();
});

test('check hook pending: lines the peer sends meanwhile are dispatched, in order, once admitted', async () => {
  const backend = newBackend();
  let release: (v: boolean) => void = () => undefined;
  const asked = deferred();
  const listener = await listen(backend, {
    check: () =>
      new Promise<boolean>((resolve) => {
        release = resolve;
        asked.resolve();
      }),
  });
  const { counts } = countEvents(backend, ['listenerOpen', 'input']);
  const client = await LineClient.connect(listener.port);
  await asked.promise;
  const lines = Array.from({ length: 20 }, (_, i) => `PRIVMSG #t :early ${i}`);
  await new Promise<void>((resolve) => {
    client.socket.write(lines.map((l) => l + '\r\n').join(''), () => {
      resolve();
    });
  });
  assert.equal(counts.listenerOpen, 0, 'nothing opens while the hook is pending');
  assert.equal(counts.input, 0);
  const inputs = times(backend, 'input', 20);
  release(true);
  const got = await inputs;
  assert.deepEqual(
    got.map(([, msg]) => msg.params[1]),
    lines.map((_, i) => `early ${i}`),
  );
  await closeAll(backend, [client]);
  await backend.shutdown();
});

test('check hook pending: the peer leaving meanwhile is no refusal and no connection; shutdown does not wait for the hook', async () => {
  const backend = newBackend();
  const { counts } = countEvents(backend, ['listenerOpen', 'connectionRefused', 'disconnect']);
  let asked = deferred();
  let release: (v: boolean) => void = () => undefined;
  const listener = await listen(backend, {
    check: () =>
      new Promise<boolean>((resolve) => {
        release = resolve;
        asked.resolve();
      }),
  });
  const gone = await LineClient.connect(listener.port);
  await asked.promise;
  await gone.destroy();
  release(true);
  await new Promise((resolve) => setImmediate(resolve));
  // The server may not have read the FIN yet when the hook answers: then the connection opens and ends at once.
  await until(backend, 'disconnect', () => backend.connections.size === 0);
  assert.equal(counts.disconnect, counts.listenerOpen);
  assert.equal(counts.connectionRefused, 0);
  const opens = counts.listenerOpen;

  // A hook that never settles must not hold shutdown up.
  asked = deferred();
  const stuck = await LineClient.connect(listener.port);
  await asked.promise;
  await backend.shutdown();
  await stuck.waitClosed();
  assert.equal(counts.listenerOpen, opens, 'the stuck peer never opened');
  assert.equal(listener.admission?.activeCount, 0);
});

test('TLS listener: a refused peer is dropped before the handshake; no tlsClientError echo; the listener keeps serving', async () => {
  const backend = newBackend({ tls: { key: cert.key, cert: cert.cert } });
  const { counts } = countEvents(backend, ['tlsClientError', 'listenerOpen']);
  const listener = await listen(backend, { tls: true, admission: { exempt: [], maxPerIp: 1 } });
  const opened = once(backend, 'listenerOpen');
  const good = await backend.createConnector({ addr: '127.0.0.1', port: listener.port, tls: { ca: cert.cert } });
  const [server] = await opened;

  const event = once(backend, 'connectionRefused');
  const bad = tls.connect({ host: '127.0.0.1', port: listener.port, ca: cert.cert });
  let secured = false;
  bad.on('secureConnect', () => {
    secured = true;
  });
  bad.on('error', () => {
    // ECONNRESET or similar: the server closed before answering the ClientHello.
  });
  const [refusal] = await event;
  await once(bad, 'close');
  assert.equal(refusal.code, 'ERR_TOO_MANY_PER_IP');
  assert.equal(secured, false, 'no handshake for a refused peer');
  assert.equal(listener.admission?.activeCount, 1);

  // The healthy TLS connection is untouched.
  const input = once(backend, 'input');
  backend.send({ command: 'PING', params: ['tls'] }, good);
  const [at, msg] = await input;
  assert.equal(at, server);
  assert.equal(msg.command, 'PING');

  // Let any echo of the refusal surface before counting.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(counts.tlsClientError, 0);
  assert.equal(counts.listenerOpen, 1);
  const gone = once(backend, 'disconnect', { filter: (c) => c === server });
  backend.disconnect(good);
  await gone;
  assert.equal(listener.admission.activeCount, 0, 'a TLS connection releases its count when it ends');
  await backend.shutdown();
});

test('TLS listener: the check hook runs after the handshake; a refusal closes that peer alone', async () => {
  const backend = newBackend({ tls: { key: cert.key, cert: cert.cert } });
  let verdict: boolean | string = 'No';
  const listener = await listen(backend, { tls: true, check: () => Promise.resolve(verdict) });
  const event = once(backend, 'connectionRefused');
  const disc = once(backend, 'disconnect');
  const attempt = backend.createConnector({ addr: '127.0.0.1', port: listener.port, tls: { ca: cert.cert } });
  const [refusal] = await event;
  assert.equal(refusal.code, 'ERR_CHECK_REFUSED');
  // The client's side of the handshake was done before the hook refused: it connects and is then closed.
  const conn = await attempt;
  const [gone] = await disc;
  assert.equal(gone, conn);

  verdict = true;
  const opened = once(backend, 'listenerOpen');
  const good = await backend.createConnector({ addr: '127.0.0.1', port: listener.port, tls: { ca: cert.cert } });
  const [server] = await opened;
  assert.ok(server.tls !== undefined);
  assert.equal(backend.connections.size, 2);
  backend.disconnect(good);
  await backend.shutdown();
  assert.equal(listener.admission?.activeCount, 0);
});
