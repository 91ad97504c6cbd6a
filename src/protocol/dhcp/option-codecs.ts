import { BootrackError } from '../../common/errors.js';
import { MESSAGE_CODES, MESSAGE_TYPES, type MessageType } from './constants.js';
import { ipFromBytes, writeIp } from './ip.js';

/** The value codecs of the typed DHCP options (options.ts maps option codes to them). Pure. */

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

/**
 * A typed option's codec. `decode` reads the value from buf[start, end) in place (no slice is made
 * for a value that becomes a number or a string). Encoding is two-step so a reply is written
 * straight into its datagram: `size` is the value's byte length, `write` puts exactly that many
 * bytes at `at` (no allocation).
 */
export type Codec<T> = { decode(buf: Buffer, start: number, end: number): T | undefined; size(value: T): number; write(value: T, buf: Buffer, at: number): void };

export const ip: Codec<string> = {
  decode: (d, s, e) => (e - s === 4 ? ipFromBytes(d, s) : undefined),
  size: () => 4,
  write: (v, buf, at) => writeIp(buf, v, at),
};
export const ipList: Codec<string[]> = {
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
export const text: Codec<string> = {
  decode: (d, s, e) => {
    let end = e;
    while (end > s && d[end - 1] === 0) end--;
    return e > s ? d.toString('latin1', s, end) : undefined;
  },
  size: (v) => Buffer.byteLength(v, 'latin1'),
  write: (v, buf, at) => void buf.write(v, at, 'latin1'),
};
export const u32: Codec<number> = {
  decode: (d, s, e) => (e - s === 4 ? d.readUInt32BE(s) : undefined),
  size: () => 4,
  write: (v, buf, at) => void buf.writeUInt32BE(v >>> 0, at),
};
export const u16: Codec<number> = {
  decode: (d, s, e) => (e - s === 2 ? d.readUInt16BE(s) : undefined),
  size: () => 2,
  write: (v, buf, at) => void buf.writeUInt16BE(v & 0xffff, at),
};
/** A copy, so a decoded message never pins (or aliases) the datagram it came in. */
const copyOf = (d: Buffer, s: number, e: number): Buffer => Buffer.from(d.subarray(s, e));
export const bytes: Codec<Buffer> = { decode: (d, s, e) => (e > s ? copyOf(d, s, e) : undefined), size: (v) => v.length, write: (v, buf, at) => void v.copy(buf, at) };
export const u8List: Codec<number[]> = {
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
export const u16List: Codec<number[]> = {
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
export const messageType: Codec<MessageType> = {
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

export const subOptions: Codec<SubOption[]> = {
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

export const userClass: Codec<UserClass> = {
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

export const ndi: Codec<ClientNdi> = {
  decode: (d, s, e) => (e - s === 3 ? { type: d[s]!, major: d[s + 1]!, minor: d[s + 2]! } : undefined),
  size: () => 3,
  write: (v, buf, at) => {
    buf[at] = v.type;
    buf[at + 1] = v.major;
    buf[at + 2] = v.minor;
  },
};

export const uuid: Codec<ClientUuid> = {
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
