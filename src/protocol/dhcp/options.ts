import { BootrackError } from '../../common/errors.js';
import { OPT, type MessageType } from './constants.js';
import {
  bytes,
  ip,
  ipList,
  messageType,
  ndi,
  subOptions,
  text,
  u16,
  u16List,
  u32,
  u8List,
  userClass,
  uuid,
  type ClientNdi,
  type ClientUuid,
  type Codec,
  type SubOption,
  type UserClass,
} from './option-codecs.js';

export { decodeSubOptions, encodeSubOptions, type ClientNdi, type ClientUuid, type SubOption, type UserClass } from './option-codecs.js';

/** Typed options; anything not typed here (or typed but malformed) is kept raw in `other`. */
export interface DhcpOptions {
  subnetMask?: string;
  routers?: string[];
  dnsServers?: string[];
  hostname?: string;
  domainName?: string;
  broadcastAddress?: string;
  vendorSpecific?: Buffer;
  requestedIp?: string;
  leaseSeconds?: number;
  messageType?: MessageType;
  serverId?: string;
  parameterRequestList?: number[];
  message?: string;
  maxMessageSize?: number;
  renewalSeconds?: number;
  rebindingSeconds?: number;
  vendorClass?: string;
  clientId?: Buffer;
  tftpServerName?: string;
  bootfileName?: string;
  userClass?: UserClass;
  relayAgent?: SubOption[];
  clientArch?: number[];
  clientNdi?: ClientNdi;
  clientUuid?: ClientUuid;
  ipxe?: SubOption[];
  /** Unknown or malformed options, raw, ascending by code. Overload (52) is never kept: it is a framing detail. */
  other: SubOption[];
}

type Typed = Exclude<keyof DhcpOptions, 'other'>;
type Entry = { [K in Typed]: { key: K; codec: Codec<NonNullable<DhcpOptions[K]>> } }[Typed];

/** The typed option table: code → field and codec. */
export const OPTION_TABLE: ReadonlyMap<number, Entry> = new Map<number, Entry>([
  [OPT.SUBNET_MASK, { key: 'subnetMask', codec: ip }],
  [OPT.ROUTER, { key: 'routers', codec: ipList }],
  [OPT.DNS, { key: 'dnsServers', codec: ipList }],
  [OPT.HOSTNAME, { key: 'hostname', codec: text }],
  [OPT.DOMAIN_NAME, { key: 'domainName', codec: text }],
  [OPT.BROADCAST, { key: 'broadcastAddress', codec: ip }],
  [OPT.VENDOR_SPECIFIC, { key: 'vendorSpecific', codec: bytes }],
  [OPT.REQUESTED_IP, { key: 'requestedIp', codec: ip }],
  [OPT.LEASE_TIME, { key: 'leaseSeconds', codec: u32 }],
  [OPT.MESSAGE_TYPE, { key: 'messageType', codec: messageType }],
  [OPT.SERVER_ID, { key: 'serverId', codec: ip }],
  [OPT.PARAMETER_LIST, { key: 'parameterRequestList', codec: u8List }],
  [OPT.MESSAGE, { key: 'message', codec: text }],
  [OPT.MAX_MESSAGE_SIZE, { key: 'maxMessageSize', codec: u16 }],
  [OPT.RENEWAL_TIME, { key: 'renewalSeconds', codec: u32 }],
  [OPT.REBINDING_TIME, { key: 'rebindingSeconds', codec: u32 }],
  [OPT.VENDOR_CLASS, { key: 'vendorClass', codec: text }],
  [OPT.CLIENT_ID, { key: 'clientId', codec: bytes }],
  [OPT.TFTP_SERVER, { key: 'tftpServerName', codec: text }],
  [OPT.BOOTFILE, { key: 'bootfileName', codec: text }],
  [OPT.USER_CLASS, { key: 'userClass', codec: userClass }],
  [OPT.RELAY_AGENT, { key: 'relayAgent', codec: subOptions }],
  [OPT.CLIENT_ARCH, { key: 'clientArch', codec: u16List }],
  [OPT.CLIENT_NDI, { key: 'clientNdi', codec: ndi }],
  [OPT.CLIENT_UUID, { key: 'clientUuid', codec: uuid }],
  [OPT.IPXE, { key: 'ipxe', codec: subOptions }],
]);

/** Each typed code's table entry, indexed by code (the decoder's lookup). */
const ENTRY_OF_CODE: ReadonlyArray<Entry | undefined> = Array.from({ length: 256 }, (_, code) => OPTION_TABLE.get(code));

/**
 * Where each option's value lies: flat triples (code, start, end) into `buf`, in wire order, each
 * code at most once (the decoder has already joined RFC 3396 continuations into their own buffer).
 */
export interface OptionSpans {
  buf: Buffer;
  spans: number[];
}

