import { IrcFormatError } from '../errors.js';
import { escapeTagValue } from './tags.js';
import type { IrcMessageInit } from './message.js';

export interface FormatOptions {
  /**
   * Write the last parameter with a `:` even when it does not need one.
   * A message's own `colonify` wins over this default.
   */
  colonify?: boolean;
}

const BAD_ANYWHERE = /[\0\r\n]/;
const BAD_ATOM = /[\0\r\n ]/;
const BAD_TAG_KEY = /[\0\r\n ;=]/;
const COLON = 0x3a;
const AT = 0x40;

/**
 * Writes a message as one IRC line, without CR/LF.
 *
 * This is a security boundary: whatever would change the message's meaning on
 * the wire throws `IrcFormatError` (`ERR_IRC_FORMAT`) instead of being written —
 * CR, LF or NUL anywhere (so a relayed parameter can never inject a second
 * command), a middle parameter that is empty, holds a space or starts with `:`,
 * an empty command or one with a space (or starting with `:`/`@`), a source or
 * tag key that is empty or holds a space. Tag values are escaped, so CR and LF
 * are allowed there; NUL is not.
 */
export function formatLine(msg: IrcMessageInit, opts?: FormatOptions): string {
  let out = '';
  const tags = msg.tags;
  if (tags !== undefined) {
    for (const key in tags) {
      if (key === '' || BAD_TAG_KEY.test(key)) {
        throw new IrcFormatError(`tag key ${JSON.stringify(key)} is empty or holds a space, ';', '=', CR, LF or NUL`, 'tags');
      }
      out += out === '' ? '@' : ';';
      out += key;
      const value = tags[key];
      if (value !== undefined && value !== '') {
        if (value.includes('\0')) throw new IrcFormatError(`tag ${key} has a NUL in its value`, 'tags');
        out += '=';
        out += escapeTagValue(value);
      }
    }
    if (out !== '') out += ' ';
  }

  const source = msg.source;
  if (source !== undefined) {
    if (source === '' || BAD_ATOM.test(source)) {
      throw new IrcFormatError('source is empty or holds a space, CR, LF or NUL', 'source');
    }
    out += ':';
    out += source;
    out += ' ';
  }

  const command = msg.command;
  if (command === '' || BAD_ATOM.test(command) || command.charCodeAt(0) === COLON || command.charCodeAt(0) === AT) {
    throw new IrcFormatError('command is empty, starts with : or @, or holds a space, CR, LF or NUL', 'command');
  }
  out += command;

  const params = msg.params;
  if (params !== undefined && params.length > 0) {
    const last = params.length - 1;
    for (let i = 0; i < last; i++) {
      const p = params[i] as string;
      if (p === '' || p.charCodeAt(0) === COLON || BAD_ATOM.test(p)) {
        throw new IrcFormatError(
          `params[${i}] is not the last parameter, so it may not be empty, start with ':' or hold a space, CR, LF or NUL`,
          `params[${i}]`,
        );
      }
      out += ' ';
      out += p;
    }
    const p = params[last] as string;
    if (BAD_ANYWHERE.test(p)) throw new IrcFormatError(`params[${last}] holds CR, LF or NUL`, `params[${last}]`);
    // Text nearly always has a space early on: a native scan stops there.
    const colon = p === '' || p.charCodeAt(0) === COLON || p.indexOf(' ') >= 0 || (msg.colonify ?? opts?.colonify ?? false);
    out += colon ? ' :' : ' ';
    out += p;
  }
  return out;
}
