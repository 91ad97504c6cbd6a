import { describe, expect, it } from 'vitest';
import type { DhcpPacket } from '../../protocol/dhcp/packet.js';
import { replyDestination } from './destination.js';

const pkt = (h: Partial<DhcpPacket>, type: 'OFFER' | 'ACK' | 'NAK' | 'DISCOVER' = 'DISCOVER'): DhcpPacket => ({
  op: 1, htype: 1, hlen: 6, hops: 0, xid: 1, secs: 0, flags: 0, ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0',
  chaddr: Buffer.alloc(16), sname: '', file: '', options: { messageType: type, other: [] }, ...h,
});
const via = { pxePort: false, source: { address: '10.0.0.9', port: 68 }, serverPort: 67 };

describe('RFC 2131 §4.1 reply destinations', () => {
  it('relayed: giaddr, server port', () => {
    expect(replyDestination(pkt({ giaddr: '10.9.0.1', ciaddr: '10.9.0.5' }), pkt({}, 'ACK'), via)).toEqual({ address: '10.9.0.1', port: 67 });
  });
  it('relayed NAK still goes to the relay', () => {
    expect(replyDestination(pkt({ giaddr: '10.9.0.1' }), pkt({}, 'NAK'), via)).toEqual({ address: '10.9.0.1', port: 67 });
  });
  it('NAK without a relay is broadcast, even with ciaddr', () => {
    expect(replyDestination(pkt({ ciaddr: '10.0.0.5' }), pkt({}, 'NAK'), via)).toEqual({ address: '255.255.255.255', port: 68 });
  });
  it('ciaddr set (RENEWING, INFORM): unicast to ciaddr:68', () => {
    expect(replyDestination(pkt({ ciaddr: '10.0.0.5' }), pkt({}, 'ACK'), via)).toEqual({ address: '10.0.0.5', port: 68 });
  });
  it('otherwise broadcast to :68 whatever the broadcast flag', () => {
    expect(replyDestination(pkt({ flags: 0x8000 }), pkt({}, 'OFFER'), via)).toEqual({ address: '255.255.255.255', port: 68 });
    expect(replyDestination(pkt({ flags: 0 }), pkt({}, 'OFFER'), via)).toEqual({ address: '255.255.255.255', port: 68 });
  });
  it('PXE port 4011: back to the source address and port (EDK2 uses 4011, iPXE 68)', () => {
    expect(replyDestination(pkt({ ciaddr: '10.0.0.5' }), pkt({}, 'ACK'), { ...via, pxePort: true, source: { address: '10.0.0.5', port: 4011 } })).toEqual({ address: '10.0.0.5', port: 4011 });
  });
});
