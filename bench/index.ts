/**
 * `npm run bench`: runs every benchmark in turn, each printing its own table.
 *
 *   node build/bench/index.js [--only NAME] [bench options, e.g. --lines 20000]
 *
 * Options other than `--only` are handed to every step.
 */
import { main as parseBench } from './parse.js';
import { main as fanoutBench } from './fanout.js';
import { main as idleBench } from './idle.js';
import { main as compressionBench } from './compression.js';
import { main as relayBench } from './relay.js';
import { main as linkBench } from './link.js';
import { main as handoffBench } from './handoff.js';
import { main as tlsBench } from './tls.js';

interface Step {
  name: string;
  run: (argv: readonly string[]) => Promise<void>;
}

/** Add a bench here: a name for `--only` and an async step that prints its table. */
const STEPS: readonly Step[] = [
  {
    name: 'parse',
    run: (argv) => {
      parseBench(argv);
      return Promise.resolve();
    },
  },
  // Backend benchmarks of issue 3: child processes for the servers and the load generator.
  { name: 'fanout', run: fanoutBench },
  { name: 'idle', run: idleBench },
  // Compressed links (issue 5): plain vs compressed link throughput, CPU, compression ratio.
  { name: 'compression', run: compressionBench },
  // The relay demo server end to end (issue 4): fan-out, fixed-rate latency, idle memory vs the plain net relay.
  { name: 'relay', run: relayBench },
  // Linked relays (issue 15): a channel spread over two servers, CPU per delivery, link bytes with and without zlib.
  { name: 'link', run: linkBench },
  // Restarts (issue 13): hand-off time of 1,000 and 10,000 idle connections, and the longest wait a client saw.
  { name: 'handoff', run: handoffBench },
  // TLS in operation (issue 11): handshakes/s beside node:tls, reload time and failures under load.
  { name: 'tls', run: tlsBench },
];

function splitOnly(argv: readonly string[]): { only: string | undefined; rest: string[] } {
  const rest: string[] = [];
  let only: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--only') {
      only = argv[++i];
      if (only === undefined) throw new Error('--only takes a bench name');
    } else if (arg.startsWith('--only=')) {
      only = arg.slice('--only='.length);
    } else {
      rest.push(arg);
    }
  }
  return { only, rest };
}

async function run(argv: readonly string[]): Promise<void> {
  const { only, rest } = splitOnly(argv);
  const steps = only === undefined ? STEPS : STEPS.filter((s) => s.name === only);
  if (steps.length === 0) {
    throw new Error(`no bench named ${JSON.stringify(only)}; there are: ${STEPS.map((s) => s.name).join(', ')}`);
  }
  for (const [i, step] of steps.entries()) {
    if (i > 0) console.log('');
    console.log(`## ${step.name}`);
    await step.run(rest);
  }
}

run(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
