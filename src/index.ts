/** The version of ircsock (kept equal to package.json's by a test). */
export const VERSION = '0.1.0';

export {
  Backend,
  type BackendEvents,
  type BackendOptions,
  type BackendTlsOptions,
  type ListenerOptions,
  type ConnectorOptions,
  type ConnectorPromise,
  type ConnectionTarget,
  type ListenerTarget,
  type ConnectionRefusal,
  type TlsFailurePeer,
  type ProxyListenerOptions,
  type TlsReloadInfo,
} from './backend.js';
export {
  Admission,
  ADMISSION_DEFAULTS,
  type AdmissionOptions,
  type AdmissionResult,
  type AdmissionAccepted,
  type AdmissionRefused,
  type ResolvedAdmissionOptions,
  type AdmissionCode,
  type ThrottleOptions,
} from './admission/admission.js';
export { CidrList, parseCidr, type CidrBlock, type IpAddress } from './admission/cidr.js';
export { TokenBucket, FLOOD_DEFAULTS, type TokenBucketOptions } from './limits/token-bucket.js';
export { Connection, type ConnectionId } from './connection/connection.js';
export { Listener, type ListenerId, type AdmissionCheck, type AdmissionRequest } from './listen/listener.js';
export { Connector, type ConnectorId, type ConnectorState } from './connect/connector.js';
export {
  Backoff,
  backoffDelay,
  RECONNECT_DEFAULTS,
  type ReconnectOption,
  type ReconnectOptions,
  type ReconnectFunction,
  type ReconnectJitter,
  type ResolvedReconnect,
} from './connect/reconnect.js';
export type { SocksOptions } from './connect/socks.js';
export { InheritedListener, type InheritedKind } from './listen/inherited.js';
export { listenFds, notify, LISTEN_FDS_START } from './listen/systemd.js';
export {
  handOff,
  receiveHandoff,
  isHandoffSuccessor,
  HandoffReceiver,
  HANDOFF_VERSION,
  type HandoffOptions,
  type HandoffResult,
  type ReceiveOptions,
  type AdoptOptions,
  type AdoptResult,
} from './handoff/index.js';
export { DEFAULT_LIMITS, type Limits, type FloodOptions } from './limits.js';
export type { TlsInfo, TlsCertificateFacts, ClientTlsOptions, ServerTlsOptions, ClientCertMode } from './transport/tls.js';
export { parseFingerprint, formatPin, type Pin, type FingerprintAlgorithm } from './transport/tls.js';
export { HandshakeBudget, HANDSHAKE_BUDGET_DEFAULTS, type HandshakeBudgetOptions } from './admission/handshake-budget.js';
export type { TransportKind, Endpoint, IpEndpoint, UnixEndpoint, ProxyFacts } from './transport/transport.js';
export { BINARY_PROTOCOL, TEXT_PROTOCOL, type WebSocketFacts, type WebSocketListenerOptions } from './transport/websocket.js';
export type { ForwardedHeader } from './transport/forwarded.js';
export {
  encodeProxyHeader,
  type ProxyHeaderInit,
  type ProxyTlvsInit,
  type ProxySslInit,
  type ProxyHeader,
  type ProxyEndpoint,
  type ProxyTlvs,
  type ProxySslInfo,
  type ProxyTlvRaw,
} from './transport/proxy/index.js';
export * from './errors.js';
export * from './message/index.js';
export { LineDecoder, type LineDecoderOptions, type DecodedLine } from './framing/line-decoder.js';
export { encodeText, textByteLength, decodeEscaped, decodeLegacy } from './framing/text.js';
