/**
 * The relay's web chat page in a real browser: Debian's chromium, driven
 * headless by playwright-core pointed at the system binary (playwright-core
 * never downloads a browser). The page registers over the IRCv3 WebSocket
 * extension, joins a channel and exchanges UTF-8 lines (non-ASCII and emoji)
 * with a raw TCP client in the same relay channel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { startRelay } from '../../src/cli/relay/server.js';
import { createPageHandler, findWebRoot } from '../../src/cli/relay/web.js';
import { LineClient } from '../helpers/net.js';
import { rawHttp, trackPeers } from '../helpers/ws.js';

trackPeers();

/** The system browser: `CHROMIUM` in the environment, or Debian's path. */
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const noBrowser = existsSync(CHROMIUM) ? false : `no chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM=/path/to/chromium)`;

/** Flags for a quiet, self-contained headless run: no network of its own, nothing from an earlier profile. */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const utf8 = (latin1Line: string): string => Buffer.from(latin1Line, 'latin1').toString('utf8');

async function lineMatching(c: LineClient, pred: (l: string) => boolean): Promise<string> {
  for (;;) {
    const found = c.lines.map(utf8).find(pred);
    if (found !== undefined) return found;
    await c.waitLines(c.lines.length + 1);
  }
}

test('the web/ folder is found and served: page, script and stylesheet with a CSP; other paths are 404', async (t) => {
  const root = findWebRoot();
  assert.ok(root !== undefined, 'web/index.html is in the repository (and shipped: package.json files)');
  const relay = await startRelay({ wsListen: [{ host: '127.0.0.1', port: 0 }], idle: 0 });
  t.after(() => relay.close());
  const port = relay.ports[0] as number;
  for (const [url, type] of [
    ['/', 'text/html'],
    ['/chat.js', 'text/javascript'],
    ['/chat.css', 'text/css'],
  ] as const) {
    const r = await rawHttp(port, `GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await r.waitClosed();
    assert.equal(r.status, 200, url);
    assert.match(r.text, new RegExp(`content-type: ${type}`, 'i'));
    assert.match(r.text, /content-security-policy: default-src 'none'; script-src 'self'/i);
  }
  const missing = await rawHttp(port, 'GET /../package.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  await missing.waitClosed();
  assert.equal(missing.status, 404);
  assert.equal(typeof createPageHandler(root), 'function');
});

test('in chromium: the page registers, joins, shows the members and exchanges UTF-8 lines with a TCP client', { skip: noBrowser, timeout: 30_000 }, async (t) => {
  const relay = await startRelay({ listen: [{ host: '127.0.0.1', port: 0 }], wsListen: [{ host: '127.0.0.1', port: 0 }], idle: 0 });
  t.after(() => relay.close());
  const [tcpPort, wsPort] = relay.ports as [number, number];

  const tcp = await LineClient.connect(tcpPort);
  t.after(() => tcp.destroy());
  tcp.write('NICK irssi', 'USER i 0 * :irssi user', 'JOIN #lobby');
  await lineMatching(tcp, (l) => / 366 irssi #lobby /.test(l));

  const profile = mkdtempSync(path.join(tmpdir(), 'ircsock-chromium-'));
  // One hook, so the browser is closed before its profile is removed.
  const held: { context?: BrowserContext } = {};
  t.after(async () => {
    await held.context?.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 15_000 });
  held.context = context;
  const page = context.pages()[0] ?? (await context.newPage());
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });

  await page.goto(`http://127.0.0.1:${wsPort}/?nick=webber&channel=%23lobby`);
  assert.equal(await page.locator('#status').getAttribute('data-state'), 'disconnected');
  await page.click('#connect-button');
  await page.locator('#status[data-state="connected"]').filter({ hasText: '#lobby' }).waitFor({ timeout: 10_000 });
  // The member list: both nicks, from NAMES and JOIN.
  await page.locator('#members li', { hasText: 'irssi' }).waitFor();
  await page.locator('#members li', { hasText: 'webber' }).waitFor();
  assert.equal(await page.locator('#member-count').textContent(), '2');
  await lineMatching(tcp, (l) => l.startsWith(':webber!') && l.includes(' JOIN '));

  // TCP → browser: non-ASCII and an emoji, shown with the server-time timestamp.
  tcp.socket.write(Buffer.from('PRIVMSG #lobby :Grüße aus dem Terminal 🎉\r\n', 'utf8'));
  const row = page.locator('#messages li.privmsg', { hasText: 'Grüße aus dem Terminal 🎉' });
  await row.waitFor();
  assert.equal(await row.locator('.nick').textContent(), 'irssi');
  assert.match((await row.locator('time').getAttribute('title')) ?? '', /^server-time \d{4}-/);

  // Browser → TCP.
  await page.fill('#line', 'Hallo aus Chromium — ñandú 🦤');
  await page.press('#line', 'Enter');
  const got = await lineMatching(tcp, (l) => l.includes('PRIVMSG #lobby'));
  assert.equal(got, ':webber!~web@127.0.0.1 PRIVMSG #lobby :Hallo aus Chromium — ñandú 🦤');
  // echo-message: the page shows its own line once, as the server sent it back.
  await page.locator('#messages li.privmsg', { hasText: 'ñandú 🦤' }).waitFor();
  assert.equal(await page.locator('#messages li.privmsg', { hasText: 'ñandú 🦤' }).count(), 1);

  // A line that looks like markup stays text.
  tcp.write('PRIVMSG #lobby :<img src=x onerror=alert(1)><b>bold</b>');
  await page.locator('#messages li.privmsg', { hasText: '<b>bold</b>' }).waitFor();
  assert.equal(await page.locator('#messages img, #messages b').count(), 0);

  // The TCP user leaves: the member list follows.
  tcp.write('PART #lobby :bye');
  await page.locator('#members li', { hasText: 'irssi' }).waitFor({ state: 'detached' });

  await page.click('#disconnect-button');
  await page.locator('#status[data-state="disconnected"]').waitFor();
  assert.deepEqual(errors, []);
});
