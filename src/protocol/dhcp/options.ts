import { BootrackError } from '../../common/errors.js';
import { MESSAGE_CODES, MESSAGE_TYPES, OPT, type MessageType } from './constants.js';
import { ipFromBytes, writeIp } from './ip.js';

/** Option 77. iPXE sends the bare bytes "iPXE"; RFC 3004 wraps each class in a length prefix. */
export interface UserClass {
  form: 'bare' | 'rfc3004';
  classes: string[];
}

/** A TLV sub-option inside 43, 82 or 175, kept as bytes so it can be echoed verbatim. */
export interface SubOption {
  code: number;
  data: Buffer;
}

/** Option 94 (RFC 4578): the UNDI version of the PXE ROM. */
export interface ClientNdi {
  type: number;
  major: number;
  minor: number;
}

/** Option 97 (RFC 4578): type 0 plus the SMBIOS UUID. */
export interface ClientUuid {
  type: number;
  /** Canonical text form; on the wire the first three fields are little-endian (SMBIOS 2.6). */
  uuid: string;
}

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

/**
 * A typed option's codec. `decode` reads the value from buf[start, end) in place (no slice is made
 * for a value that becomes a number or a string). Encoding is two-step so a reply is written
 * straight into its datagram: `size` is the value's byte length, `write` puts exactly that many
 * bytes at `at` (no allocation).
 */
type Codec<T> = { decode(buf: Buffer, start: number, end: number): T | undefined; size(value: T): number; write(value: T, buf: Buffer, at: number): void };

const ip: Codec<string> = {
  decode: (d, s, e) => (e - s === 4 ? ipFromBytes(d, s) : undefined),
  size: () => 4,
  write: (v, buf, at) => writeIp(buf, v, at),
};
const ipList: Codec<string[]> = {
  decode: (d, s, e) => {
    if (e - s === 0 || (e - s) % 4 !== 0) return undefined;
    const out: string[] = [];
    for (let i = s; i < e; i += 4) out.push(ipFromBytes(d, i));
    return out;
  },
  size: (v) => 4 * v.length,
  write: (v, buf, at) => {
    for (let i = 0; i < v.length; i++) writeIp(buf, v[i]!, at + 4 * i);
  },
};
/** Strings are latin1 so every byte survives a round trip; trailing NULs (some clients send them) are dropped. */
const text: Codec<string> = {
  decode: (d, s, e) => {
    let end = e;
    while (end > s && d[end - 1] === 0) end--;
    return e > s ? d.toString('latin1', s, end) : undefined;
  },
  size: (v) => Buffer.byteLength(v, 'latin1'),
  write: (v, buf, at) => void buf.write(v, at, 'latin1'),
};
const u32: Codec<number> = {
  decode: (d, s, e) => (e - s === 4 ? d.readUInt32BE(s) : undefined),
  size: () => 4,
  write: (v, buf, at) => void buf.writeUInt32BE(v >>> 0, at),
};
const u16: Codec<number> = {
  decode: (d, s, e) => (e - s === 2 ? d.readUInt16BE(s) : undefined),
  size: () => 2,
  write: (v, buf, at) => void buf.writeUInt16BE(v & 0xffff, at),
};
/** A copy, so a decoded message never pins (or aliases) the datagram it came in. */
const copyOf = (d: Buffer, s: number, e: number): Buffer => Buffer.from(d.subarray(s, e));
const bytes: Codec<Buffer> = { decode: (d, s, e) => (e > s ? copyOf(d, s, e) : undefined), size: (v) => v.length, write: (v, buf, at) => void v.copy(buf, at) };
const u8List: Codec<number[]> = {
  decode: (d, s, e) => {
    if (e === s) return undefined;
    const out: number[] = [];
    for (let i = s; i < e; i++) out.push(d[i]!);
    return out;
  },
  size: (v) => v.length,
  write: (v, buf, at) => {
    for (let i = 0; i < v.length; i++) buf[at + i] = v[i]! & 255;
  },
};
const u16List: Codec<number[]> = {
  decode: (d, s, e) => {
    if (e === s || (e - s) % 2 !== 0) return undefined;
    const out: number[] = [];
    for (let i = s; i < e; i += 2) out.push(d.readUInt16BE(i));
    return out;
  },
  size: (v) => 2 * v.length,
  write: (v, buf, at) => {
    for (let i = 0; i < v.length; i++) buf.writeUInt16BE(v[i]! & 0xffff, at + 2 * i);
  },
};
const messageType: Codec<MessageType> = {
  decode: (d, s, e) => (e - s === 1 ? MESSAGE_TYPES[d[s] as keyof typeof MESSAGE_TYPES] : undefined),
  size: () => 1,
  write: (v, buf, at) => void (buf[at] = MESSAGE_CODES[v]),
};

