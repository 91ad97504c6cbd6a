import { BootrackError } from '../../common/errors.js';
import {
  BOOTREPLY,
  BOOTREQUEST,
  DEFAULT_MAX_PAYLOAD,
  FILE_LENGTH,
  FILE_OFFSET,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  MIN_PACKET_LENGTH,
  OPT,
  OPTIONS_OFFSET,
  SNAME_LENGTH,
  SNAME_OFFSET,
} from './constants.js';
import { ipFromBytes, writeIp } from './ip.js';
import { optionInstances, optionsLength, typeOptions, writeOptions, type DhcpOptions } from './options.js';

/** One DHCP message (RFC 2131 §2), bytes ⇄ typed value. Addresses are dotted quads. */
export interface DhcpPacket {
  op: 1 | 2;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** All 16 bytes of chaddr; only the first hlen are the hardware address. */
  chaddr: Buffer;
  sname: string;
  file: string;
  options: DhcpOptions;
}

function malformed(reason: string, details: Record<string, unknown> = {}): BootrackError {
  return new BootrackError('DHCP_MALFORMED', `malformed DHCP message: ${reason}`, { reason, ...details });
}

/**
 * Reads one option region. PAD is a single byte; END stops the region. Repeated codes are
 * concatenated in order (RFC 3396). Throws DHCP_MALFORMED on a TLV that runs past the region.
 */
function readRegion(buf: Buffer, start: number, end: number, into: Map<number, Buffer>, region: string): void {
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === OPT.PAD) {
      i += 1;
      continue;
    }
    if (code === OPT.END) return;
    if (i + 1 >= end) throw malformed('option length byte missing', { region, code, offset: i });
    const len = buf[i + 1]!;
    if (i + 2 + len > end) throw malformed('option runs past the end', { region, code, offset: i, length: len });
    const data = buf.subarray(i + 2, i + 2 + len);
    const before = into.get(code);
    // RFC 3396: a code that appears again continues the same value (rare: only long options).
    into.set(code, before === undefined ? data : Buffer.concat([before, data]));
    i += 2 + len;
  }
}

function cString(buf: Buffer, offset: number, length: number): string {
  const field = buf.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('latin1');
}

/** Decodes a DHCP message; throws DHCP_MALFORMED naming what is wrong. Never reads past `buf`. */
export function decodePacket(buf: Buffer): DhcpPacket {
  if (buf.length < OPTIONS_OFFSET) throw malformed('shorter than header and magic cookie', { length: buf.length });
  const op = buf[0]!;
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw malformed('op is neither BOOTREQUEST nor BOOTREPLY', { op });
  const hlen = buf[2]!;
  if (hlen > 16) throw malformed('hlen exceeds the 16-byte chaddr field', { hlen });
  const cookie = buf.readUInt32BE(HEADER_LENGTH);
  if (cookie !== MAGIC_COOKIE) throw malformed('bad magic cookie', { cookie: cookie.toString(16) });
  const parts = new Map<number, Buffer>();
  readRegion(buf, OPTIONS_OFFSET, buf.length, parts, 'options');
  // RFC 2132 §9.3: option overload moves more options into file (1), sname (2) or both (3), read in that order.
  const overload = parts.get(OPT.OVERLOAD);
  let overloadValue = 0;
  if (overload !== undefined) {
    if (overload.length !== 1 || overload[0]! < 1 || overload[0]! > 3) throw malformed('bad option overload value', { value: [...overload] });
    overloadValue = overload[0]!;
    if (overloadValue & 1) readRegion(buf, FILE_OFFSET, FILE_OFFSET + FILE_LENGTH, parts, 'file');
    if (overloadValue & 2) readRegion(buf, SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH, parts, 'sname');
  }
  return {
    op,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: buf.readUInt32BE(4),
    secs: buf.readUInt16BE(8),
    flags: buf.readUInt16BE(10),
    ciaddr: ipFromBytes(buf, 12),
    yiaddr: ipFromBytes(buf, 16),
    siaddr: ipFromBytes(buf, 20),
    giaddr: ipFromBytes(buf, 24),
    chaddr: Buffer.from(buf.subarray(28, 44)),
    sname: overloadValue & 2 ? '' : cString(buf, SNAME_OFFSET, SNAME_LENGTH),
    file: overloadValue & 1 ? '' : cString(buf, FILE_OFFSET, FILE_LENGTH),
    options: typeOptions(parts),
  };
}

export interface EncodeOptions {
  /** Largest DHCP payload the peer accepts (option 57 minus IP/UDP headers); default 548. */
  maxPayload?: number;
}

interface Layout {
  /** Everything fits in the options field: written straight into the datagram. */
  direct: boolean;
  main: Buffer[];
  file: Buffer[];
  sname: Buffer[];
  length: number;
}

function fits(list: Buffer[], chunk: Buffer, capacity: number): boolean {
  return list.reduce((n, b) => n + b.length, 0) + chunk.length <= capacity;
}

