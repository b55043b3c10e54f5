import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { IrcProxyError } from '../errors.js';
import { formatLine } from '../message/format.js';
import type { ProxyEndpoint, ProxyHeader } from '../transport/proxy/header.js';
import { readProxyHeader } from '../transport/proxy/read.js';
import { StreamTransport } from '../transport/stream.js';
import { tcpEndpoints } from '../transport/tcp.js';
import { forwardedClient } from '../transport/forwarded.js';
import { peerCertificate, tlsInfo } from '../transport/tls.js';
import type { Endpoint, ProxyFacts, Transport } from '../transport/transport.js';
import { WsTransport, type Upgraded } from '../transport/websocket.js';
import type { Listener } from './listener.js';

/** How long a refused peer has to take its ERROR line before the socket is destroyed. */
const REFUSAL_LINGER = 2_000;

/** Why a listener turned a peer away. */
export interface ConnectionRefusal {
  listener: Listener;
  /** The client's address, as far as it was known (`''` on a Unix socket). */
  addr: string;
  port: number;
  /**
   * `ERR_DENIED`, `ERR_NOT_ALLOWED`, `ERR_THROTTLED`, `ERR_TOO_MANY_PER_IP`,
   * `ERR_TOO_MANY_TOTAL`, `ERR_INVALID_ADDRESS`, `ERR_CHECK_REFUSED`,
   * `ERR_CHECK_FAILED`, a PROXY code (`ERR_PROXY_UNTRUSTED`,
   * `ERR_PROXY_INVALID`, `ERR_PROXY_TIMEOUT`, `ERR_PROXY_CRC`), `ERR_TLS_BUDGET`
   * (too many failed TLS handshakes from the address) or `ERR_TLS_CLIENT_CERT`
   * (a listener with `clientCert: 'require'`, a peer without one).
   */
  code: string;
  reason: string;
  /** The error behind a PROXY refusal (an `IrcProxyError`), or a failed check hook's. */
  error?: Error;
  /** Behind a PROXY header: the header and the proxy's own endpoint (`addr` is then the client's). */
  proxy?: ProxyFacts;
}

/** Who failed a TLS handshake: the client (behind a PROXY header, the one it names). */
export interface TlsFailurePeer {
  addr: string | undefined;
  port: number | undefined;
  /** Behind a PROXY header: the header and the proxy's own endpoint. */
  proxy?: ProxyFacts;
}

/** @internal What the pipeline asks of the backend. */
export interface PipelineHost {
  readonly closing: boolean;
  refused(refusal: ConnectionRefusal): void;
  tlsFailed(listener: Listener, err: Error, peer: TlsFailurePeer): void;
  checkFailed(listener: Listener, err: unknown): void;
  open(listener: Listener, transport: Transport, admissionKey: string | undefined): void;
  /** A socket waits in a stage: shutdown must wait for it to leave. */
  entered(): void;
  /** A tracked socket left the pipeline (as a connection or not): shutdown may settle. */
  left(): void;
}

/** One accepted socket on its way through the pipeline. */
class Arrival {
  /** The secure socket once the TLS handshake is done. */
  secure: TLSSocket | undefined = undefined;
  /** The WebSocket once the upgrade is done. */
  upgraded: Upgraded | undefined = undefined;
  peer: Endpoint;
  local: Endpoint;
  proxy: ProxyFacts | undefined = undefined;
  /** The admission count this peer holds, until a connection takes it or it is released. */
  key: string | undefined = undefined;
  tracked = false;
  done = false;

  constructor(
    readonly raw: Socket,
    ends: { peer: Endpoint; local: Endpoint },
  ) {
    this.peer = ends.peer;
    this.local = ends.local;
  }

  /** The socket the peer is spoken to on: the secure one once there is one. */
  get socket(): Socket {
    return this.secure ?? this.raw;
  }
}

/**
 * @internal
 * A listener's accept pipeline: the ordered stages every accepted socket
 * goes through, each able to refuse it in its own way —
 *
 *   trust (is the socket's peer a configured PROXY source?)
 *   → PROXY header (the real client's address)
 *   → admission (lists, throttle and counts, on the real address)
 *   → TLS handshake
 *   → WebSocket upgrade (and, behind a trusted reverse proxy, admission again on the client it names)
 *   → the application's `check` hook
 *   → a Connection, and `listenerOpen`.
 *
 * Stages that need no waiting run at once, so a plain TCP peer with no hook
 * costs no tracking at all. A socket that waits in a stage is tracked here,
 * in one set, until it leaves: so `closeAll()` (shutdown) reaches every one,
 * and its admission count is released exactly once, however it leaves.
 */
