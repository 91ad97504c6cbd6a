import { BootrackError } from '../../common/errors.js';

/**
 * LLDPDU codec (IEEE 802.1AB-2016 §8): the bytes after the Ethernet header of an ethertype 0x88cc
 * frame ⇄ a typed value. Each TLV is a 16-bit header (7-bit type, 9-bit length) and its value.
 * The first three TLVs are Chassis ID, Port ID and Time To Live, in that order (§8.2); End of
 * LLDPDU stops decoding, and whatever follows it is Ethernet padding. A trailing End is optional
 * here: 802.1AB-2009 made it so, and some senders omit it when the frame needs no padding.
 * TLVs this codec does not interpret (organizationally specific 127, reserved 9..126) are kept raw.
 * Malformed input throws LLDP_MALFORMED naming the reason and the byte offset; nothing reads past
 * the buffer.
 */
export const TLV = {
  END: 0,
  CHASSIS_ID: 1,
  PORT_ID: 2,
  TTL: 3,
  PORT_DESCRIPTION: 4,
  SYSTEM_NAME: 5,
  SYSTEM_DESCRIPTION: 6,
  SYSTEM_CAPABILITIES: 7,
  MANAGEMENT_ADDRESS: 8,
  ORG_SPECIFIC: 127,
} as const;

/** Chassis ID subtypes (§8.5.2.2). */
export const CHASSIS_SUBTYPE = { chassisComponent: 1, interfaceAlias: 2, portComponent: 3, macAddress: 4, networkAddress: 5, interfaceName: 6, local: 7 } as const;
/** Port ID subtypes (§8.5.3.2). */
export const PORT_SUBTYPE = { interfaceAlias: 1, portComponent: 2, macAddress: 3, networkAddress: 4, interfaceName: 5, agentCircuitId: 6, local: 7 } as const;

export type LldpReason =
  | 'truncated_header'
  | 'truncated_value'
  | 'missing_mandatory'
  | 'misplaced_mandatory'
  | 'bad_length'
  | 'duplicate'
  | 'bad_management_address'
  | 'bad_hex';

/** A Chassis ID or Port ID: its subtype and raw value (1..255 bytes). */
export interface LldpId {
  subtype: number;
  value: Uint8Array;
}

export interface ManagementAddress {
  /** IANA address family: 1 IPv4, 2 IPv6, 6 IEEE 802 (MAC), … */
  family: number;
  address: Uint8Array;
  /** 1 unknown, 2 ifIndex, 3 system port number. */
  interfaceSubtype: number;
  interfaceNumber: number;
  /** ASN.1 BER object identifier, usually empty. */
  oid: Uint8Array;
}

export interface LldpTlv {
  type: number;
  value: Uint8Array;
}

export interface Lldpdu {
  chassisId: LldpId;
  portId: LldpId;
  /** Seconds the receiver may keep this information; 0 means "forget me" (shutdown). */
  ttl: number;
  portDescription?: string;
  systemName?: string;
  systemDescription?: string;
  /** Bitmaps (§8.5.8): bit 2 bridge, bit 4 router, bit 7 station, … */
  systemCapabilities?: { supported: number; enabled: number };
  managementAddresses: ManagementAddress[];
  /** Organizationally specific (127) and reserved TLVs, in the order received. */
  otherTlvs: LldpTlv[];
}

