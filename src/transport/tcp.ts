import net, { type Socket } from 'node:net';
import type { IpEndpoint } from './transport.js';

/**
 * The endpoints of a connected TCP socket. A socket the peer already reset
 * may have lost its addresses: they come back empty, never as a throw.
 */
export function tcpEndpoints(socket: Socket): { peer: IpEndpoint; local: IpEndpoint } {
  const local = socket.localAddress ?? '';
  return {
    peer: {
      address: socket.remoteAddress ?? '',
      port: socket.remotePort ?? 0,
      family: socket.remoteFamily === 'IPv6' ? 6 : 4,
    },
    local: { address: local, port: socket.localPort ?? 0, family: net.isIPv6(local) ? 6 : 4 },
  };
}
