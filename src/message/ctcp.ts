import { IrcFormatError } from '../errors.js';

/** A CTCP request or reply: the command (upper-cased) and the rest, `''` when none. */
export interface Ctcp {
  readonly command: string;
  readonly params: string;
}

const DELIM = '\x01';

/** Whether a PRIVMSG/NOTICE text is a CTCP message (starts with \x01). */
export function isCtcp(text: string): boolean {
  return text.length > 1 && text.charCodeAt(0) === 1;
}

/**
 * Reads a CTCP message out of a PRIVMSG/NOTICE text: `\x01ACTION waves\x01`
 * is `{ command: 'ACTION', params: 'waves' }`. A missing closing \x01 is
 * tolerated (clients cut it off with long lines, and the ircdocs CTCP spec
 * asks receivers to accept it). `undefined` when the text is not CTCP or has
 * no command.
 *
 * The old CTCP spec's low-level quoting (\x10 escapes) and several CTCP
 * messages tagged into one text are left out: no client in use implements
 * them, the modern CTCP spec (ircdocs) drops them, and honouring \x10 would
 * corrupt the text of every client that does not.
 */
export function decodeCtcp(text: string): Ctcp | undefined {
  if (!isCtcp(text)) return undefined;
  const end = text.endsWith(DELIM) && text.length > 1 ? text.length - 1 : text.length;
  const body = text.slice(1, end);
  const space = body.indexOf(' ');
  const command = (space === -1 ? body : body.slice(0, space)).toUpperCase();
  if (command === '' || command.includes(DELIM)) return undefined;
  return { command, params: space === -1 ? '' : body.slice(space + 1) };
}

/**
 * Writes a CTCP message for a PRIVMSG (request) or NOTICE (reply) text.
 *
 * @throws IrcFormatError for a command that is empty or holds a space, or \x01, CR, LF or NUL anywhere.
 */
export function encodeCtcp(command: string, params = ''): string {
  if (command === '' || /[\s\0]/.test(command) || command.includes(DELIM)) throw new IrcFormatError(`encodeCtcp(): bad CTCP command '${command}'`, 'command');
  if (/[\r\n\0]/.test(params) || params.includes(DELIM)) throw new IrcFormatError('encodeCtcp(): CTCP parameters must not hold \\x01, CR, LF or NUL', 'params');
  return params === '' ? `${DELIM}${command.toUpperCase()}${DELIM}` : `${DELIM}${command.toUpperCase()} ${params}${DELIM}`;
}
