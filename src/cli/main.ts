#!/usr/bin/env node
/** The `ircsock` command: `relay` (a demo IRC server) and `connect` (a raw IRC console). */

const USAGE = `Usage: ircsock <command> [options]

Commands:
  relay [options]               run a demo IRC server (default 127.0.0.1:6667)
  connect HOST:PORT [options]   a raw IRC console: lines as they come, lines typed sent as they are
  connect --unix PATH [options] the same over a Unix-domain socket

Run 'ircsock <command> --help' for a command's options.
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'relay': {
      // Loaded on demand: each command pays only for its own modules.
      const { runRelay } = await import('./relay/run.js');
      return runRelay(rest);
    }
    case 'connect': {
      const { runConnect } = await import('./connect.js');
      return runConnect(rest);
    }
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(command === undefined ? USAGE : `ircsock: unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`ircsock: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
