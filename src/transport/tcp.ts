import type { Socket } from 'node:net';
import type { IpEndpoint } from './transport.js';

interface NameHandle {
  getpeername?(out: RawName): number;
  getsockname?(out: RawName): number;
}
interface RawName {
  address?: string | undefined;
  port?: number | undefined;
}

// Accepted sockets of one listener share their local end: one object (and one
// address string) for all of them instead of one each.
let lastLocal: IpEndpoint | undefined;

function endpoint(name: RawName): IpEndpoint {
  const address = name.address ?? '';
  // From the address itself: the handle's `family` has been a number in some Node versions.
  return { address, port: name.port ?? 0, family: address.includes(':') ? 6 : 4 };
}

function sharedLocal(name: RawName): IpEndpoint {
  const prev = lastLocal;
  if (prev?.address === (name.address ?? '') && prev.port === (name.port ?? 0)) return prev;
  const next = Object.freeze(endpoint(name));
  lastLocal = next;
  return next;
}

/**
 * The endpoints of a connected TCP socket. A socket the peer already reset
 * may have lost its addresses: they come back empty, never as a throw.
 *
 * Read from the socket's handle when it has one: Node's `remoteAddress` and
 * `localAddress` getters cache both names on the socket (two objects per
 * connection, 112 bytes, kept for the socket's life) next to ours.
 */
export function tcpEndpoints(socket: Socket): { peer: IpEndpoint; local: IpEndpoint } {
  const handle = (socket as unknown as { _handle?: NameHandle | null })._handle;
  if (typeof handle?.getpeername === 'function' && typeof handle.getsockname === 'function') {
    const peer: RawName = {};
    const local: RawName = {};
    if (handle.getpeername(peer) === 0 && handle.getsockname(local) === 0) return { peer: endpoint(peer), local: sharedLocal(local) };
  }
  return {
    peer: endpoint({ address: socket.remoteAddress, port: socket.remotePort }),
    local: sharedLocal({ address: socket.localAddress, port: socket.localPort }),
  };
}
