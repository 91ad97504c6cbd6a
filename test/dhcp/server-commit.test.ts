/**
 * The DHCP socket loop's commit rule, over loopback with a real UDP client: a reply whose handling
 * queued a durable change (an ACK for a binding) leaves only after the handler's flush succeeded;
 * any other reply (an OFFER, a NAK) leaves at once; a failed flush drops exactly the replies that
 * waited for it and the loop keeps serving.
 *
 * The handler here is a test double (named so): the policy is tested with real clients in
 * full.test.ts and leases.test.ts; this file isolates the server's ordering, which a real client
 * cannot observe. Requests go to the PXE port, whose replies return to the source address, so the
 * test needs no broadcast and no namespace.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import { decodePacket, encodePacket, type DhcpPacket } from '../../src/protocol/dhcp/packet.js';
import { DhcpServer, type DhcpHandler, type DhcpRequest } from '../../src/servers/dhcp/index.js';

function request(type: 'DISCOVER' | 'REQUEST', xid: number): Buffer {
  return encodePacket({
    op: 1, htype: 1, hlen: 6, hops: 0, xid, secs: 0, flags: 0,
    ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0',
    chaddr: Buffer.from('525400aabb01' + '00'.repeat(10), 'hex'), sname: '', file: '',
    options: { messageType: type, other: [] },
  });
}

/** Handler double: OFFER for DISCOVER (nothing durable), ACK for REQUEST (one queued write). */
class HandlerDouble implements DhcpHandler {
  queuedWrites = 0;
  failFlush = false;
  readonly log: string[] = [];

  handle({ packet }: DhcpRequest): DhcpPacket | null {
    const ack = packet.options.messageType === 'REQUEST';
    if (ack) this.queuedWrites++;
    this.log.push(`handle ${packet.xid}`);
    return { ...packet, op: 2, options: { messageType: ack ? 'ACK' : 'OFFER', serverId: '127.0.0.1', other: [] } };
  }

  flush(): void {
    this.log.push(this.failFlush ? 'flush failed' : 'flush');
    if (this.failFlush) throw new Error('disk full (test double)');
  }
}

let server: { stop: () => Promise<void> } | undefined;
let client: Socket | undefined;
afterEach(async () => {
  client?.close();
  await server?.stop();
  client = undefined;
  server = undefined;
});

async function start(handler: DhcpHandler) {
  const metrics = createMetrics({ defaultMetrics: false });
  // Ports above the ephemeral range's usual start, picked per run so parallel files never collide.
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const dhcp = new DhcpServer({ interfaces: ['lo'], port, pxePort: port + 1, handler, logger: silentLogger, metrics });
  const controller = new AbortController();
  const running = await dhcp.start(controller.signal);
  server = { stop: () => (controller.abort(), running.done) };
  const socket = createSocket('udp4');
  client = socket;
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const replies = new Map<number, DhcpPacket>();
  socket.on('message', (m) => {
    const p = decodePacket(m);
    replies.set(p.xid, p);
  });
  const ask = async (type: 'DISCOVER' | 'REQUEST', xid: number, waitMs = 300): Promise<DhcpPacket | undefined> => {
    socket.send(request(type, xid), port + 1, '127.0.0.1');
    for (let waited = 0; waited < waitMs && !replies.has(xid); waited += 10) await new Promise((r) => setTimeout(r, 10));
    return replies.get(xid);
  };
  const counter = async (name: string, label: string) => {
    const metric = (await metrics.getMetricsAsJSON()).find((m) => m.name === name);
    return metric?.values.find((v) => Object.values(v.labels).includes(label))?.value ?? 0;
  };
  return { ask, counter };
}

describe('DHCP server commit ordering (loopback, handler double)', () => {
  it('an OFFER leaves without waiting for a commit; an ACK only after its flush succeeded', async () => {
    const handler = new HandlerDouble();
    const { ask, counter } = await start(handler);

    handler.failFlush = true;
    expect((await ask('DISCOVER', 1))?.options.messageType).toBe('OFFER');
    // The flush after that DISCOVER failed, yet the OFFER was sent: it did not wait for it.
    expect(handler.log).toContain('flush failed');

    expect(await ask('REQUEST', 2)).toBeUndefined();
    expect(await counter('bootrack_dhcp_dropped_total', 'commit_failed')).toBeGreaterThanOrEqual(1);

    handler.failFlush = false;
    const ack = await ask('REQUEST', 3);
    expect(ack?.options.messageType).toBe('ACK');
    const handled = handler.log.indexOf('handle 3');
    expect(handler.log.indexOf('flush', handled)).toBeGreaterThan(handled);
    // The loop kept serving after the failed commits, and counted what it sent.
    expect((await ask('DISCOVER', 4))?.options.messageType).toBe('OFFER');
    expect(await counter('bootrack_dhcp_sent_total', 'ACK')).toBe(1);
    expect(await counter('bootrack_dhcp_sent_total', 'OFFER')).toBe(2);
  });

  it('a burst of REQUESTs shares commits (fewer flushes than ACKs) and every ACK is answered', async () => {
    const handler = new HandlerDouble();
    const { ask } = await start(handler);
    const n = 200;
    const answers = await Promise.all(Array.from({ length: n }, (_, i) => ask('REQUEST', 100 + i, 2000)));
    expect(answers.filter((a) => a?.options.messageType === 'ACK')).toHaveLength(n);
    const flushes = handler.log.filter((l) => l === 'flush').length;
    expect(flushes).toBeGreaterThan(0);
    expect(flushes).toBeLessThan(n);
  });
});