export class AcceptPipeline {
  readonly #listener: Listener;
  readonly #host: PipelineHost;
  readonly #waiting = new Set<Arrival>();

  constructor(listener: Listener, host: PipelineHost) {
    this.#listener = listener;
    this.#host = host;
  }

  /** Sockets still in the pipeline. */
  get size(): number {
    return this.#waiting.size;
  }

  accept(raw: Socket): void {
    if (this.#host.closing) {
      raw.destroy();
      return;
    }
    const path = this.#listener.path;
    const ends = path === undefined ? tcpEndpoints(raw) : { peer: { path: '' }, local: { path } };
    this.#trust(new Arrival(raw, ends));
  }

  /** Closes every socket still in the pipeline (shutdown). */
  closeAll(): void {
    for (const a of [...this.#waiting]) {
      a.socket.destroy();
      a.raw.destroy();
    }
  }

  // --- the stages, in order -------------------------------------------------

  #trust(a: Arrival): void {
    const proxy = this.#listener.config.proxy;
    if (proxy === undefined) {
      this.#admit(a);
      return;
    }
    // Unix peers are local processes: the socket file's mode is their trust check.
    if ('address' in a.peer && !proxy.from.has(a.peer.address)) {
      const err = new IrcProxyError('ERR_PROXY_UNTRUSTED', `a PROXY header is only taken from trusted sources; ${a.peer.address} is not one`);
      this.#refuse(a, err.code, 'Untrusted proxy', err);
      return;
    }
    this.#track(a);
    readProxyHeader(a.raw, proxy.timeout, (err, header) => {
      if (a.done) return;
      if (err !== undefined) {
        this.#refuse(a, err.code, 'Invalid PROXY header', err);
        return;
      }
      this.#applyProxy(a, header as ProxyHeader);
      this.#admit(a);
    });
  }

