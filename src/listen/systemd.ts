/**
 * systemd socket activation and readiness, without a native addon.
 *
 * Socket activation: systemd (or `systemd-socket-activate`) binds the
 * listening sockets and passes them as descriptors 3, 4, … with
 * `LISTEN_PID`, `LISTEN_FDS` and, optionally, `LISTEN_FDNAMES`
 * (sd_listen_fds(3)). `listenFds()` reads them; `createListener({ fd })`
 * serves one.
 *
 * Readiness: `NOTIFY_SOCKET` is a Unix datagram socket, and Node's `dgram`
 * has no Unix datagram sockets; an addon would be needed to send to it
 * ourselves. `notify()` runs `systemd-notify` instead (shipped with
 * systemd), which sends from its own pid: the unit needs
 * `NotifyAccess=all`, and `--pid` names us as the main process.
 */
import { spawn } from 'node:child_process';
import { IrcArgumentError } from '../errors.js';

/** The first descriptor systemd passes (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/**
 * The listening sockets systemd passed to this process, by name
 * (`LISTEN_FDNAMES`, or `unknown` for each when it is not set, as
 * sd_listen_fds_with_names does): several sockets may share a name. Empty
 * when none were passed, or when they were meant for another process
 * (`LISTEN_PID` is not ours). The variables are removed from the
 * environment, so processes we start do not take the descriptors as theirs.
 */
export function listenFds(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const pidText = env.LISTEN_PID;
  const countText = env.LISTEN_FDS;
  const namesText = env.LISTEN_FDNAMES;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (pidText === undefined || countText === undefined) return out;
  if (!/^\d+$/.test(pidText) || Number(pidText) !== pid) return out;
  if (!/^\d+$/.test(countText)) {
    throw new IrcArgumentError('ERR_INVALID_OPTION', `LISTEN_FDS must be a number of descriptors, got ${JSON.stringify(countText)}`);
  }
  const count = Number(countText);
  const names = namesText === undefined || namesText === '' ? [] : namesText.split(':');
  for (let i = 0; i < count; i++) {
    const name = names[i] ?? 'unknown';
    const list = out.get(name) ?? [];
    list.push(LISTEN_FDS_START + i);
    out.set(name, list);
  }
  return out;
}

/**
 * Tells systemd about our state (`READY=1`, `STOPPING=1`, `MAINPID=…`,
 * `STATUS=…`) through `systemd-notify`. Resolves true when it was sent,
 * false when there is nobody to tell (`NOTIFY_SOCKET` unset) or the tool is
 * missing or failed; never rejects: readiness is a courtesy to the manager.
 */
export function notify(state: Record<string, string | number>, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === '') return Promise.resolve(false);
  const args = [`--pid=${process.pid}`];
  for (const [key, value] of Object.entries(state)) {
    if (!/^[A-Z_]+$/.test(key) || /[\n]/.test(String(value))) {
      throw new IrcArgumentError('ERR_INVALID_ARG', `notify(): ${key}=${String(value)} is not a KEY=value line`);
    }
    args.push(`${key}=${String(value)}`);
  }
  return new Promise((resolve) => {
    const child = spawn('systemd-notify', args, { stdio: 'ignore', env });
    child.once('error', () => {
      resolve(false);
    });
    child.once('exit', (code) => {
      resolve(code === 0);
    });
  });
}
