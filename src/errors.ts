/**
 * Every error ircsock raises is an {@link IrcsockError} with a stable `code`.
 * Tests and applications branch on `code`, never on the message text.
 * The full list of codes lives in `docs/errors.md`.
 */

export interface IrcsockErrorOptions {
  cause?: unknown;
}

export class IrcsockError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: IrcsockErrorOptions) {
    super(message, options);
    this.code = code;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/** A line that is not an IRC message (no command, empty source, CR/LF/NUL inside). */
export class IrcParseError extends IrcsockError {
  declare readonly code: 'ERR_IRC_PARSE';
  /** The offending line. */
  readonly line: string;

  constructor(message: string, line: string) {
    super('ERR_IRC_PARSE', message);
    this.line = line;
  }
}

/** A message that cannot be written without changing its meaning on the wire. */
export class IrcFormatError extends IrcsockError {
  declare readonly code: 'ERR_IRC_FORMAT';
  /** Which part of the message is at fault: `tags`, `source`, `command` or `params[i]`. */
  readonly field: string;

  constructor(message: string, field: string) {
    super('ERR_IRC_FORMAT', message);
    this.field = field;
  }
}

export type IrcLimitCode =
  | 'ERR_LINE_TOO_LONG'
  | 'ERR_SENDQ_EXCEEDED'
  | 'ERR_READQ_EXCEEDED'
  | 'ERR_EXCESS_FLOOD'
  | 'ERR_ZLIB_BOMB';

/** A configured limit was hit. `limit` is the bound, in the unit the code implies. */
export class IrcLimitError extends IrcsockError {
  declare readonly code: IrcLimitCode;
  readonly limit: number;

  constructor(code: IrcLimitCode, message: string, limit: number, options?: IrcsockErrorOptions) {
    super(code, message, options);
    this.limit = limit;
  }
}

/** A line over the length limits; `part` says whether its tags or its body were too long. */
export class IrcLineTooLongError extends IrcLimitError {
  declare readonly code: 'ERR_LINE_TOO_LONG';
  readonly part: 'tags' | 'body';

  constructor(part: 'tags' | 'body', limit: number) {
    super(
      'ERR_LINE_TOO_LONG',
      part === 'tags'
        ? `line dropped: its tag section exceeds ${limit} bytes`
        : `line dropped: its body exceeds ${limit} bytes including CRLF`,
      limit,
    );
    this.part = part;
  }
}

export type IrcTimeoutCode =
  | 'ERR_CONNECT_TIMEOUT'
  | 'ERR_REGISTRATION_TIMEOUT'
  | 'ERR_DISCONNECT_TIMEOUT';

/** A deadline passed. `timeout` is the deadline in milliseconds. */
export class IrcTimeoutError extends IrcsockError {
  declare readonly code: IrcTimeoutCode;
  readonly timeout: number;

  constructor(code: IrcTimeoutCode, message: string, timeout: number) {
    super(code, message);
    this.timeout = timeout;
  }
}

/** Corrupt data on a compressed link. */
export class IrcZlibError extends IrcsockError {
  declare readonly code: 'ERR_ZLIB';

  constructor(message: string, options?: IrcsockErrorOptions) {
    super('ERR_ZLIB', message, options);
  }
}

export type IrcTlsCode = 'ERR_TLS_CONFIG' | 'ERR_TLS_RELOAD' | 'ERR_TLS_FINGERPRINT';

export interface IrcTlsErrorOptions extends IrcsockErrorOptions {
  /** Default `ERR_TLS_CONFIG`. */
  code?: IrcTlsCode;
  /** The key or certificate file at fault, when it was a file. */
  file?: string;
  /** `ERR_TLS_FINGERPRINT`: the pinned fingerprints (`sha256:…`/`sha512:…`, lower-case hex). */
  expected?: readonly string[];
  /** `ERR_TLS_FINGERPRINT`: the peer certificate's fingerprint (`sha256:…`), or `undefined` when it sent none. */
  actual?: string;
}

/**
 * A TLS setup that cannot work (no key or certificate, an unreadable file:
 * `ERR_TLS_CONFIG`), a reload that failed and left the old certificates in
 * place (`ERR_TLS_RELOAD`, with `file`), or a pinned peer whose certificate
 * is not the pinned one (`ERR_TLS_FINGERPRINT`, with `expected` and `actual`).
 * TLS failures on the wire keep Node's own codes (`ERR_TLS_CERT_ALTNAME_INVALID`, …).
 */
export class IrcTlsError extends IrcsockError {
  declare readonly code: IrcTlsCode;
  readonly file: string | undefined;
  readonly expected: readonly string[] | undefined;
  readonly actual: string | undefined;

  constructor(message: string, options: IrcTlsErrorOptions = {}) {
    super(options.code ?? 'ERR_TLS_CONFIG', message, options.cause === undefined ? undefined : { cause: options.cause });
    this.file = options.file;
    this.expected = options.expected;
    this.actual = options.actual;
  }
}

export type IrcArgumentCode = 'ERR_INVALID_ARG' | 'ERR_INVALID_OPTION' | 'ERR_UNKNOWN_OPTION' | 'ERR_BACKEND_CLOSED';

/** A wrong argument or option, raised at once when it is given; the message names the fix. */
export class IrcArgumentError extends IrcsockError {
  declare readonly code: IrcArgumentCode;

  // Not useless: it narrows `code` to the argument codes.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: IrcArgumentCode, message: string) {
    super(code, message);
  }
}

