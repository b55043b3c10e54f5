import { IrcParseError } from '../errors.js';
import { wireMessage, type IrcMessage } from './message.js';

const SPACE = 0x20;
const COLON = 0x3a;
const AT = 0x40;
const CR = 0x0d;
const LF = 0x0a;

/**
 * Parses one IRC line (a trailing CRLF or LF is tolerated and ignored).
 * Runs of spaces separate atoms, as RFC 1459 and every real server do; the
 * trailing parameter may be empty (`:`) and is then kept as `''`, distinct
 * from an absent one. Commands are upper-cased, as the seed does.
 *
 * @throws IrcParseError (`ERR_IRC_PARSE`) for a line with no command, an
 *   empty source, or CR, LF or NUL inside.
 */
export function parseLine(line: string): IrcMessage {
  let len = line.length;
  if (len > 0 && line.charCodeAt(len - 1) === LF) {
    len--;
    if (len > 0 && line.charCodeAt(len - 1) === CR) len--;
    line = line.slice(0, len);
  }
  // A line may never hold these: they would end it, or truncate it for C
  // peers. Three native scans cost less than one regular expression here.
  if (line.indexOf('\r') >= 0 || line.indexOf('\n') >= 0 || line.indexOf('\0') >= 0) {
    throw new IrcParseError('line holds CR, LF or NUL', line);
  }

  let i = 0;
  while (line.charCodeAt(i) === SPACE) i++;

  let rawTags: string | undefined;
  if (line.charCodeAt(i) === AT) {
    const sp = line.indexOf(' ', i);
    if (sp < 0) throw new IrcParseError('line has tags but no command', line);
    rawTags = line.slice(i + 1, sp);
    i = sp + 1;
    while (line.charCodeAt(i) === SPACE) i++;
  }

  let source: string | undefined;
  if (line.charCodeAt(i) === COLON) {
    const sp = line.indexOf(' ', i);
    if (sp < 0) throw new IrcParseError('line has a source but no command', line);
    if (sp === i + 1) throw new IrcParseError('line has an empty source', line);
    source = line.slice(i + 1, sp);
    i = sp + 1;
    while (line.charCodeAt(i) === SPACE) i++;
  }

  if (i >= len) throw new IrcParseError('line has no command', line);
  let sp = line.indexOf(' ', i);
  if (sp < 0) sp = len;
  let command = line.slice(i, sp);
  if (hasLowerAscii(command)) command = upperAscii(command);
  i = sp;

  const params: string[] = [];
  for (;;) {
    while (line.charCodeAt(i) === SPACE) i++;
    if (i >= len) break;
    if (line.charCodeAt(i) === COLON) {
      params.push(line.slice(i + 1));
      break;
    }
    sp = line.indexOf(' ', i);
    if (sp < 0) sp = len;
    params.push(line.slice(i, sp));
    i = sp;
  }

  return wireMessage(command, source, params, line, rawTags);
}

function hasLowerAscii(s: string): boolean {
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c >= 0x61 && c <= 0x7a) return true;
  }
  return false;
}

// ASCII only: `toUpperCase` would turn a stray `ß` into `SS` and change lengths.
function upperAscii(s: string): string {
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}
