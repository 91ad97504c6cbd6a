/**
 * A scripted DHCP peer for tests (crafted packets where no real client can do the step: relays,
 * DECLINE, INIT-REBOOT with a foreign address, PXE 4011 requests, fuzzing). Runs inside a client
 * namespace: `ip netns exec brkdh-cli node --import tsx dhcp-client.ts <json>`. Its socket is bound to
 * the interface with the same SO_BINDTODEVICE addon, so it can broadcast without an address.
 * Prints one JSON line: {replies: [{step, from, port, hex}], sent}.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { bindSocketToDevice } from '../../src/servers/dhcp/bind.js';
import { decodePacket, type DhcpPacket } from '../../src/protocol/dhcp/packet.js';
import { requestHex } from './dhcp-packets.js';

interface Step {
  /** hex of the datagram to send */
  hex: string;
  to: string;
  port: number;
  /** ms to collect replies after sending */
  waitMs: number;
}

interface Args {
  iface: string;
  bindPort: number;
  bindAddress?: string;
  steps?: Step[];
  fuzz?: { count: number; to: string; port: number; seeds: string[] };
  /** Full DISCOVER → OFFER → REQUEST → ACK per MAC, one after another. */
  dora?: { macs: string[]; to: string; port: number; timeoutMs: number };
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const socket = createSocket({ type: 'udp4', reuseAddr: true });
await new Promise<void>((resolve) => socket.bind({ port: args.bindPort, address: args.bindAddress ?? '0.0.0.0' }, resolve));
socket.setBroadcast(true);
bindSocketToDevice(socket, args.iface);
const replies: Array<{ step: number; from: string; port: number; hex: string }> = [];
let step = -1;
let fuzzReplies = 0;
socket.on('message', (msg, rinfo) => {
  if (step < 0) fuzzReplies++;
  else replies.push({ step, from: rinfo.address, port: rinfo.port, hex: msg.toString('hex') });
});
const send = (buf: Buffer, port: number, to: string) => new Promise<void>((resolve) => socket.send(buf, port, to, () => resolve()));
let sent = 0;
let probesAnswered = 0;
let probesLost = 0;
if (args.fuzz) {
  const seeds = args.fuzz.seeds.map((h) => Buffer.from(h, 'hex'));
  for (let n = 0; n < args.fuzz.count; n++) {
    let bytes: Buffer;
    if (n % 4 === 0) bytes = randomBytes(n % 600);
    else {
      bytes = Buffer.from(seeds[n % seeds.length]!);
      const flips = 1 + (n % 8);
      for (let f = 0; f < flips; f++) bytes[(n * 7919 + f * 104729) % bytes.length] = (n * 31 + f) & 255;
      if (n % 5 === 0) bytes = bytes.subarray(0, (n * 13) % bytes.length);
    }
    await send(bytes, args.fuzz.port, args.fuzz.to);
    sent++;
    // Flow control: every 50 datagrams (well under what a default socket buffer holds) a valid DISCOVER probe; the daemon's socket queue is FIFO, so
    // once the probe's OFFER is back, everything sent before it has been processed (not dropped by
    // the kernel for a full buffer). A probe that gets no answer within 3 s is counted as lost.
    if (n % 50 === 49) {
      const xid = 0x7e570000 + n;
      const answered = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => (socket.off('message', on), resolve(false)), 3000);
        const on = (msg: Buffer) => {
          if (msg.length >= 8 && msg.readUInt32BE(4) === xid) (clearTimeout(timer), socket.off('message', on), resolve(true));
        };
        socket.on('message', on);
      });
      await send(Buffer.from(requestHex('52:54:00:dd:7e:57', { messageType: 'DISCOVER' }, { xid }), 'hex'), args.fuzz.port, args.fuzz.to);
      if (await answered) probesAnswered++;
      else probesLost++;
    }
  }
}
for (const [i, s] of (args.steps ?? []).entries()) {
  step = i;
  await send(Buffer.from(s.hex, 'hex'), s.port, s.to);
  sent++;
  await new Promise((r) => setTimeout(r, s.waitMs));
}
const dora: Array<{ mac: string; offered: string | null; acked: string | null; reply: string | null }> = [];
if (args.dora) {
  const d = args.dora;
  const next = (xid: number): Promise<DhcpPacket | null> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => (socket.off('message', on), resolve(null)), d.timeoutMs);
      const on = (msg: Buffer) => {
        try {
          const p = decodePacket(msg);
          if (p.xid !== xid) return;
          clearTimeout(timer);
          socket.off('message', on);
          resolve(p);
        } catch {
          /* not ours */
        }
      };
      socket.on('message', on);
    });
  for (const [i, mac] of d.macs.entries()) {
    const xid = 0x5000 + i;
    const offerP = next(xid);
    await send(Buffer.from(requestHex(mac, { messageType: 'DISCOVER' }, { xid }), 'hex'), d.port, d.to);
    const offer = await offerP;
    if (!offer || offer.options.messageType !== 'OFFER') {
      dora.push({ mac, offered: null, acked: null, reply: offer?.options.messageType ?? null });
      continue;
    }
    const ackP = next(xid);
    await send(Buffer.from(requestHex(mac, { messageType: 'REQUEST', serverId: offer.options.serverId, requestedIp: offer.yiaddr }, { xid }), 'hex'), d.port, d.to);
    const ack = await ackP;
    dora.push({ mac, offered: offer.yiaddr, acked: ack?.options.messageType === 'ACK' ? ack.yiaddr : null, reply: ack?.options.messageType ?? null });
  }
}
socket.close();
process.stdout.write(JSON.stringify({ replies, sent, fuzzReplies, dora, probesAnswered, probesLost }) + '\n');
