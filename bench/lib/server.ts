/** The parent side of a server under test (see `bench/servers/`). */
import { fileURLToPath } from 'node:url';
import { startChild, type BenchChild, type ChildOptions } from './child.js';
import type { ServerStats } from '../servers/harness.js';

export type { ServerStats } from '../servers/harness.js';

export interface ServerSpec {
  /** Shown in tables. */
  label: string;
  /** Module under bench/servers/, without extension. */
  module: string;
  args?: string[];
}

export class ServerProcess {
  readonly spec: ServerSpec;
  readonly child: BenchChild;
  readonly port: number;

  private constructor(spec: ServerSpec, child: BenchChild, port: number) {
    this.spec = spec;
    this.child = child;
    this.port = port;
  }

  static async start(spec: ServerSpec, opts: ChildOptions = {}): Promise<ServerProcess> {
    const path = fileURLToPath(new URL(`../servers/${spec.module}.js`, import.meta.url));
    const { child, ready } = await startChild(spec.label, path, spec.args ?? [], opts);
    return new ServerProcess(spec, child, Number(ready.port));
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

  stop(): Promise<void> {
    return this.child.stop();
  }
}
