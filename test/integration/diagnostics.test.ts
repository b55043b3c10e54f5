import assert from 'node:assert/strict';
import diagnostics_channel from 'node:diagnostics_channel';
import net from 'node:net';
import { test } from 'node:test';
import { Backend } from '../../src/index.js';
import { once } from '../helpers/net.js';

test('connections are traced on diagnostics channels', async () => {
  const seen: string[] = [];
  const onOpen = (): void => {
    seen.push('open');
  };
  const onError = (msg: unknown): void => {
    seen.push(`error:${(msg as { error: { code: string } }).error.code}`);
  };
  const onClose = (msg: unknown): void => {
    seen.push(`close:${(msg as { reason: string }).reason}`);
  };
  diagnostics_channel.subscribe('ircsock:connection:open', onOpen);
  diagnostics_channel.subscribe('ircsock:input:error', onError);
  diagnostics_channel.subscribe('ircsock:connection:close', onClose);
  try {
    const backend = new Backend();
    const listener = await backend.createListener({ addr: '127.0.0.1' });
    const opened = once(backend, 'listenerOpen');
    const client = net.connect(listener.port, '127.0.0.1');
    const [conn] = await opened;
    const bad = once(backend, 'inputError');
    client.write(':only-a-source\r\n');
    await bad;
    const gone = once(backend, 'disconnect');
    backend.disconnect(conn, 'bye');
    await gone;
    client.destroy();
    await backend.shutdown();
    assert.deepEqual(seen, ['open', 'error:ERR_IRC_PARSE', 'close:bye']);
  } finally {
    diagnostics_channel.unsubscribe('ircsock:connection:open', onOpen);
    diagnostics_channel.unsubscribe('ircsock:input:error', onError);
    diagnostics_channel.unsubscribe('ircsock:connection:close', onClose);
  }
});
