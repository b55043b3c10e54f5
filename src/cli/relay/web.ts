/**
 * The relay's web chat page: four static files from the package's `web/`
 * folder, served by the WebSocket listeners to plain HTTP requests (the
 * `websocket.onRequest` hook). Only those fixed names are served; every other
 * path is a 404, so no request can reach any other file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** URL path → file in `web/` and its content type. */
const PAGES: ReadonlyMap<string, { file: string; type: string }> = new Map([
  ['/', { file: 'index.html', type: 'text/html; charset=utf-8' }],
  ['/chat.js', { file: 'chat.js', type: 'text/javascript; charset=utf-8' }],
  ['/chat.css', { file: 'chat.css', type: 'text/css; charset=utf-8' }],
  ['/favicon.svg', { file: 'favicon.svg', type: 'image/svg+xml' }],
]);

/**
 * The page runs its own script and stylesheet only and talks to its own
 * origin only (`'self'` covers ws:// and wss:// to the same host); nothing
 * else loads, nothing frames it.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const COMMON_HEADERS = {
  // One request per connection: a page load's kept-alive socket would otherwise sit in
  // the listener's upgrade stage until its deadline, and be logged as a refusal.
  Connection: 'close',
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const;

/**
 * The `web/` folder of the ircsock package: found by walking up from this
 * module to the `package.json` named `ircsock` — this file runs from `dist/`
 * (the installed package, `npm start`) and from `build/src/` (the tests).
 * `undefined` when the folder is not there.
 */
export function findWebRoot(from: string = fileURLToPath(import.meta.url)): string | undefined {
  let dir = path.dirname(from);
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && packageName(manifest) === 'ircsock') {
      const web = path.join(dir, 'web');
      return existsSync(path.join(web, 'index.html')) ? web : undefined;
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

function packageName(manifest: string): unknown {
  try {
    return (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name;
  } catch {
    return undefined;
  }
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The handler for `websocket.onRequest`: `GET /` (the page), `/chat.js`,
 * `/chat.css`, `/favicon.svg`; `HEAD` as well. The files are read on each request (they are
 * small, and an edited page shows on reload). Without a `web/` folder every
 * request is a 404 saying so; WebSocket clients are not affected.
 */
export function createPageHandler(root: string | undefined = findWebRoot()): RequestHandler {
  return (req, res) => {
    void answer(root, req, res);
  };
}

async function answer(root: string | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  // The query string is not part of the name: `/?nick=x` is the page.
  const url = req.url ?? '/';
  const cut = url.search(/[?#]/);
  const page = PAGES.get(cut < 0 ? url : url.slice(0, cut));
  if (method !== 'GET' && method !== 'HEAD') {
    send(res, 405, 'text/plain; charset=utf-8', 'Method Not Allowed\n', method, { Allow: 'GET, HEAD' });
    return;
  }
  if (page === undefined) {
    send(res, 404, 'text/plain; charset=utf-8', 'Not Found\n', method);
    return;
  }
  if (root === undefined) {
    send(res, 404, 'text/plain; charset=utf-8', 'Not Found: this ircsock has no web/ folder\n', method);
    return;
  }
  let body: Buffer;
  try {
    body = await readFile(path.join(root, page.file));
  } catch {
    send(res, 500, 'text/plain; charset=utf-8', 'Internal Server Error\n', method);
    return;
  }
  send(res, 200, page.type, body, method, { 'Content-Security-Policy': CSP });
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  method: string,
  extra: Record<string, string> = {},
): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(status, {
    ...COMMON_HEADERS,
    ...extra,
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(method === 'HEAD' ? undefined : body);
}