/** Typed view of the options; a value that does not decode as its type is kept raw in `other`. */
export function typeOptions({ buf, spans }: OptionSpans): DhcpOptions {
  const out: DhcpOptions = { other: [] };
  const sink = out as unknown as Record<string, unknown>;
  for (let i = 0; i < spans.length; i += 3) {
    const code = spans[i]!;
    const start = spans[i + 1]!;
    const end = spans[i + 2]!;
    if (code === OPT.OVERLOAD) continue;
    const entry = ENTRY_OF_CODE[code];
    const value = entry?.codec.decode(buf, start, end);
    if (entry && value !== undefined) sink[entry.key] = value;
    else out.other.push({ code, data: Buffer.from(buf.subarray(start, end)) });
  }
  if (out.other.length > 1) out.other.sort((a, b) => a.code - b.code);
  return out;
}

/** Typed options in wire order: 53 first and 54 second (some PXE ROMs parse only the head of the list), then by code. */
const rank = (c: number) => (c === OPT.MESSAGE_TYPE ? -2 : c === OPT.SERVER_ID ? -1 : c);
const WIRE_ORDER: ReadonlyArray<{ code: number; key: Typed; codec: Codec<unknown> }> = [...OPTION_TABLE]
  .map(([code, e]) => ({ code, key: e.key, codec: e.codec as Codec<unknown> }))
  .sort((a, b) => rank(a.code) - rank(b.code));

/** Raw options checked and put in wire order (they arrive ascending from the decoder; sorted only if not). */
function rawInOrder(options: DhcpOptions): SubOption[] {
  const source = options as unknown as Record<string, unknown>;
  let sorted = true;
  for (let i = 0; i < options.other.length; i++) {
    const o = options.other[i]!;
    const typedKey = OPTION_TABLE.get(o.code)?.key;
    // A typed code may sit in `other` only when the decoder could not type it (malformed); never twice.
    if (o.code === OPT.PAD || o.code === OPT.END || o.code === OPT.OVERLOAD || (typedKey !== undefined && source[typedKey] !== undefined)) {
      throw new BootrackError('DHCP_ENCODE_FAILED', `option ${o.code} cannot be sent as a raw option here`, { code: o.code });
    }
    if (i > 0 && rank(options.other[i - 1]!.code) > rank(o.code)) sorted = false;
  }
  return sorted ? options.other : [...options.other].sort((a, b) => rank(a.code) - rank(b.code));
}

/** Bytes a value of `len` takes on the wire, split into several instances over 255 bytes (RFC 3396). */
function tlvLength(len: number): number {
  return len + 2 * Math.max(1, Math.ceil(len / 255));
}

/** Bytes all options take on the wire (without END). */
export function optionsLength(options: DhcpOptions): number {
  const source = options as unknown as Record<string, unknown>;
  let n = 0;
  for (const { key, codec } of WIRE_ORDER) {
    const value = source[key];
    if (value !== undefined) n += tlvLength(codec.size(value));
  }
  for (const o of rawInOrder(options)) n += tlvLength(o.data.length);
  return n;
}

function writeTlv(code: number, codec: Codec<unknown>, value: unknown, buf: Buffer, at: number, limit: number): number {
  const len = codec.size(value);
  if (at + tlvLength(len) > limit) {
    throw new BootrackError('DHCP_ENCODE_FAILED', `option ${code} (${len} bytes) does not fit in the message`, { code, length: len });
  }
  if (len <= 255) {
    buf[at] = code;
    buf[at + 1] = len;
    codec.write(value, buf, at + 2);
    return at + 2 + len;
  }
  const whole = Buffer.alloc(len);
  codec.write(value, whole, 0);
  let i = 0;
  do {
    const part = Math.min(255, len - i);
    buf[at++] = code;
    buf[at++] = part;
    at += whole.copy(buf, at, i, i + part);
    i += part;
  } while (i < len);
  return at;
}

const rawCodec = bytes as Codec<unknown>;

/**
 * Writes every option at `at` in wire order (53, 54, then ascending; typed and raw merged), values
 * over 255 bytes split per RFC 3396. Throws DHCP_ENCODE_FAILED rather than write past `limit`
 * (default: the end of `buf`). Returns the offset after them.
 */
export function writeOptions(options: DhcpOptions, buf: Buffer, at: number, limit = buf.length): number {
  const source = options as unknown as Record<string, unknown>;
  const raw = options.other.length === 0 ? options.other : rawInOrder(options);
  let r = 0;
  for (let w = 0; w < WIRE_ORDER.length; w++) {
    const { code, key, codec } = WIRE_ORDER[w]!;
    while (r < raw.length && rank(raw[r]!.code) < rank(code)) {
      const o = raw[r++]!;
      at = writeTlv(o.code, rawCodec, o.data, buf, at, limit);
    }
    const value = source[key];
    if (value !== undefined) at = writeTlv(code, codec, value, buf, at, limit);
  }
  while (r < raw.length) {
    const o = raw[r++]!;
    at = writeTlv(o.code, rawCodec, o.data, buf, at, limit);
  }
  return at;
}

/** One buffer per option instance, for the overload layout that places instances region by region. */
export function optionInstances(options: DhcpOptions): Buffer[] {
  const all = Buffer.alloc(optionsLength(options));
  writeOptions(options, all, 0);
  const out: Buffer[] = [];
  for (let at = 0; at < all.length; at += 2 + all[at + 1]!) out.push(all.subarray(at, at + 2 + all[at + 1]!));
  return out;
}
