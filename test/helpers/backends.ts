import { afterEach } from 'node:test';
import { Backend, type BackendOptions } from '../../src/backend.js';

/**
 * `new Backend()` for a test file whose every backend is shut down after each
 * test: a failed assertion must not leave a listener open and hang the run.
 */
export function trackedBackends(): (opts?: BackendOptions) => Backend {
  const backends = new Set<Backend>();
  afterEach(async () => {
    await Promise.all([...backends].map((b) => b.shutdown()));
    backends.clear();
  });
  return (opts?: BackendOptions): Backend => {
    const backend = new Backend(opts);
    backends.add(backend);
    return backend;
  };
}
