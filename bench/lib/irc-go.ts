/**
 * Go's irc-go (`ircmsg`, the parser Ergo uses) as a peer of the parse bench:
 * `../shared/peers/` holds an unchanged copy and a small timing program
 * (`irc-go-bench/main.go`), built here offline with Debian's `golang-go`
 * against that copy. When `go` is missing, setup installs `golang-go` with
 * apt-get if it can (root, apt-get present); otherwise the peer is skipped
 * and `why` says so.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root (build/bench/lib → three levels up). */
const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');

export interface IrcGoPeer {
  /** The built timing program, or undefined with the reason. */
  binary: string | undefined;
  why: string;
}

function hasGo(): boolean {
  return spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0;
}

function installGo(): string | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'go is not installed and this is not root on Linux: apt-get install golang-go';
  if (spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status !== 0) return 'go is not installed and there is no apt-get';
  process.stderr.write('  parse bench: installing golang-go (apt-get) for the irc-go peer…\n');
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'golang-go'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 300_000 });
  if (r.status !== 0 || !hasGo()) return 'go is not installed and apt-get install golang-go failed';
  return undefined;
}

/** Builds (once per checkout; again when main.go is newer) the irc-go timing program. */
export function ircGoPeer(peersDir = process.env.IRCSOCK_PEERS ?? resolve(ROOT, '..', 'shared', 'peers')): IrcGoPeer {
  const lib = join(peersDir, 'irc-go');
  const main = join(peersDir, 'irc-go-bench', 'main.go');
  if (!existsSync(join(lib, 'ircmsg')) || !existsSync(main)) {
    return { binary: undefined, why: `no irc-go copy at ${peersDir} (irc-go/ircmsg and irc-go-bench/main.go; IRCSOCK_PEERS=DIR to point elsewhere)` };
  }
  if (!hasGo()) {
    const failed = installGo();
    if (failed !== undefined) return { binary: undefined, why: failed };
  }
  const dir = join(ROOT, 'build', 'bench', '.irc-go');
  const binary = join(dir, 'bench-irc-go');
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(main).mtimeMs) return { binary, why: '' };
  mkdirSync(dir, { recursive: true });
  copyFileSync(main, join(dir, 'main.go'));
  writeFileSync(
    join(dir, 'go.mod'),
    `module benchgo\ngo 1.19\nrequire github.com/ergochat/irc-go v0.0.0\nreplace github.com/ergochat/irc-go => ${realpathSync(lib)}\n`,
  );
  try {
    execFileSync('go', ['build', '-o', binary, '.'], {
      cwd: dir,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, GOFLAGS: '-mod=mod', GOPROXY: 'off', GOCACHE: join(dir, 'cache'), GOPATH: join(dir, 'gopath') },
      timeout: 300_000,
    });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
    return { binary: undefined, why: `go build of the irc-go peer failed: ${stderr.split('\n')[0] ?? ''}` };
  }
  return { binary, why: '' };
}
