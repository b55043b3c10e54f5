export {
  Backend,
  type BackendEvents,
  type BackendOptions,
  type BackendTlsOptions,
  type ListenerOptions,
  type ConnectorOptions,
  type ConnectionTarget,
  type ListenerTarget,
} from './backend.js';
export { Connection, type ConnectionId } from './connection.js';
export { Listener, type ListenerId } from './listener.js';
export { Connector, type ConnectorId } from './connector.js';
export { DEFAULT_LIMITS, type Limits } from './limits.js';
export type { TlsInfo } from './transport/tls.js';
export * from './errors.js';
export * from './message/index.js';
export { LineDecoder, type LineDecoderOptions, type DecodedLine } from './framing/line-decoder.js';
