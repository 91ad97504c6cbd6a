import { BOOTREPLY, FILE_LENGTH, FLAG_BROADCAST, SNAME_LENGTH, type MessageType } from '../protocol/dhcp/constants.js';
import { ZERO_IP } from '../protocol/dhcp/ip.js';
import type { DhcpOptions } from '../protocol/dhcp/options.js';
import type { DhcpPacket } from '../protocol/dhcp/packet.js';
import type { BootClient } from '../protocol/pxe/classify.js';
import { bootFileDiscoveryControl } from '../protocol/pxe/vendor.js';
import type { BootAnswer } from './dhcp-boot.js';
import type { AddressPool } from './dhcp-pool.js';

/** A reply skeleton for `request` (RFC 2131 table 3): xid, flags, giaddr and chaddr copied; 53 and 54 set; 61 and 82 echoed. */
export function replyTo(request: DhcpPacket, type: MessageType, serverId: string): DhcpPacket {
  const options: DhcpOptions = { messageType: type, serverId, other: [] };
  // RFC 3046 §2.2: the server echoes the relay agent information option unchanged.
  if (request.options.relayAgent) options.relayAgent = request.options.relayAgent;
  // RFC 6842 §3: the client identifier comes back unaltered, so a client can match the reply to itself.
  if (request.options.clientId) options.clientId = request.options.clientId;
  return {
    op: BOOTREPLY,
    htype: request.htype,
    hlen: request.hlen,
    hops: 0,
    xid: request.xid,
    secs: 0,
    // RFC 2131 §4.3.2: a NAK through a relay asks it to broadcast.
    flags: type === 'NAK' && request.giaddr !== ZERO_IP ? request.flags | FLAG_BROADCAST : request.flags,
    ciaddr: ZERO_IP,
    yiaddr: ZERO_IP,
    siaddr: ZERO_IP,
    giaddr: request.giaddr,
    chaddr: Buffer.from(request.chaddr),
    sname: '',
    file: '',
    options,
  };
}

/** Subnet configuration: mask, router, DNS, domain, broadcast. */
export function addSubnetOptions(reply: DhcpPacket, pool: AddressPool): void {
  const o = reply.options;
  o.subnetMask = pool.subnetMask;
  o.broadcastAddress = pool.broadcast;
  if (pool.config.router) o.routers = [pool.config.router];
  if (pool.config.dnsServers.length) o.dnsServers = [...pool.config.dnsServers];
  if (pool.config.domainName) o.domainName = pool.config.domainName;
}

/** Lease time with T1 = 50 % and T2 = 87.5 % (RFC 2131 §4.4.5). */
export function addLeaseTimes(reply: DhcpPacket, seconds: number): void {
  reply.options.leaseSeconds = seconds;
  reply.options.renewalSeconds = Math.floor(seconds / 2);
  reply.options.rebindingSeconds = Math.floor((seconds * 7) / 8);
}

/**
 * The boot answer goes in option 67 and, when it fits, the BOOTP `file` field too: OVMF, AAVMF and
 * iPXE read 67, older ROMs and udhcpc read `file` (firmware-notes.md pitfall 13). siaddr is the
 * TFTP next-server. PXE clients get their UUID (97) echoed, as the PXE spec asks.
 */
export function addBootAnswer(reply: DhcpPacket, request: DhcpPacket, client: BootClient, answer: BootAnswer | null, proxy: boolean): void {
  if (client.kind !== 'os' && request.options.clientUuid) reply.options.clientUuid = request.options.clientUuid;
  const vendorClass = answer?.vendorClass ?? (proxy ? 'PXEClient' : null);
  if (vendorClass) reply.options.vendorClass = vendorClass;
  if (proxy && client.kind === 'pxe') reply.options.vendorSpecific = bootFileDiscoveryControl();
  if (!answer) return;
  reply.siaddr = answer.nextServer;
  reply.options.bootfileName = answer.bootFile;
  if (Buffer.byteLength(answer.bootFile, 'latin1') < FILE_LENGTH) reply.file = answer.bootFile;
  if (proxy && answer.nextServer.length < SNAME_LENGTH) reply.sname = answer.nextServer;
}
