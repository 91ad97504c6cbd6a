import { BROADCAST_IP, ZERO_IP } from '../../protocol/dhcp/ip.js';
import type { DhcpPacket } from '../../protocol/dhcp/packet.js';

export const CLIENT_PORT = 68;

export interface Destination {
  address: string;
  port: number;
}

/**
 * Where a reply goes, RFC 2131 §4.1 (and PXE 2.1 for port 4011):
 * - a request that came to the PXE port (4011) is answered to its source address and port: EDK2
 *   sends from 4011 and listens there, iPXE sends from 68 (firmware-notes.md pitfall 8);
 * - giaddr set: to the relay at giaddr, server port (67);
 * - NAK without a relay: broadcast, the client may have no usable address;
 * - ciaddr set (RENEWING, INFORM): unicast to ciaddr:68;
 * - otherwise broadcast to 255.255.255.255:68. The RFC allows unicast to yiaddr when the broadcast
 *   bit is clear, but that needs an ARP entry Node cannot write, and every client accepts broadcast.
 */
export function replyDestination(request: DhcpPacket, reply: DhcpPacket, via: { pxePort: boolean; source: Destination; serverPort: number }): Destination {
  if (via.pxePort) return via.source;
  if (request.giaddr !== ZERO_IP) return { address: request.giaddr, port: via.serverPort };
  if (reply.options.messageType === 'NAK') return { address: BROADCAST_IP, port: CLIENT_PORT };
  if (request.ciaddr !== ZERO_IP) return { address: request.ciaddr, port: CLIENT_PORT };
  return { address: BROADCAST_IP, port: CLIENT_PORT };
}
