import { readFileSync } from 'node:fs';

/** Reads the UDP payloads of a classic libpcap file (Ethernet, IPv4). Test helper only. */
export function udpPayloads(path: string): Array<{ dst: string; srcPort: number; dstPort: number; payload: Buffer }> {
  const buf = readFileSync(path);
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) throw new Error(`${path}: not a pcap file`);
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linktype = u32(20);
  if (linktype !== 1) throw new Error(`${path}: link type ${linktype}, expected Ethernet`);
  const out: Array<{ dst: string; srcPort: number; dstPort: number; payload: Buffer }> = [];
  let at = 24;
  while (at + 16 <= buf.length) {
    const incl = u32(at + 8);
    const frame = buf.subarray(at + 16, at + 16 + incl);
    at += 16 + incl;
    if (frame.readUInt16BE(12) !== 0x0800) continue;
    const ihl = (frame[14]! & 0x0f) * 4;
    if (frame[14 + 9] !== 17) continue;
    const udp = 14 + ihl;
    const len = frame.readUInt16BE(udp + 4);
    out.push({ dst: [...frame.subarray(30, 34)].join('.'), srcPort: frame.readUInt16BE(udp), dstPort: frame.readUInt16BE(udp + 2), payload: Buffer.from(frame.subarray(udp + 8, udp + len)) });
  }
  return out;
}
