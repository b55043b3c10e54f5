import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IrcArgumentError, listenFds, notify } from '../../src/index.js';

test('listenFds: descriptors from 3, grouped by LISTEN_FDNAMES, and the variables removed', () => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: '42', LISTEN_FDS: '3', LISTEN_FDNAMES: 'irc:ircs:irc', KEEP: 'x' };
  const fds = listenFds(env, 42);
  assert.deepEqual([...fds], [['irc', [3, 5]], ['ircs', [4]]]);
  assert.deepEqual(env, { KEEP: 'x' });
});

test('listenFds: no names gives "unknown" for each, as sd_listen_fds_with_names does', () => {
  assert.deepEqual([...listenFds({ LISTEN_PID: '7', LISTEN_FDS: '2' }, 7)], [['unknown', [3, 4]]]);
});

test('listenFds: descriptors meant for another process (LISTEN_PID) are not ours, and are still unset', () => {
  const env: NodeJS.ProcessEnv = { LISTEN_PID: '8', LISTEN_FDS: '1' };
  assert.equal(listenFds(env, 9).size, 0);
  assert.deepEqual(env, {});
  assert.equal(listenFds({}, 9).size, 0);
});

test('listenFds: a LISTEN_FDS that is not a number is a typed error', () => {
  assert.throws(
    () => listenFds({ LISTEN_PID: '1', LISTEN_FDS: 'three' }, 1),
    (err: unknown) => err instanceof IrcArgumentError && err.code === 'ERR_INVALID_OPTION',
  );
});

test('notify: nobody to tell without NOTIFY_SOCKET; a bad state line is refused', async () => {
  assert.equal(await notify({ READY: 1 }, {}), false);
  assert.throws(() => notify({ 'bad key': 1 }, { NOTIFY_SOCKET: '/nonexistent' }), (err: unknown) => err instanceof IrcArgumentError);
});
