/**
 * One relay of the link bench (issue 15), in its own process: `--name N`,
 * `--accept NAME` (links in), `--link NAME:PORT` (link out), `--no-compress`.
 * Flood control off, link flood bound off: the bench measures the relay.
 * `stats` answers with its CPU time and the bytes on its server links.
 */
import { startRelay, type RelayOptions } from '../../src/cli/relay/server.js';
import { emitToParent, serveParent } from '../lib/child.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const opts: RelayOptions = {
  listen: [{ host: '127.0.0.1', port: 0 }],
  name: arg('--name') ?? 'a.bench',
  idle: 600_000,
  flood: false,
  linkFlood: false,
  linkPassword: 'bench',
  linkCompress: !process.argv.includes('--no-compress'),
};
const accept = arg('--accept');
if (accept !== undefined) opts.acceptLinks = [accept];
const link = arg('--link');
if (link !== undefined) {
  const [name, port] = link.split(':') as [string, string];
  opts.links = [{ name, host: '127.0.0.1', port: Number(port) }];
}
let up = 0;
const relay = await startRelay({
  ...opts,
  log: (l) => {
    if (/^link \S+ up/.test(l)) up++;
  },
});
serveParent(
  {
    stats: () => {
      let linkBytesOut = 0;
      let linkBytesIn = 0;
      for (const c of relay.backend.connections.values()) {
        if (!c.isPeer) continue;
        linkBytesOut += c.bytesOut;
        linkBytesIn += c.bytesIn;
      }
      return { cpu: process.cpuUsage(), linksUp: up, linkBytesOut, linkBytesIn };
    },
  },
  () => relay.close('benchmark over'),
);
emitToParent('ready', { port: relay.ports[0], pid: process.pid });