function malformed(reason: LldpReason, message: string, details: Record<string, unknown> = {}): BootrackError {
  return new BootrackError('LLDP_MALFORMED', `malformed LLDPDU: ${message}`, { reason, ...details });
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Value length limits per TLV type (§8.5): [min, max]. */
const LENGTHS: Record<number, [number, number]> = {
  [TLV.CHASSIS_ID]: [2, 256],
  [TLV.PORT_ID]: [2, 256],
  [TLV.TTL]: [2, 2],
  [TLV.PORT_DESCRIPTION]: [0, 255],
  [TLV.SYSTEM_NAME]: [0, 255],
  [TLV.SYSTEM_DESCRIPTION]: [0, 255],
  [TLV.SYSTEM_CAPABILITIES]: [4, 4],
  [TLV.MANAGEMENT_ADDRESS]: [9, 167],
  [TLV.ORG_SPECIFIC]: [4, 511],
};

/** Splits the buffer into TLVs up to End (exclusive). Throws on a header or value past the end. */
export function readTlvs(buf: Uint8Array): Array<LldpTlv & { offset: number }> {
  const out: Array<LldpTlv & { offset: number }> = [];
  let i = 0;
  while (i < buf.length) {
    if (i + 2 > buf.length) throw malformed('truncated_header', `TLV header at offset ${i} needs 2 bytes, ${buf.length - i} left`, { offset: i });
    const header = (buf[i]! << 8) | buf[i + 1]!;
    const type = header >> 9;
    const length = header & 0x1ff;
    if (type === TLV.END) {
      if (length !== 0) throw malformed('bad_length', `End of LLDPDU TLV at offset ${i} has length ${length}, not 0`, { offset: i, type, length });
      return out;
    }
    if (i + 2 + length > buf.length) throw malformed('truncated_value', `TLV type ${type} at offset ${i} declares ${length} bytes, ${buf.length - i - 2} left`, { offset: i, type, length });
    out.push({ type, value: buf.subarray(i + 2, i + 2 + length), offset: i });
    i += 2 + length;
  }
  return out;
}

function decodeManagementAddress(v: Uint8Array, offset: number): ManagementAddress {
  const bad = (why: string): BootrackError => malformed('bad_management_address', `Management Address TLV at offset ${offset}: ${why}`, { offset, length: v.length });
  const strLen = v[0]!;
  // address string length counts the subtype byte: 2..32 (§8.5.9.2)
  if (strLen < 2 || strLen > 32) throw bad(`address string length ${strLen} is outside 2..32`);
  const ifAt = 1 + strLen;
  if (ifAt + 6 > v.length) throw bad(`address string length ${strLen} leaves no room for the interface fields`);
  const oidLen = v[ifAt + 5]!;
  if (ifAt + 6 + oidLen !== v.length) throw bad(`OID length ${oidLen} does not match the TLV length ${v.length}`);
  return {
    family: v[1]!,
    address: v.slice(2, 1 + strLen),
    interfaceSubtype: v[ifAt]!,
    interfaceNumber: ((v[ifAt + 1]! << 24) | (v[ifAt + 2]! << 16) | (v[ifAt + 3]! << 8) | v[ifAt + 4]!) >>> 0,
    oid: v.slice(ifAt + 6, ifAt + 6 + oidLen),
  };
}

/** Decodes one LLDPDU; throws LLDP_MALFORMED naming what is wrong. */
export function decodeLldpdu(buf: Uint8Array): Lldpdu {
  const tlvs = readTlvs(buf);
  const names = ['Chassis ID', 'Port ID', 'Time To Live'];
  for (let k = 0; k < 3; k++) {
    const t = tlvs[k];
    if (t === undefined) throw malformed('missing_mandatory', `the ${names[k]} TLV is missing (${tlvs.length} TLVs before End)`, { expectedType: k + 1 });
    if (t.type !== k + 1) throw malformed('missing_mandatory', `TLV ${k + 1} must be ${names[k]} (type ${k + 1}), found type ${t.type} at offset ${t.offset}`, { offset: t.offset, type: t.type, expectedType: k + 1 });
  }
  const seen = new Set<number>();
  const du: Lldpdu = { chassisId: { subtype: 0, value: new Uint8Array() }, portId: { subtype: 0, value: new Uint8Array() }, ttl: 0, managementAddresses: [], otherTlvs: [] };
  tlvs.forEach((t, index) => {
    const limits = LENGTHS[t.type];
    if (limits && (t.value.length < limits[0] || t.value.length > limits[1])) {
      throw malformed('bad_length', `TLV type ${t.type} at offset ${t.offset} has length ${t.value.length}, allowed ${limits[0]}..${limits[1]}`, { offset: t.offset, type: t.type, length: t.value.length });
    }
    if (t.type <= TLV.TTL && index >= 3) throw malformed('misplaced_mandatory', `TLV type ${t.type} at offset ${t.offset} may only appear once, at the start`, { offset: t.offset, type: t.type });
    if (t.type >= TLV.PORT_DESCRIPTION && t.type <= TLV.SYSTEM_CAPABILITIES) {
      if (seen.has(t.type)) throw malformed('duplicate', `TLV type ${t.type} appears twice (again at offset ${t.offset})`, { offset: t.offset, type: t.type });
      seen.add(t.type);
    }
    const v = t.value;
    switch (t.type) {
      case TLV.CHASSIS_ID:
        du.chassisId = { subtype: v[0]!, value: v.slice(1) };
        break;
      case TLV.PORT_ID:
        du.portId = { subtype: v[0]!, value: v.slice(1) };
        break;
      case TLV.TTL:
        du.ttl = (v[0]! << 8) | v[1]!;
        break;
      case TLV.PORT_DESCRIPTION:
        du.portDescription = utf8.decode(v);
        break;
      case TLV.SYSTEM_NAME:
        du.systemName = utf8.decode(v);
        break;
      case TLV.SYSTEM_DESCRIPTION:
        du.systemDescription = utf8.decode(v);
        break;
      case TLV.SYSTEM_CAPABILITIES:
        du.systemCapabilities = { supported: (v[0]! << 8) | v[1]!, enabled: (v[2]! << 8) | v[3]! };
        break;
      case TLV.MANAGEMENT_ADDRESS:
        du.managementAddresses.push(decodeManagementAddress(v, t.offset));
        break;
      default:
        du.otherTlvs.push({ type: t.type, value: v.slice() });
    }
  });
  return du;
}

function tlvBytes(type: number, value: Uint8Array): Uint8Array {
  if (type < 0 || type > 127) throw new BootrackError('LLDP_ENCODE_FAILED', `TLV type ${type} is outside 0..127`, { type });
  if (value.length > 511) throw new BootrackError('LLDP_ENCODE_FAILED', `TLV type ${type} value is ${value.length} bytes; at most 511 fit`, { type, length: value.length });
  const out = new Uint8Array(2 + value.length);
  out[0] = (type << 1) | (value.length >> 8);
  out[1] = value.length & 0xff;
  out.set(value, 2);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function encodeTlvs(du: Lldpdu): Uint8Array[] {
  const text = (s: string): Uint8Array => new TextEncoder().encode(s);
  const id = (x: LldpId): Uint8Array => concat([Uint8Array.of(x.subtype), x.value]);
  const parts = [tlvBytes(TLV.CHASSIS_ID, id(du.chassisId)), tlvBytes(TLV.PORT_ID, id(du.portId)), tlvBytes(TLV.TTL, Uint8Array.of(du.ttl >> 8, du.ttl & 0xff))];
  if (du.portDescription !== undefined) parts.push(tlvBytes(TLV.PORT_DESCRIPTION, text(du.portDescription)));
  if (du.systemName !== undefined) parts.push(tlvBytes(TLV.SYSTEM_NAME, text(du.systemName)));
  if (du.systemDescription !== undefined) parts.push(tlvBytes(TLV.SYSTEM_DESCRIPTION, text(du.systemDescription)));
  if (du.systemCapabilities !== undefined) {
    const { supported: s, enabled: e } = du.systemCapabilities;
    parts.push(tlvBytes(TLV.SYSTEM_CAPABILITIES, Uint8Array.of(s >> 8, s & 0xff, e >> 8, e & 0xff)));
  }
  for (const m of du.managementAddresses) {
    const n = m.interfaceNumber >>> 0;
    parts.push(tlvBytes(TLV.MANAGEMENT_ADDRESS, concat([Uint8Array.of(1 + m.address.length, m.family), m.address, Uint8Array.of(m.interfaceSubtype, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, m.oid.length), m.oid])));
  }
  for (const t of du.otherTlvs) parts.push(tlvBytes(t.type, t.value));
  parts.push(tlvBytes(TLV.END, new Uint8Array()));
  return parts;
}

/** Encodes in the canonical order: mandatory TLVs, 4..8, the others as given, End. Validates by decoding. */
export function encodeLldpdu(du: Lldpdu): Uint8Array {
  const out = concat(encodeTlvs(du));
  try {
    decodeLldpdu(out);
  } catch (err) {
    throw new BootrackError('LLDP_ENCODE_FAILED', `the LLDPDU would not decode: ${(err as Error).message}`, { cause: (err as BootrackError).details });
  }
  return out;
}

/** Bytes encodeLldpdu writes. */
export function encodedLength(du: Lldpdu): number {
  return encodeTlvs(du).reduce((n, p) => n + p.length, 0);
}

/** Hex text (as the discovery agent posts it) → bytes; LLDP_MALFORMED on odd length or a non-hex digit. */
export function lldpduFromHex(text: string): Uint8Array {
  if (text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) throw malformed('bad_hex', `not an even-length hex string (${text.length} characters)`, { length: text.length });
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}
