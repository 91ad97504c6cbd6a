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
import { optionInstances, optionsLength, typeOptions, writeOptions, type DhcpOptions, type OptionSpans } from './options.js';

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
 * Which codes the current decode has seen: seenIn[code] === decodeNumber when it has. A code seen
 * twice is an RFC 3396 continuation, which only long options use.
 */
const seenIn = new Uint32Array(256);
let decodeNumber = 0;

/**
 * Reads one option region into spans (code, start, end). PAD is a single byte; END stops the
 * region. Returns whether a code appeared again (its values must then be joined). Throws
 * DHCP_MALFORMED on a TLV that runs past the region.
 */
function readRegion(buf: Buffer, start: number, end: number, spans: number[], region: string): boolean {
  let repeated = false;
  let i = start;
  while (i < end) {
    const code = buf[i]!;
    if (code === OPT.PAD) {
      i += 1;
      continue;
    }
    if (code === OPT.END) break;
    if (i + 1 >= end) throw malformed('option length byte missing', { region, code, offset: i });
    const len = buf[i + 1]!;
    if (i + 2 + len > end) throw malformed('option runs past the end', { region, code, offset: i, length: len });
    spans.push(code, i + 2, i + 2 + len);
    if (seenIn[code] === decodeNumber) repeated = true;
    else seenIn[code] = decodeNumber;
    i += 2 + len;
  }
  return repeated;
}

/** RFC 3396: the instances of a code, in the order they came, make one value. */
function joinContinuations(buf: Buffer, spans: number[]): OptionSpans {
  const pieces = new Map<number, Buffer[]>();
  for (let i = 0; i < spans.length; i += 3) {
    const piece = buf.subarray(spans[i + 1], spans[i + 2]);
    const list = pieces.get(spans[i]!);
    if (list) list.push(piece);
    else pieces.set(spans[i]!, [piece]);
  }
  const joined: number[] = [];
  let at = 0;
  for (const [code, list] of pieces) {
    const length = list.reduce((n, p) => n + p.length, 0);
    joined.push(code, at, at + length);
    at += length;
  }
  return { buf: Buffer.concat([...pieces.values()].flat()), spans: joined };
}

function cString(buf: Buffer, offset: number, length: number): string {
  if (buf[offset] === 0) return ''; // the usual case: an unused field
  const field = buf.subarray(offset, offset + length);
  const nul = field.indexOf(0);
  return field.toString('latin1', 0, nul === -1 ? field.length : nul);
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
  decodeNumber = decodeNumber === 0xffffffff ? 1 : decodeNumber + 1;
  if (decodeNumber === 1) seenIn.fill(0);
  const spans: number[] = [];
  let repeated = readRegion(buf, OPTIONS_OFFSET, buf.length, spans, 'options');
  // RFC 2132 §9.3: option overload moves more options into file (1), sname (2) or both (3), read in that order.
  let overloadValue = 0;
  if (seenIn[OPT.OVERLOAD] === decodeNumber) {
    const overload: number[] = [];
    for (let i = 0; i < spans.length; i += 3) if (spans[i] === OPT.OVERLOAD) overload.push(...buf.subarray(spans[i + 1], spans[i + 2]));
    if (overload.length !== 1 || overload[0]! < 1 || overload[0]! > 3) throw malformed('bad option overload value', { value: overload });
    overloadValue = overload[0]!;
    if (overloadValue & 1) repeated = readRegion(buf, FILE_OFFSET, FILE_OFFSET + FILE_LENGTH, spans, 'file') || repeated;
    if (overloadValue & 2) repeated = readRegion(buf, SNAME_OFFSET, SNAME_OFFSET + SNAME_LENGTH, spans, 'sname') || repeated;
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
    options: typeOptions(repeated ? joinContinuations(buf, spans) : { buf, spans }),
  };
}

export interface EncodeOptions {
  /** Largest DHCP payload the peer accepts (option 57 minus IP/UDP headers); default 548. */
  maxPayload?: number;
}

/** Where the option instances go when they do not all fit in the options field (RFC 2132 §9.3). */
interface Overflow {
  main: Buffer[];
  file: Buffer[];
  sname: Buffer[];
  length: number;
}

function fits(list: Buffer[], chunk: Buffer, capacity: number): boolean {
  return list.reduce((n, b) => n + b.length, 0) + chunk.length <= capacity;
}

function maxPayloadOf(options: EncodeOptions): number {
  return Math.max(options.maxPayload ?? DEFAULT_MAX_PAYLOAD, MIN_PACKET_LENGTH);
}

