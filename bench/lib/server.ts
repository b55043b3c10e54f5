/** The parent side of a server under test (see `bench/servers/`). */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startChild, type BenchChild, type ChildOptions } from './child.js';
import type { ServerStats } from '../servers/harness.js';

export type { ServerStats } from '../servers/harness.js';

/**
 * How the load generator reaches the server:
 * - `tcp`: 127.0.0.1 and an ephemeral port (the default);
 * - `unix`: a Unix-domain socket in a fresh temporary directory (the server gets `--path FILE`);
 * - `proxy-v2`: TCP to a listener that requires a PROXY header (the server gets `--proxy`),
 *   each client sending a PROXY v2 header naming its own endpoints before anything else;
 * - `ws`, `ws-text`: WebSocket (the server gets `--websocket`), the clients offering
 *   `binary.ircv3.net` or `text.ircv3.net`, one message per line.
 */
export type BenchTransport = 'tcp' | 'unix' | 'proxy-v2' | 'ws' | 'ws-text';

export interface ServerSpec {
  /** Shown in tables. */
  label: string;
  /** Module under bench/servers/, without extension. */
  module: string;
  /**
   * A built server script to run instead of this tree's `bench/servers/<module>.js`:
   * another checkout's own compiled server (see `baselineSpec`), so it runs on that checkout's code.
   */
  script?: string;
  args?: string[];
  /** Default `tcp`. */
  transport?: BenchTransport;
}

/** Where and how the load generator connects (spread into its `open` command). */
export interface ServerTarget {
  host?: string;
  port?: number;
  path?: string;
  /** Send a PROXY header of this version first. */
  proxy?: 1 | 2;
  /** Connect over WebSocket, offering this subprotocol. */
  ws?: 'binary.ircv3.net' | 'text.ircv3.net';
}

/** The server script a spec runs. */
export function serverScript(spec: ServerSpec): string {
  return spec.script ?? fileURLToPath(new URL(`../servers/${spec.module}.js`, import.meta.url));
}

/**
 * The built server script of another checkout (`--baseline DIR`): DIR's own
 * `build/bench/servers/<module>.js`, which imports DIR's own `build/src/` — a
 * before/after comparison of the library code in one run.
 */
export function baselineScript(dir: string, module: string): string {
  const script = resolve(dir, 'build', 'bench', 'servers', `${module}.js`);
  if (!existsSync(script)) {
    throw new Error(`--baseline ${dir}: no ${script}; build that checkout first (cd ${dir} && npm ci && npx tsc -p tsconfig.json)`);
  }
  return script;
}

/** `spec` run from the checkout in `dir` (TCP only: an older tree's server may know no other transport). */
export function baselineSpec(spec: ServerSpec, dir: string, label = `${spec.label}@baseline`): ServerSpec {
  if ((spec.transport ?? 'tcp') !== 'tcp') throw new Error(`${spec.label}: a baseline row runs over TCP only`);
  return { ...spec, label, script: baselineScript(dir, spec.module) };
}

export class ServerProcess {
  readonly spec: ServerSpec;
  readonly child: BenchChild;
  readonly port: number;
  /** Where the load generator connects. */
  readonly target: ServerTarget;
  readonly #tmp: string | undefined;

  private constructor(spec: ServerSpec, child: BenchChild, port: number, target: ServerTarget, tmp: string | undefined) {
    this.spec = spec;
    this.child = child;
    this.port = port;
    this.target = target;
    this.#tmp = tmp;
  }

  static async start(spec: ServerSpec, opts: ChildOptions = {}): Promise<ServerProcess> {
    const transport = spec.transport ?? 'tcp';
    const args = [...(spec.args ?? [])];
    let tmp: string | undefined;
    let path: string | undefined;
    if (transport === 'unix') {
      tmp = await mkdtemp(join(tmpdir(), 'ircsock-bench-'));
      path = join(tmp, 'server.sock');
      args.push('--path', path);
    } else if (transport === 'proxy-v2') {
      args.push('--proxy');
    } else if (transport === 'ws' || transport === 'ws-text') {
      args.push('--websocket');
    }
    try {
      const { child, ready } = await startChild(spec.label, serverScript(spec), args, opts);
      // The harness echoes what it listens on: a server that ignored --path / --proxy
      // (an older checkout's) must not be measured as if it had honoured them.
      if (path !== undefined && ready.path !== path) {
        await child.stop();
        throw new Error(`${spec.label}: the server did not listen on ${path} (its script does not know --path)`);
      }
      if (transport === 'proxy-v2' && ready.proxy !== true) {
        await child.stop();
        throw new Error(`${spec.label}: the server did not require PROXY headers (its script does not know --proxy)`);
      }
      const ws = transport === 'ws' ? ('binary.ircv3.net' as const) : transport === 'ws-text' ? ('text.ircv3.net' as const) : undefined;
      if (ws !== undefined && ready.websocket !== true) {
        await child.stop();
        throw new Error(`${spec.label}: the server does not speak WebSocket (its script does not know --websocket)`);
      }
      const port = Number(ready.port);
      const target: ServerTarget =
        path !== undefined
          ? { path }
          : { host: '127.0.0.1', port, ...(transport === 'proxy-v2' ? { proxy: 2 as const } : {}), ...(ws === undefined ? {} : { ws }) };
      return new ServerProcess(spec, child, port, target, tmp);
    } catch (err) {
      if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  get pid(): number {
    return this.child.pid;
  }

  stats(): Promise<ServerStats> {
    return this.child.request('stats');
  }

  /** Collects garbage first when the server runs with `--expose-gc`. */
  gcStats(): Promise<ServerStats> {
    return this.child.request('gc');
  }

  /** Waits until the server has accepted `count` connections: early lines would miss the late ones. */
  async waitForConnections(count: number, timeout: number): Promise<ServerStats> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const s = await this.stats();
      if (s.connections >= count) return s;
      if (Date.now() > deadline) throw new Error(`${this.spec.label}: ${s.connections} of ${count} connections accepted after ${timeout} ms`);
      await new Promise<void>((resolve) => setTimeout(resolve, 20));
    }
  }

  async stop(): Promise<void> {
    try {
      await this.child.stop();
    } finally {
      if (this.#tmp !== undefined) await rm(this.#tmp, { recursive: true, force: true });
    }
  }
}
