import { formatLine } from './format.js';
import type { IrcMessageInit } from './message.js';

/**
 * The sizes the IRCv3 message-tags spec and RFC 1459 set, in bytes.
 * https://ircv3.net/specs/extensions/message-tags#size-limit
 */
export const IRC_LIMITS = Object.freeze({
  /** The whole tag section: `@`, the tags and the space after them. */
  tagSection: 8191,
  /** Tag data a client may send, or a server may add (without `@` and the space). */
  clientTagData: 4094,
  /** Source, command, params and the CRLF. */
  body: 512,
});

export interface IrcMessageSizes {
  /** Bytes of the tag section, `@` and trailing space included (0 without tags). */
  tagSection: number;
  /** Bytes of the tag data, without `@` and the space. */
  tagData: number;
  /** Bytes of the client-only (`+`) tags and the `;` between them. */
  clientTagData: number;
  /** Bytes of the body, CRLF included. */
  body: number;
  /** Bytes of the whole line, CRLF included. */
  total: number;
}

/**
 * Byte sizes of a line (as it would be sent) or of a message (formatted first).
 * Compare them with `IRC_LIMITS` before sending to a peer that enforces them.
 */
export function messageSizes(lineOrMessage: string | IrcMessageInit): IrcMessageSizes {
  const line = typeof lineOrMessage === 'string' ? lineOrMessage : formatLine(lineOrMessage);
  let tagSection = 0;
  let tagData = 0;
  let clientTagData = 0;
  let bodyStart = 0;
  if (line.charCodeAt(0) === 0x40) {
    let sp = line.indexOf(' ');
    if (sp < 0) sp = line.length;
    const raw = line.slice(1, sp);
    tagData = Buffer.byteLength(raw);
    tagSection = tagData + 2;
    let clientTags = 0;
    for (const tag of raw.split(';')) {
      if (tag.startsWith('+')) {
        clientTagData += Buffer.byteLength(tag);
        clientTags++;
      }
    }
    if (clientTags > 1) clientTagData += clientTags - 1;
    bodyStart = sp + 1;
    while (line.charCodeAt(bodyStart) === 0x20) bodyStart++;
  }
  const body = Buffer.byteLength(line.slice(bodyStart)) + 2;
  return { tagSection, tagData, clientTagData, body, total: tagSection + body };
}