  #applyProxy(a: Arrival, header: ProxyHeader): void {
    a.proxy = { header, peer: a.peer, local: a.local };
    // LOCAL (a health check, the proxy's own connection) and UNSPEC keep the real endpoints.
    if (header.command !== 'proxy' || header.source === undefined) return;
    a.peer = endpointOf(header.source);
    if (header.destination !== undefined) a.local = endpointOf(header.destination);
  }

  #admit(a: Arrival): void {
    // Before admission counts it: a peer out of handshake budget costs an accept and a close, nothing more.
    const budget = this.#listener.config.handshakeBudget;
    if (budget !== undefined && 'address' in a.peer && !budget.allows(a.peer.address)) {
      this.#refuse(a, 'ERR_TLS_BUDGET', 'Too many failed TLS handshakes');
      return;
    }
    const admission = this.#listener.admission;
    if (admission !== undefined) {
      const verdict = 'address' in a.peer ? admission.admit(a.peer.address) : admission.admitLocal();
      if (!verdict.ok) {
        this.#refuse(a, verdict.code, verdict.reason);
        return;
      }
      a.key = verdict.key;
    }
    this.#handshake(a);
  }

  #handshake(a: Arrival): void {
    const acceptor = this.#listener.config.tlsAcceptor;
    if (acceptor === undefined) {
      this.#upgrade(a);
      return;
    }
    this.#track(a);
    acceptor.handshake(a.raw, (err, secure) => {
      if (err !== undefined) {
        // Reported even when the raw socket has closed already (a client that
        // hung up mid-handshake); not during shutdown, which cut them short.
        if (!this.#host.closing) {
          if ('address' in a.peer) this.#listener.config.handshakeBudget?.failed(a.peer.address);
          const peer: TlsFailurePeer = addrPort(a.peer);
          if (a.proxy !== undefined) peer.proxy = a.proxy;
          this.#host.tlsFailed(this.#listener, err, peer);
        }
        a.raw.destroy();
        return;
      }
      if (a.done) {
        secure?.destroy();
        return;
      }
      a.secure = secure;
      secure?.on('error', noop);
      if (acceptor.requireCert && secure !== undefined && peerCertificate(secure) === undefined) {
        this.#refuse(a, 'ERR_TLS_CLIENT_CERT', 'A client certificate is required');
        return;
      }
      this.#upgrade(a);
    });
  }

  #upgrade(a: Arrival): void {
    const ws = this.#listener.config.websocket;
    if (ws === undefined) {
      this.#check(a);
      return;
    }
    this.#track(a);
    ws.acceptor.upgrade(a.socket, ws.upgradeTimeout, (err, up) => {
      if (a.done) {
        up?.ws.terminate();
        return;
      }
      if (err !== undefined) {
        this.#refuse(a, (err as { code?: string }).code ?? 'ERR_WS_HANDSHAKE', 'WebSocket upgrade refused', err);
        return;
      }
      const upgraded = up as Upgraded;
      a.upgraded = upgraded;
      // Behind a trusted reverse proxy the client is the one its header names,
      // and admission counts that client, not the proxy.
      const trusted = ws.forwardedFrom;
      if (trusted !== undefined && 'address' in a.peer && trusted.has(a.peer.address)) {
        const client = forwardedClient(upgraded.req.headers, trusted, ws.forwardedHeader);
        if (client !== undefined) {
          a.peer = { address: client, port: 0, family: client.includes(':') ? 6 : 4 };
          upgraded.facts = { ...upgraded.facts, forwarded: true };
          const admission = this.#listener.admission;
          if (admission !== undefined) {
            if (a.key !== undefined) admission.release(a.key);
            a.key = undefined;
            const verdict = admission.admit(client);
            if (!verdict.ok) {
              this.#refuse(a, verdict.code, verdict.reason);
              return;
            }
            a.key = verdict.key;
          }
        }
      }
      this.#check(a);
    });
  }

  #check(a: Arrival): void {
    const listener = this.#listener;
    const check = listener.config.check;
    if (check === undefined) {
      this.#open(a);
      return;
    }
    this.#track(a);
    const { addr, port } = addrPort(a.peer);
    const secure = a.secure === undefined ? undefined : tlsInfo(a.secure);
    let pending = true;
    const decide = (verdict: boolean | string): void => {
      if (!pending || a.done) return;
      pending = false;
      if (verdict === true) {
        this.#open(a);
        return;
      }
      this.#refuse(a, 'ERR_CHECK_REFUSED', typeof verdict === 'string' ? verdict : 'Access denied');
    };
    const failed = (err: unknown): void => {
      if (pending && !a.done) {
        pending = false;
        this.#refuse(a, 'ERR_CHECK_FAILED', 'Access check failed', err instanceof Error ? err : undefined);
      }
      this.#host.checkFailed(listener, err);
    };
    let verdict: boolean | string | Promise<boolean | string>;
    try {
      verdict = check({ addr, port, peer: a.peer, proxy: a.proxy, tls: secure, websocket: a.upgraded?.facts, listener });
    } catch (err) {
      failed(err);
      return;
    }
    // Any thenable is awaited; anything else (`null` from a JavaScript hook included) is a verdict.
    if (typeof (verdict as Partial<PromiseLike<unknown>> | null)?.then === 'function') {
      (verdict as Promise<boolean | string>).then(decide, failed);
    } else {
      decide(verdict as boolean | string);
    }
  }

  #open(a: Arrival): void {
    const wasTracked = a.tracked;
    this.#leave(a);
    const host = this.#host;
    const key = a.key;
    a.key = undefined;
    const listener = this.#listener;
    if (host.closing || a.socket.destroyed) {
      if (key !== undefined) listener.admission?.release(key);
      a.socket.destroy();
      if (wasTracked) host.left();
      return;
    }
    const limits = listener.config.limits;
    const secure = a.secure;
    const tls = secure === undefined ? undefined : tlsInfo(secure);
    const upgraded = a.upgraded;
    // The request (headers and all) is not needed past here; the arrival stays reachable from its socket's listeners.
    a.upgraded = undefined;
    let transport: Transport;
    if (upgraded !== undefined) {
      const ws = new WsTransport({
        ws: upgraded.ws,
        socket: a.socket,
        kind: secure !== undefined ? 'wss' : 'ws',
        peer: a.peer,
        local: a.local,
        tls,
        proxy: a.proxy,
        websocket: upgraded.facts,
        maxTagBytes: limits.maxTagBytes,
        maxBodyBytes: limits.maxBodyBytes,
        role: 'server',
      });
      const stage = listener.config.websocket;
      if (stage !== undefined) stage.acceptor.track(ws, stage.pingInterval);
      transport = ws;
    } else {
      transport = new StreamTransport({
        socket: a.socket,
        kind: listener.path !== undefined ? 'unix' : secure !== undefined ? 'tls' : 'tcp',
        peer: a.peer,
        local: a.local,
        tls,
        proxy: a.proxy,
        maxTagBytes: limits.maxTagBytes,
        maxBodyBytes: limits.maxBodyBytes,
        maxOverlongBytes: limits.readQ,
        maxInflatePerRead: limits.maxInflatePerRead,
      });
    }
    host.open(listener, transport, key);
    if (wasTracked) host.left();
  }

  // --- bookkeeping ------------------------------------------------------------

  /** From the first stage that waits on: tracked, and released however it leaves. */
  #track(a: Arrival): void {
    if (a.tracked) return;
    a.tracked = true;
    this.#waiting.add(a);
    this.#host.entered();
    // Until a connection owns the socket, an error on it must not go unhandled.
    a.raw.on('error', noop);
    a.raw.once('close', () => {
      if (a.done) return;
      this.#leave(a);
      if (a.key !== undefined) this.#listener.admission?.release(a.key);
      a.key = undefined;
      this.#host.left();
    });
  }

  #leave(a: Arrival): void {
    a.done = true;
    if (!a.tracked) return;
    this.#waiting.delete(a);
    a.raw.off('error', noop);
    a.secure?.off('error', noop);
  }

  /**
   * Turns a peer away. One `ERROR` line when the socket can carry it without
   * waiting (plain, or TLS after its handshake); a peer that failed the PROXY
   * stage is a proxy speaking nonsense, and a TLS peer before its handshake
   * has no session: those are only closed.
   */
  #refuse(a: Arrival, code: string, reason: string, error?: Error): void {
    const listener = this.#listener;
    const { addr, port } = addrPort(a.peer);
    const socket = a.socket;
    const wasTracked = a.tracked;
    this.#leave(a);
    if (a.key !== undefined) listener.admission?.release(a.key);
    a.key = undefined;
    if (a.upgraded !== undefined) {
      // An open WebSocket: the refusal is its close frame (1008, policy violation).
      // Read again (it was paused at the upgrade) so the peer's close frame completes the handshake.
      a.upgraded.ws.resume();
      a.upgraded.ws.close(1008, reason.slice(0, 120));
    } else if (!socket.destroyed) {
      // A WebSocket listener's peer speaks HTTP until the upgrade, and its refusals answer in HTTP already.
      const canWrite =
        !code.startsWith('ERR_PROXY') &&
        listener.config.websocket === undefined &&
        (a.secure !== undefined || listener.config.tlsAcceptor === undefined);
      if (canWrite) {
        socket.on('error', noop);
        socket.end(errorLine(addr === '' ? '*' : addr, reason));
        socket.once('finish', () => socket.destroy());
        // A peer that does not read gets no more than the usual linger; the timer goes with the socket,
        // so a storm of refusals does not keep thousands of dead sockets for those 2 s.
        const linger = setTimeout(() => socket.destroy(), REFUSAL_LINGER).unref();
        socket.once('close', () => { clearTimeout(linger); });
      } else if (!code.startsWith('ERR_WS')) {
        socket.destroy();
      }
    }
    if (wasTracked) this.#host.left();
    const refusal: ConnectionRefusal = { listener, addr, port, code, reason };
    if (error !== undefined) refusal.error = error;
    if (a.proxy !== undefined) refusal.proxy = a.proxy;
    this.#host.refused(refusal);
  }
}

/** The ERROR line of a refusal, through the formatter like every line ircsock writes. */
function errorLine(addr: string, reason: string): string {
  // The reason may come from an application hook: CR, LF or NUL in it must not start a new line.
  const safe = reason.replace(/[\0\r\n]+/g, ' ');
  return formatLine({ command: 'ERROR', params: [`Closing link: ${addr} (${safe})`] }) + '\r\n';
}

function endpointOf(e: ProxyEndpoint): Endpoint {
  if ('path' in e) return { path: e.path };
  return { address: e.address, port: e.port, family: e.address.includes(':') ? 6 : 4 };
}

function addrPort(e: Endpoint): { addr: string; port: number } {
  return 'address' in e ? { addr: e.address, port: e.port } : { addr: '', port: 0 };
}

function noop(): void {
  // An error before a connection owns the socket: its 'close' follows, and is what counts.
}