/** Datagram length when all options (`total` bytes) stay in the options field, or null when they do not fit. */
function directLength(total: number, maxPayload: number): number | null {
  const plain = OPTIONS_OFFSET + total + 1;
  return plain <= maxPayload ? Math.max(plain, MIN_PACKET_LENGTH) : null;
}

/**
 * Options that do not fit in maxPayload overflow, if file and sname are free, into file then sname
 * with option 52 (RFC 2132 §9.3); this decides where each instance goes. Throws
 * DHCP_ENCODE_FAILED when even that is not enough.
 */
function overflow(packet: DhcpPacket, instances: Buffer[], total: number, maxPayload: number): Overflow {
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
  return { ...regions, length: Math.max(OPTIONS_OFFSET + 3 + used + 1, MIN_PACKET_LENGTH) };
}

/** The TLVs of an options region, one buffer per instance. */
function instancesOf(region: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < region.length; at += 2 + region[at + 1]!) out.push(region.subarray(at, at + 2 + region[at + 1]!));
  return out;
}

/** Bytes `encodePacket` will write for this packet: the length invariant the tests check. */
export function encodingLength(packet: DhcpPacket, options: EncodeOptions = {}): number {
  const maxPayload = maxPayloadOf(options);
  const total = optionsLength(packet.options);
  return directLength(total, maxPayload) ?? overflow(packet, optionInstances(packet.options), total, maxPayload).length;
}

function writeField(buf: Buffer, offset: number, length: number, value: string, name: string): void {
  if (value === '') return;
  const size = Buffer.byteLength(value, 'latin1');
  // One byte stays NUL so the field reads back as the same string.
  if (size >= length) throw new BootrackError('DHCP_ENCODE_FAILED', `${name} is ${size} bytes; at most ${length - 1} fit`, { field: name });
  buf.write(value, offset, size, 'latin1');
}

/**
 * Where a message is assembled before its length is known: the header and every option are
 * written here in one pass, then copied into a datagram of exactly the right size. 64 KiB is the
 * largest UDP payload; options that would not fit fail to encode.
 */
const scratch = Buffer.alloc(65_536);

export function encodePacket(packet: DhcpPacket, options: EncodeOptions = {}): Buffer {
  if (packet.hlen > 16 || packet.chaddr.length > 16) throw new BootrackError('DHCP_ENCODE_FAILED', 'chaddr is at most 16 bytes', { hlen: packet.hlen });
  const maxPayload = maxPayloadOf(options);
  const head = scratch;
  head.fill(0, 0, OPTIONS_OFFSET);
  head[0] = packet.op;
  head[1] = packet.htype;
  head[2] = packet.hlen;
  head[3] = packet.hops;
  head.writeUInt32BE(packet.xid >>> 0, 4);
  head.writeUInt16BE(packet.secs & 0xffff, 8);
  head.writeUInt16BE(packet.flags & 0xffff, 10);
  writeIp(head, packet.ciaddr, 12);
  writeIp(head, packet.yiaddr, 16);
  writeIp(head, packet.siaddr, 20);
  writeIp(head, packet.giaddr, 24);
  packet.chaddr.copy(head, 28, 0, Math.min(16, packet.chaddr.length));
  head.writeUInt32BE(MAGIC_COOKIE, HEADER_LENGTH);
  const end = writeOptions(packet.options, scratch, OPTIONS_OFFSET, scratch.length);
  const total = end - OPTIONS_OFFSET;
  const length = directLength(total, maxPayload);
  if (length !== null) {
    const buf = Buffer.allocUnsafe(length);
    scratch.copy(buf, 0, 0, end);
    buf.fill(0, end);
    buf[end] = OPT.END;
    writeField(buf, FILE_OFFSET, FILE_LENGTH, packet.file, 'file');
    writeField(buf, SNAME_OFFSET, SNAME_LENGTH, packet.sname, 'sname');
    return buf;
  }
  const plan = overflow(packet, instancesOf(scratch.subarray(OPTIONS_OFFSET, end)), total, maxPayload);
  const buf = Buffer.alloc(plan.length);
  scratch.copy(buf, 0, 0, OPTIONS_OFFSET);
  let at = OPTIONS_OFFSET;
  buf[at++] = OPT.OVERLOAD;
  buf[at++] = 1;
  buf[at++] = (plan.file.length ? 1 : 0) | (plan.sname.length ? 2 : 0);
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
