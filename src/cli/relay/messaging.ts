/** PRIVMSG, NOTICE and TAGMSG to channels and nicks. */
import { IRC_LIMITS, textByteLength, type IrcMessage } from '../../index.js';
import type { RelayContext } from './context.js';
import { deliverToChannel, deliverToClient, deliverToClients } from './fanout.js';
import { CAP_ECHO_MESSAGE, CAP_MESSAGE_TAGS, CAP_SERVER_TIME, type Client } from './state.js';

/**
 * Relays a message to each of its comma-separated targets. NOTICE never gets
 * an error reply: RFC 2812 forbids automatic replies to it, so a bot's NOTICE
 * to a nick that just left cannot start a loop.
 */
export function message(ctx: RelayContext, client: Client, msg: IrcMessage): void {
  const command = msg.command;
  const quiet = command === 'NOTICE';
  const tagsOnly = command === 'TAGMSG';
  const targets = msg.params[0] ?? '';
  if (targets === '') {
    if (!quiet) ctx.reply(client, '411', `No recipient given (${command})`);
    return;
  }
  const text = msg.params[1] ?? '';
  if (!tagsOnly && text === '') {
    if (!quiet) ctx.reply(client, '412', 'No text to send');
    return;
  }
  const clientTags = clientOnlyTags(msg);
  const echo = client.has(CAP_ECHO_MESSAGE);
  // Text from the wire was proven free of CR, LF and NUL by the parser.
  const parsed = msg.raw !== undefined;
  // Nearly every message has one target: no list to split then.
  if (targets.indexOf(',') < 0) {
    messageTo(ctx, client, command, targets, text, clientTags, echo, quiet, tagsOnly, parsed);
    return;
  }
  for (const target of targets.split(',')) {
    if (target !== '') messageTo(ctx, client, command, target, text, clientTags, echo, quiet, tagsOnly, parsed);
  }
}

function messageTo(
  ctx: RelayContext,
  client: Client,
  command: string,
  target: string,
  text: string,
  clientTags: Record<string, string> | undefined,
  echo: boolean,
  quiet: boolean,
  tagsOnly: boolean,
  parsed: boolean,
): void {
  if (target.charCodeAt(0) === HASH) {
    const channel = ctx.state.findChannel(target);
    if (channel === undefined) {
      if (!quiet) ctx.reply(client, '403', target, 'No such channel');
    } else if (!channel.members.has(client)) {
      if (!quiet) ctx.reply(client, '404', channel.name, 'Cannot send to channel');
    } else {
      const params = tagsOnly ? [channel.name] : [channel.name, fitText(client.prefix, command, channel.name, text)];
      deliverToChannel(ctx.backend, channel, { source: client.prefix, command, params }, echo ? undefined : client, clientTags, tagsOnly);
      // Server links carry no tags (RFC 2813): TAGMSG stays on this server.
      if (!tagsOnly) ctx.network?.channelMessage(client, channel, command, params[1] as string);
    }
    return;
  }
  const rcpt = ctx.state.findNick(target);
  if (rcpt?.registered !== true) {
    if (!quiet) ctx.reply(client, '401', target, 'No such nick/channel');
    return;
  }
  if (parsed && !tagsOnly && rcpt.local && seesPlain(rcpt, clientTags) && (!echo || rcpt === client || seesPlain(client, clientTags))) {
    // The commonest line of all, one client to another, written without
    // formatLine's checks: each part is proven safe already (see plainLine).
    const line = plainLine(client.prefix, command, rcpt.target, fitText(client.prefix, command, rcpt.target, text));
    if (echo && rcpt !== client) ctx.backend.sendLine(line, rcpt.conn, client.conn);
    else ctx.backend.sendLine(line, rcpt.conn);
    return;
  }
  const params = tagsOnly ? [rcpt.target] : [rcpt.target, fitText(client.prefix, command, rcpt.target, text)];
  const out = { source: client.prefix, command, params };
  if (!rcpt.local) {
    if (!tagsOnly) ctx.network?.privateMessage(client, rcpt, command, params[1] as string);
    if (echo) deliverToClient(ctx.backend, client, out, clientTags, tagsOnly);
    return;
  }
  if (echo && rcpt !== client) deliverToClients(ctx.backend, [rcpt, client], out, clientTags, tagsOnly);
  else deliverToClient(ctx.backend, rcpt, out, clientTags, tagsOnly);
}

