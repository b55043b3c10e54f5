/** The parts of a `nick!user@host` source. Absent parts are `undefined`. */
export interface IrcSourceParts {
  nick: string;
  user: string | undefined;
  host: string | undefined;
}

/**
 * Splits a message source (`nick!user@host`, `nick@host`, `server.name`).
 * A server name parses as a nick with no user or host, as IRC clients treat it.
 */
export function parseSource(source: string): IrcSourceParts {
  const at = source.indexOf('@');
  const head = at < 0 ? source : source.slice(0, at);
  const host = at < 0 ? undefined : source.slice(at + 1);
  const bang = head.indexOf('!');
  if (bang < 0) return { nick: head, user: undefined, host };
  return { nick: head.slice(0, bang), user: head.slice(bang + 1), host };
}
