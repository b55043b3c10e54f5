import type { Socket } from 'node:net';
import type { IpEndpoint } from './transport.js';

interface RawName {
  address?: string | undefined;
  port?: number | undefined;
}

// Accepted sockets of one listener share their local end: one object (and one
// address string) for all of them instead of one each.
let lastLocal: IpEndpoint | undefined;

function endpoint(name: RawName): IpEndpoint {
  const address = name.address ?? '';
  // The family from the address itself: one rule for every socket, IPv4-mapped addresses included.
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
 * Through Node's public getters only (they cache the names on the socket:
 * about 112 bytes a connection that reading the handle would save, not worth
 * reaching into Node's internals for).
 */
export function tcpEndpoints(socket: Socket): { peer: IpEndpoint; local: IpEndpoint } {
  return {
    peer: endpoint({ address: socket.remoteAddress, port: socket.remotePort }),
    local: sharedLocal({ address: socket.localAddress, port: socket.localPort }),
  };
}
