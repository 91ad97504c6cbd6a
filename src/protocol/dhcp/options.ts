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

type Codec<T> = { decode(data: Buffer): T | undefined; encode(value: T): Buffer };

const ip: Codec<string> = {
  decode: (d) => (d.length === 4 ? ipFromBytes(d) : undefined),
  encode: (v) => {
    const b = Buffer.alloc(4);
    writeIp(b, v, 0);
    return b;
  },
};
const ipList: Codec<string[]> = {
  decode: (d) => (d.length > 0 && d.length % 4 === 0 ? Array.from({ length: d.length / 4 }, (_, i) => ipFromBytes(d, i * 4)) : undefined),
  encode: (v) => Buffer.concat(v.map((a) => ip.encode(a))),
};
/** Strings are latin1 so every byte survives a round trip; trailing NULs (some clients send them) are dropped. */
const text: Codec<string> = {
  decode: (d) => (d.length > 0 ? d.toString('latin1').replace(/\0+$/, '') : undefined),
  encode: (v) => Buffer.from(v, 'latin1'),
};
const u32: Codec<number> = {
  decode: (d) => (d.length === 4 ? d.readUInt32BE(0) : undefined),
  encode: (v) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0, 0);
    return b;
  },
};
const u16: Codec<number> = {
  decode: (d) => (d.length === 2 ? d.readUInt16BE(0) : undefined),
  encode: (v) => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v & 0xffff, 0);
    return b;
  },
};
const bytes: Codec<Buffer> = { decode: (d) => (d.length > 0 ? Buffer.from(d) : undefined), encode: (v) => v };
const u8List: Codec<number[]> = { decode: (d) => (d.length > 0 ? [...d] : undefined), encode: (v) => Buffer.from(v) };
const u16List: Codec<number[]> = {
  decode: (d) => (d.length > 0 && d.length % 2 === 0 ? Array.from({ length: d.length / 2 }, (_, i) => d.readUInt16BE(i * 2)) : undefined),
  encode: (v) => Buffer.concat(v.map((n) => u16.encode(n))),
};
const messageType: Codec<MessageType> = {
  decode: (d) => (d.length === 1 ? MESSAGE_TYPES[d[0] as keyof typeof MESSAGE_TYPES] : undefined),
  encode: (v) => Buffer.from([MESSAGE_CODES[v]]),
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

const subOptions: Codec<SubOption[]> = { decode: (d) => decodeSubOptions(d), encode: encodeSubOptions };

const userClass: Codec<UserClass> = {
  decode: (d) => {
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
  encode: (v) =>
    v.form === 'bare'
      ? Buffer.from(v.classes.join(''), 'latin1')
      : Buffer.concat(v.classes.map((c) => Buffer.concat([Buffer.from([Buffer.byteLength(c, 'latin1')]), Buffer.from(c, 'latin1')]))),
};

const ndi: Codec<ClientNdi> = {
  decode: (d) => (d.length === 3 ? { type: d[0]!, major: d[1]!, minor: d[2]! } : undefined),
  encode: (v) => Buffer.from([v.type, v.major, v.minor]),
};

const uuid: Codec<ClientUuid> = {
  decode: (d) => {
    if (d.length !== 17) return undefined;
    const u = d.subarray(1);
    // SMBIOS stores time_low, time_mid and time_hi_and_version little-endian; the rest big-endian.
    const hex = (b: Buffer) => b.toString('hex');
    const le = (s: number, e: number) => hex(Buffer.from(u.subarray(s, e)).reverse());
    return { type: d[0]!, uuid: `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${hex(u.subarray(8, 10))}-${hex(u.subarray(10, 16))}` };
  },
  encode: (v) => {
    const hex = v.uuid.replaceAll('-', '');
    if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new BootrackError('DHCP_ENCODE_FAILED', `option 97: not a UUID: ${JSON.stringify(v.uuid)}`, { uuid: v.uuid });
    const raw = Buffer.from(hex, 'hex');
    const out = Buffer.alloc(17);
    out[0] = v.type;
    Buffer.from(raw.subarray(0, 4)).reverse().copy(out, 1);
    Buffer.from(raw.subarray(4, 6)).reverse().copy(out, 5);
    Buffer.from(raw.subarray(6, 8)).reverse().copy(out, 7);
    raw.copy(out, 9, 8);
    return out;
  },
};

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

/** Typed view of concatenated option data (RFC 3396 already applied). */
export function typeOptions(raw: ReadonlyMap<number, Buffer>): DhcpOptions {
  const out: DhcpOptions = { other: [] };
  const sink = out as unknown as Record<string, unknown>;
  for (const [code, data] of [...raw].sort((a, b) => a[0] - b[0])) {
    if (code === OPT.OVERLOAD) continue;
    const entry = OPTION_TABLE.get(code);
    const value = entry?.codec.decode(data);
    if (entry && value !== undefined) sink[entry.key] = value;
    else out.other.push({ code, data: Buffer.from(data) });
  }
  return out;
}

/**
 * Option values in wire order: 53 first and 54 second (some PXE ROMs parse only the head of the
 * list), then ascending by code.
 */
export function optionPairs(options: DhcpOptions): Array<[number, Buffer]> {
  const pairs: Array<[number, Buffer]> = [];
  const source = options as unknown as Record<string, unknown>;
  for (const [key, code] of CODE_OF) {
    const value = source[key];
    if (value === undefined) continue;
    const entry = OPTION_TABLE.get(code)!;
    pairs.push([code, (entry.codec as Codec<unknown>).encode(value)]);
  }
  for (const o of options.other) {
    const typedKey = OPTION_TABLE.get(o.code)?.key;
    // A typed code may sit in `other` only when the decoder could not type it (malformed); never twice.
    if (o.code === OPT.PAD || o.code === OPT.END || o.code === OPT.OVERLOAD || (typedKey !== undefined && source[typedKey] !== undefined)) {
      throw new BootrackError('DHCP_ENCODE_FAILED', `option ${o.code} cannot be sent as a raw option here`, { code: o.code });
    }
    pairs.push([o.code, o.data]);
  }
  const rank = (c: number) => (c === OPT.MESSAGE_TYPE ? -2 : c === OPT.SERVER_ID ? -1 : c);
  pairs.sort((a, b) => rank(a[0]) - rank(b[0]));
  return pairs;
}

/** Bytes the pairs take on the wire, values over 255 bytes split into several instances (RFC 3396). */
export function pairsLength(pairs: Array<[number, Buffer]>): number {
  let n = 0;
  for (const [, data] of pairs) n += data.length + 2 * Math.max(1, Math.ceil(data.length / 255));
  return n;
}

/** Writes the pairs at `at` (splitting long values per RFC 3396); returns the offset after them. */
export function writePairs(pairs: Array<[number, Buffer]>, buf: Buffer, at: number): number {
  for (const [code, data] of pairs) {
    let i = 0;
    do {
      const len = Math.min(255, data.length - i);
      buf[at++] = code;
      buf[at++] = len;
      at += data.copy(buf, at, i, i + len);
      i += len;
    } while (i < data.length);
  }
  return at;
}

/** One buffer per option instance, for the overload layout that places instances region by region. */
export function optionInstances(options: DhcpOptions): Buffer[] {
  const out: Buffer[] = [];
  for (const pair of optionPairs(options)) {
    const b = Buffer.alloc(pairsLength([pair]));
    writePairs([pair], b, 0);
    for (let at = 0; at < b.length; at += 2 + b[at + 1]!) out.push(b.subarray(at, at + 2 + b[at + 1]!));
  }
  return out;
}