export type IrcProxyCode = 'ERR_PROXY_INVALID' | 'ERR_PROXY_UNTRUSTED' | 'ERR_PROXY_TIMEOUT' | 'ERR_PROXY_CRC';

/**
 * A PROXY protocol header that cannot be honoured: malformed (`ERR_PROXY_INVALID`),
 * sent by a peer outside the trusted sources (`ERR_PROXY_UNTRUSTED`), not complete
 * within the deadline (`ERR_PROXY_TIMEOUT`), or failing its CRC32C TLV (`ERR_PROXY_CRC`).
 */
export class IrcProxyError extends IrcsockError {
  declare readonly code: IrcProxyCode;

  // Not useless: it narrows `code` to the PROXY codes.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: IrcProxyCode, message: string, options?: IrcsockErrorOptions) {
    super(code, message, options);
  }
}

export type IrcWebSocketCode =
  | 'ERR_WS_ORIGIN'
  | 'ERR_WS_PATH'
  | 'ERR_WS_UPGRADE_TIMEOUT'
  | 'ERR_WS_HANDSHAKE'
  | 'ERR_WS_PING_TIMEOUT'
  | 'ERR_WS_NO_COMPRESSED_LINK';

/**
 * A WebSocket upgrade refused (`ERR_WS_ORIGIN`, `ERR_WS_PATH`, a request not
 * complete in time: `ERR_WS_UPGRADE_TIMEOUT`, not a valid upgrade:
 * `ERR_WS_HANDSHAKE`), a peer that stopped answering pings
 * (`ERR_WS_PING_TIMEOUT`), or a compressed link asked of a WebSocket
 * connection (`ERR_WS_NO_COMPRESSED_LINK`: zlib exists only where there is a
 * byte stream). Protocol errors on an open WebSocket keep the `ws` package's
 * own codes (`WS_ERR_INVALID_UTF8`, `WS_ERR_UNSUPPORTED_MESSAGE_LENGTH`, …).
 */
export class IrcWebSocketError extends IrcsockError {
  declare readonly code: IrcWebSocketCode;

  // Not useless: it narrows `code` to the WebSocket codes.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: IrcWebSocketCode, message: string, options?: IrcsockErrorOptions) {
    super(code, message, options);
  }
}

export type IrcConnectorCode = 'ERR_CONNECTOR_CLOSED' | 'ERR_PEER_CLOSED' | 'ERR_CONNECTOR_RETRY';

/**
 * Why a connector's connection ended or never came: the application closed
 * the connector (`ERR_CONNECTOR_CLOSED`), or the server closed a connection
 * without an error of its own (`ERR_PEER_CLOSED`: a clean FIN, e.g. after
 * `ERROR :Closing link`), which a reconnecting connector counts as a failure.
 */
export class IrcConnectorError extends IrcsockError {
  declare readonly code: IrcConnectorCode;

  // Not useless: it narrows `code` to the connector codes.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: IrcConnectorCode, message: string, options?: IrcsockErrorOptions) {
    super(code, message, options);
  }
}

export type IrcSocksCode =
  | 'ERR_SOCKS_REFUSED'
  | 'ERR_SOCKS_UNREACHABLE'
  | 'ERR_SOCKS_AUTH'
  | 'ERR_SOCKS_TIMEOUT'
  | 'ERR_SOCKS_PROTOCOL';

/**
 * A SOCKS proxy did not connect us: it refused the destination
 * (`ERR_SOCKS_REFUSED`: the destination refused, or the proxy's rules say
 * no), could not reach it (`ERR_SOCKS_UNREACHABLE`: no route, no such host,
 * TTL expired), refused our credentials or offered no method we have
 * (`ERR_SOCKS_AUTH`), did not answer in time (`ERR_SOCKS_TIMEOUT`), or spoke
 * something that is not SOCKS (`ERR_SOCKS_PROTOCOL`). Failing to reach the
 * proxy itself keeps Node's code (`ECONNREFUSED`, …). `reply` is the proxy's
 * reply name when it sent one (`ConnectionRefused`, `HostUnreachable`, …).
 */
export class IrcSocksError extends IrcsockError {
  declare readonly code: IrcSocksCode;
  readonly reply: string | undefined;

  constructor(code: IrcSocksCode, message: string, reply: string | undefined, options?: IrcsockErrorOptions) {
    super(code, message, options);
    this.reply = reply;
  }
}

export type IrcHandoffCode =
  | 'ERR_HANDOFF_VERSION'
  | 'ERR_HANDOFF_TIMEOUT'
  | 'ERR_HANDOFF_SUCCESSOR_GONE'
  | 'ERR_HANDOFF_PROTOCOL'
  | 'ERR_HANDOFF_BUSY';

/**
 * A hand-off to a successor process failed: the two sides speak different
 * protocol versions (`ERR_HANDOFF_VERSION`), the whole hand-off did not end
 * within its deadline (`ERR_HANDOFF_TIMEOUT`), the successor exited or closed
 * its IPC channel mid-way (`ERR_HANDOFF_SUCCESSOR_GONE`), a message made no
 * sense (`ERR_HANDOFF_PROTOCOL`), or a hand-off is already under way
 * (`ERR_HANDOFF_BUSY`). On the old side every connection not yet handed over
 * has been taken back and is served again.
 */
export class IrcHandoffError extends IrcsockError {
  declare readonly code: IrcHandoffCode;

  // Not useless: it narrows `code` to the hand-off codes.
  // eslint-disable-next-line @typescript-eslint/no-useless-constructor
  constructor(code: IrcHandoffCode, message: string, options?: IrcsockErrorOptions) {
    super(code, message, options);
  }
}
