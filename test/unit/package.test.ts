import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../../src/index.js';

test('VERSION is the version in package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(VERSION, pkg.version);
});

test('the shipped declarations hide @internal members and type-check for a strict consumer without skipLibCheck', () => {
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const dir = mkdtempSync(path.join(tmpdir(), 'ircsock-dts-'));
  try {
    const out = path.join(dir, 'dist');
    execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', out], { stdio: 'pipe' });
    const conn = readFileSync(path.join(out, 'connection', 'connection.d.ts'), 'utf8');
    for (const name of ['enqueue', 'flush', 'compressNow', 'onReadable', 'onClose']) {
      assert.ok(!new RegExp(`^\\s+${name}\\(`, 'm').test(conn), `Connection.${name}() is internal and must not be in the .d.ts`);
    }
    const listener = readFileSync(path.join(out, 'listen', 'listener.d.ts'), 'utf8');
    assert.ok(!/\bserver:/.test(listener) && !/\bconfig:/.test(listener), 'Listener.server and .config are internal');
    const consumer = path.join(dir, 'consumer.ts');
    writeFileSync(
      consumer,
      [
        `import { Backend, Connection, Listener, parseLine } from ${JSON.stringify(path.join(out, 'index.js'))};`,
        'const b = new Backend();',
        "b.on('listenerOpen', (c: Connection, l: Listener) => { const k: string = c.kind + l.kind + c.peerAddr; void k; });",
        "void parseLine('PING x').command;",
      ].join('\n'),
    );
    execFileSync(
      process.execPath,
      [tsc, '--strict', '--noEmit', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--types', 'node', '--typeRoots', path.join(root, 'node_modules', '@types'), consumer],
      { stdio: 'pipe' },
    );
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    assert.fail(`${String(err)}\n${e.stdout?.toString() ?? ''}${e.stderr?.toString() ?? ''}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
