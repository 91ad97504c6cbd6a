/**
 * Fuzzer run as its own process (inside the test's namespace):
 *   tsx test/helpers/tftp-fuzz.ts --host H --port 69 --count N --file NAME
 * Opens a few live transfers of NAME (lock-step, slowly acknowledged, so their ports stay open),
 * then sends N random and mutated datagrams, half to the listening port and half to the live
 * transfer ports (from foreign ports and from the transfers' own peers). Prints a JSON report.
 */
import { createSocket, type Socket } from 'node:dgram';
import { parseArgs } from 'node:util';
import { decodePacket, encodePacket, type TftpPacket } from '../../src/protocol/tftp/index.js';

const { values } = parseArgs({ options: { host: { type: 'string' }, port: { type: 'string' }, count: { type: 'string' }, file: { type: 'string' } } });
const host = values.host ?? '127.0.0.1';
const port = Number(values.port ?? 69);
const count = Number(values.count ?? 100_000);
const file = values.file ?? 'f1m';

// Deterministic PRNG (xorshift32) so a failing run can be replayed.
let seed = 0x9e3779b9;
const rnd = (n: number): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
};
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => rnd(256)));

const SEEDS: TftpPacket[] = [
  { op: 'RRQ', filename: file, mode: 'octet', options: [['blksize', '1468'], ['tsize', '0'], ['windowsize', '8']] },
  { op: 'RRQ', filename: '../../etc/passwd', mode: 'netascii', options: [] },
  { op: 'WRQ', filename: 'x', mode: 'octet', options: [] },
  { op: 'ACK', block: 1 },
  { op: 'ACK', block: 65535 },
  { op: 'DATA', block: 1, data: Buffer.from('hello') },
  { op: 'ERROR', code: 8, message: 'no' },
  { op: 'OACK', options: [['blksize', '99999']] },
];
const seedBytes = SEEDS.map((p) => encodePacket(p));

function datagram(): Buffer {
  const kind = rnd(4);
  if (kind === 0) return bytes(rnd(64));
  if (kind === 1) return bytes(rnd(1600));
  const b = Buffer.from(seedBytes[rnd(seedBytes.length)]!);
  if (kind === 2) {
    for (let i = 0, n = 1 + rnd(4); i < n && b.length; i++) b[rnd(b.length)] = rnd(256);
    return b;
  }
  return b.subarray(0, rnd(b.length + 1)); // truncated
}

const bind = (): Promise<Socket> =>
  new Promise((resolve) => {
    const s = createSocket('udp4');
    s.on('error', () => undefined);
    s.bind(0, () => resolve(s));
  });

interface Live {
  socket: Socket;
  tid: number;
  acked: number;
}
const live: Live[] = [];
let closing = false;
for (let i = 0; i < 4; i++) {
  const s = await bind();
  const l: Live = { socket: s, tid: 0, acked: 0 };
  s.on('message', (msg, rinfo) => {
    const d = decodePacket(msg);
    if (!d.ok || d.packet.op !== 'DATA') return;
    l.tid = rinfo.port;
    const block = d.packet.block;
    // Slow lock-step: the transfer stays open for the whole fuzz run.
    setTimeout(() => {
      if (closing) return;
      l.acked++;
      s.send(encodePacket({ op: 'ACK', block }), rinfo.port, host);
    }, 20);
  });
  s.send(encodePacket({ op: 'RRQ', filename: file, mode: 'octet', options: [] }), port, host);
  live.push(l);
}
const deadline = Date.now() + 10_000;
while (live.some((l) => l.tid === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
if (live.some((l) => l.tid === 0)) throw new Error('live transfers did not start');

const fuzzers = await Promise.all([bind(), bind(), bind(), bind()]);
let toListen = 0;
let toTransfers = 0;
let fromPeers = 0;
for (let i = 0; i < count; i++) {
  const d = datagram();
  if (i % 2 === 0) {
    fuzzers[rnd(fuzzers.length)]!.send(d, port, host);
    toListen++;
  } else {
    const l = live[rnd(live.length)]!;
    // Mostly from foreign ports (must get ERROR 5); every 16th from the transfer's own peer.
    if (i % 32 === 1) {
      // Never an ERROR from the peer itself: that would legitimately end the transfer.
      if (d.length >= 2 && d.readUInt16BE(0) === 5) d.writeUInt16BE(4, 0);
      l.socket.send(d, l.tid, host);
      fromPeers++;
    } else fuzzers[rnd(fuzzers.length)]!.send(d, l.tid, host);
    toTransfers++;
  }
  if (i % 256 === 255) await new Promise((r) => setImmediate(r));
}
await new Promise((r) => setTimeout(r, 500));
process.stdout.write(JSON.stringify({ sent: count, toListen, toTransfers, fromPeers, liveTids: live.map((l) => l.tid), liveAcked: live.map((l) => l.acked) }) + '\n');
closing = true;
for (const s of [...fuzzers, ...live.map((l) => l.socket)]) s.close();