const HASH = 0x23;
const COLON = 0x3a;

/** Whether a client gets the message without tags: no server-time, and no client tags it could see. */
function seesPlain(client: Client, clientTags: Record<string, string> | undefined): boolean {
  return (client.caps & CAP_SERVER_TIME) === 0 && (clientTags === undefined || (client.caps & CAP_MESSAGE_TAGS) === 0);
}

/**
 * `:source COMMAND target text` as formatLine would write it, without its
 * checks, for parts that cannot fail them: the source is the client's
 * `nick!user@host` (a nick by NICK's rules, a user name of `[A-Za-z0-9._-]`,
 * an address; the same checks on a hand-off), the command one of the relay's
 * table, the target a registered nick, and the text a trailing parameter of a
 * parsed line (so no CR, LF or NUL), perhaps cut by `fitText`. `sendLine`
 * still refuses CR, LF and NUL in the whole line.
 */
function plainLine(source: string, command: string, target: string, text: string): string {
  const colon = text === '' || text.charCodeAt(0) === COLON || text.indexOf(' ') >= 0;
  return `:${source} ${command} ${target} ${colon ? ':' : ''}${text}`;
}

/** The client-only tags (`+key`) of a message, or undefined when it has none. */
function clientOnlyTags(msg: IrcMessage): Record<string, string> | undefined {
  // Most lines carry no tags: don't make the message parse its (absent) tag section.
  if (!msg.hasTags()) return undefined;
  let out: Record<string, string> | undefined;
  const tags = msg.tags;
  for (const key in tags) {
    if (key.startsWith('+')) {
      out ??= {};
      out[key] = tags[key] as string;
    }
  }
  return out;
}

// `:` source, the spaces, ` :` and CRLF around `:source COMMAND target :text`.
const FRAMING = 7;

/**
 * The text cut so that the relayed line — now with the sender's full source —
 * stays within RFC 1459's 512 bytes, as ircds do: a client may send 510 bytes
 * of its own, and some clients drop longer lines. Bytes are counted as they
 * go out (`textByteLength`: an escaped byte of 8-bit text is one byte) and the
 * cut falls between characters: never inside a UTF-8 sequence or a surrogate
 * pair. Short lines (nearly all) are sized without counting bytes.
 */
export function fitText(source: string, command: string, target: string, text: string): string {
  // A UTF-16 unit is at most 3 bytes on the wire: most lines are sized without counting.
  if ((text.length + source.length + target.length) * 3 + command.length + FRAMING <= IRC_LIMITS.body) return text;
  const room = IRC_LIMITS.body - FRAMING - textByteLength(source) - command.length - textByteLength(target);
  if (textByteLength(text) <= room) return text;
  let bytes = 0;
  let end = 0;
  while (end < text.length) {
    const c = text.charCodeAt(end);
    let units = 1;
    let size: number;
    if (c < 0x80) {
      size = 1;
    } else if (c < 0x800) {
      size = 2;
    } else if (c >= 0xd800 && c <= 0xdbff && end + 1 < text.length && (text.charCodeAt(end + 1) & 0xfc00) === 0xdc00) {
      units = 2;
      size = 4;
    } else if (c >= 0xdc80 && c <= 0xdcff) {
      // An escaped byte, as encodeText writes it.
      size = 1;
    } else {
      // Other BMP characters, and lone surrogates (written as U+FFFD).
      size = 3;
    }
    if (bytes + size > room) break;
    bytes += size;
    end += units;
  }
  return text.slice(0, end);
}
