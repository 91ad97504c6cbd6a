import { encodePacket, type DhcpPacket } from '../../src/protocol/dhcp/packet.js';
import type { DhcpOptions } from '../../src/protocol/dhcp/options.js';
import { macToBytes, parseMac } from '../../src/common/mac.js';

/** Builds a client request as hex for test/helpers/dhcp-client.ts. */
export function requestHex(mac: string, options: Omit<DhcpOptions, 'other'> & { other?: DhcpOptions['other'] }, header: Partial<DhcpPacket> = {}): string {
  const chaddr = Buffer.alloc(16);
  macToBytes(parseMac(mac)).copy(chaddr);
  const packet: DhcpPacket = {
    op: 1, htype: 1, hlen: 6, hops: 0, xid: Math.floor(Math.random() * 0xffffffff), secs: 0, flags: 0,
    ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr, sname: '', file: '',
    ...header,
    options: { other: [], ...options },
  };
  return encodePacket(packet).toString('hex');
}

/** A PXE ROM DISCOVER as OVMF sends it (testdata/dhcp/ovmf-pxe.pcap), with another MAC. */
export function ovmfDiscover(mac: string, extra: Partial<DhcpOptions> = {}): string {
  return requestHex(mac, {
    messageType: 'DISCOVER', parameterRequestList: [1, 3, 6, 43, 54, 60, 66, 67, 97], maxMessageSize: 1472,
    vendorClass: 'PXEClient:Arch:00007:UNDI:003000', clientArch: [7], clientNdi: { type: 1, major: 3, minor: 0 },
    clientUuid: { type: 0, uuid: '7e57ab1e-0000-4000-8000-0000000000aa' }, ...extra,
  }, { flags: 0x8000 });
}
