import { IrcConsole, PREFIX, type ConnectIo, type ConnectTuning } from './connect/console.js';
import { parseConnectArgs, UsageError, USAGE, type ParsedCommand } from './connect/options.js';

export type { ConnectIo, ConnectTuning } from './connect/console.js';

/**
 * `ircsock connect HOST[:PORT] [options]`: a raw IRC console. Resolves with
 * the exit status (0 after a clean QUIT, 1 when the connection failed or was
 * lost, 2 for a usage error); it never calls `process.exit` itself, and
 * leaves no handle behind, so the process ends by itself.
 */
export async function runConnect(argv: string[], io: Partial<ConnectIo> = {}, tuning: ConnectTuning = {}): Promise<number> {
  const streams: ConnectIo = {
    stdin: io.stdin ?? process.stdin,
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
  };
  let parsed: ParsedCommand;
  try {
    parsed = parseConnectArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    streams.stderr.write(`${PREFIX}: ${err.message} (see '${PREFIX} --help')\n`);
    return 2;
  }
  if (parsed.kind === 'help') {
    streams.stdout.write(USAGE);
    return 0;
  }
  return new IrcConsole(parsed.options, streams, tuning).run();
}