/**
 * Decides where each option instance goes. Options stay in the options field when they fit in
 * maxPayload; otherwise, if file and sname are free, they overflow into file then sname with
 * option 52 (RFC 2132 §9.3). Throws DHCP_ENCODE_FAILED when even that is not enough.
 */
function layout(packet: DhcpPacket, options: EncodeOptions): Layout {
  const maxPayload = Math.max(options.maxPayload ?? DEFAULT_MAX_PAYLOAD, MIN_PACKET_LENGTH);
  const total = optionsLength(packet.options);
  const plain = OPTIONS_OFFSET + total + 1;
  if (plain <= maxPayload) return { direct: true, main: [], file: [], sname: [], length: Math.max(plain, MIN_PACKET_LENGTH) };
  const instances = optionInstances(packet.options);
  const tooLarge = () =>
    new BootrackError('DHCP_ENCODE_FAILED', `options need ${total} bytes; at most ${maxPayload} bytes may be sent`, { optionBytes: total, maxPayload });
  const mainCapacity = maxPayload - OPTIONS_OFFSET - 3 - 1; // 3 for option 52 itself, 1 for END
  const regions = { main: [] as Buffer[], file: [] as Buffer[], sname: [] as Buffer[] };
  const order: Array<['main' | 'file' | 'sname', number]> = [['main', mainCapacity]];
  if (packet.file === '') order.push(['file', FILE_LENGTH - 1]);
  if (packet.sname === '') order.push(['sname', SNAME_LENGTH - 1]);
  let r = 0;
  for (const chunk of instances) {
    while (r < order.length && !fits(regions[order[r]![0]], chunk, order[r]![1])) r++;
    if (r >= order.length) throw tooLarge();
    regions[order[r]![0]].push(chunk);
  }
  const used = regions.main.reduce((n, b) => n + b.length, 0);
  return { direct: false, ...regions, length: Math.max(OPTIONS_OFFSET + 3 + used + 1, MIN_PACKET_LENGTH) };
}

/** Bytes `encodePacket` will write for this packet: the length invariant the tests check. */
export function encodingLength(packet: DhcpPacket, options: EncodeOptions = {}): number {
  return layout(packet, options).length;
}

function writeField(buf: Buffer, offset: number, length: number, value: string, name: string): void {
  if (value === '') return;
  const size = Buffer.byteLength(value, 'latin1');
  // One byte stays NUL so the field reads back as the same string.
  if (size >= length) throw new BootrackError('DHCP_ENCODE_FAILED', `${name} is ${size} bytes; at most ${length - 1} fit`, { field: name });
  buf.write(value, offset, size, 'latin1');
}

export function encodePacket(packet: DhcpPacket, options: EncodeOptions = {}): Buffer {
  const plan = layout(packet, options);
  const buf = Buffer.allocUnsafe(plan.length).fill(0);
  if (packet.hlen > 16 || packet.chaddr.length > 16) throw new BootrackError('DHCP_ENCODE_FAILED', 'chaddr is at most 16 bytes', { hlen: packet.hlen });
  buf[0] = packet.op;
  buf[1] = packet.htype;
  buf[2] = packet.hlen;
  buf[3] = packet.hops;
  buf.writeUInt32BE(packet.xid >>> 0, 4);
  buf.writeUInt16BE(packet.secs & 0xffff, 8);
  buf.writeUInt16BE(packet.flags & 0xffff, 10);
  writeIp(buf, packet.ciaddr, 12);
  writeIp(buf, packet.yiaddr, 16);
  writeIp(buf, packet.siaddr, 20);
  writeIp(buf, packet.giaddr, 24);
  packet.chaddr.copy(buf, 28, 0, Math.min(16, packet.chaddr.length));
  buf.writeUInt32BE(MAGIC_COOKIE, HEADER_LENGTH);
  let at = OPTIONS_OFFSET;
  const overload = (plan.file.length ? 1 : 0) | (plan.sname.length ? 2 : 0);
  if (overload) {
    buf[at++] = OPT.OVERLOAD;
    buf[at++] = 1;
    buf[at++] = overload;
  }
  if (plan.direct) at = writeOptions(packet.options, buf, at);
  for (const chunk of plan.main) at += chunk.copy(buf, at);
  buf[at] = OPT.END;
  const fill = (chunks: Buffer[], offset: number) => {
    let p = offset;
    for (const chunk of chunks) p += chunk.copy(buf, p);
    buf[p] = OPT.END;
  };
  if (plan.file.length) fill(plan.file, FILE_OFFSET);
  else writeField(buf, FILE_OFFSET, FILE_LENGTH, packet.file, 'file');
  if (plan.sname.length) fill(plan.sname, SNAME_OFFSET);
  else writeField(buf, SNAME_OFFSET, SNAME_LENGTH, packet.sname, 'sname');
  return buf;
}

/** The client's hardware address as colon hex (any hlen), for logs and keys. */
export function chaddrHex(packet: DhcpPacket): string {
  return [...packet.chaddr.subarray(0, Math.min(packet.hlen, 16))].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