export function decodeSubOptions(d: Buffer): SubOption[] | undefined {
  const out: SubOption[] = [];
  let i = 0;
  while (i < d.length) {
    const code = d[i]!;
    if (code === 0) (i += 1);
    else if (code === 255) break;
    else {
      if (i + 2 > d.length) return undefined;
      const len = d[i + 1]!;
      if (i + 2 + len > d.length) return undefined;
      out.push({ code, data: Buffer.from(d.subarray(i + 2, i + 2 + len)) });
      i += 2 + len;
    }
  }
  return out;
}

export function encodeSubOptions(list: SubOption[]): Buffer {
  return Buffer.concat(list.map((s) => Buffer.concat([Buffer.from([s.code, s.data.length]), s.data])));
}

const subOptions: Codec<SubOption[]> = {
  decode: (d, s, e) => decodeSubOptions(d.subarray(s, e)),
  size: (v) => v.reduce((n, o) => n + 2 + o.data.length, 0),
  write: (v, buf, at) => {
    let i = at;
    for (const o of v) {
      buf[i] = o.code;
      buf[i + 1] = o.data.length;
      i += 2 + o.data.copy(buf, i + 2);
    }
  },
};

const userClass: Codec<UserClass> = {
  decode: (buf, s, e) => {
    const d = buf.subarray(s, e);
    if (d.length === 0) return undefined;
    // RFC 3004: one or more (len, data) with len >= 1 that exactly fill the option.
    const classes: string[] = [];
    let i = 0;
    while (i < d.length) {
      const len = d[i]!;
      if (len === 0 || i + 1 + len > d.length) break;
      classes.push(d.subarray(i + 1, i + 1 + len).toString('latin1'));
      i += 1 + len;
    }
    if (i === d.length) return { form: 'rfc3004', classes };
    return { form: 'bare', classes: [d.toString('latin1')] };
  },
  size: (v) => v.classes.reduce((n, c) => n + Buffer.byteLength(c, 'latin1') + (v.form === 'bare' ? 0 : 1), 0),
  write: (v, buf, at) => {
    let i = at;
    for (const c of v.classes) {
      const len = Buffer.byteLength(c, 'latin1');
      if (v.form === 'rfc3004') buf[i++] = len;
      i += buf.write(c, i, len, 'latin1');
    }
  },
};

const ndi: Codec<ClientNdi> = {
  decode: (d, s, e) => (e - s === 3 ? { type: d[s]!, major: d[s + 1]!, minor: d[s + 2]! } : undefined),
  size: () => 3,
  write: (v, buf, at) => {
    buf[at] = v.type;
    buf[at + 1] = v.major;
    buf[at + 2] = v.minor;
  },
};

const uuid: Codec<ClientUuid> = {
  decode: (buf, s, e) => {
    const d = buf.subarray(s, e);
    if (d.length !== 17) return undefined;
    const u = d.subarray(1);
    // SMBIOS stores time_low, time_mid and time_hi_and_version little-endian; the rest big-endian.
    const hex = (b: Buffer) => b.toString('hex');
    const le = (s: number, e: number) => hex(Buffer.from(u.subarray(s, e)).reverse());
    return { type: d[0]!, uuid: `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${hex(u.subarray(8, 10))}-${hex(u.subarray(10, 16))}` };
  },
  size: (v) => {
    uuidHex(v);
    return 17;
  },
  write: (v, buf, at) => {
    const raw = Buffer.from(uuidHex(v), 'hex');
    buf[at] = v.type;
    for (let i = 0; i < 4; i++) buf[at + 1 + i] = raw[3 - i]!;
    buf[at + 5] = raw[5]!;
    buf[at + 6] = raw[4]!;
    buf[at + 7] = raw[7]!;
    buf[at + 8] = raw[6]!;
    raw.copy(buf, at + 9, 8);
  },
};

function uuidHex(v: ClientUuid): string {
  const hex = v.uuid.replaceAll('-', '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new BootrackError('DHCP_ENCODE_FAILED', `option 97: not a UUID: ${JSON.stringify(v.uuid)}`, { uuid: v.uuid });
  return hex;
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

const CODE_OF = new Map<Typed, number>([...OPTION_TABLE].map(([code, e]) => [e.key, code]));

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
