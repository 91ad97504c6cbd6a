import { BootrackError } from '../../common/errors.js';

/** Dotted-quad IPv4 helpers shared by the codec and by pool arithmetic. Pure, no I/O. */
export const ZERO_IP = '0.0.0.0';
export const BROADCAST_IP = '255.255.255.255';

function notAnAddress(ip: string): BootrackError {
  return new BootrackError('VALIDATION_FAILED', `not an IPv4 address: ${JSON.stringify(ip)}`, { value: ip });
}

/** Strict dotted quad (four decimal octets of 1-3 digits, each <= 255) to an unsigned 32-bit integer. */
export function ipToInt(ip: string): number {
  if (typeof ip !== 'string') throw notAnAddress(ip);
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (++digits > 3) throw notAnAddress(ip);
    } else if (c === 46 && digits > 0 && dots < 3) {
      if (octet > 255) throw notAnAddress(ip);
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else throw notAnAddress(ip);
  }
  if (dots !== 3 || digits === 0 || octet > 255) throw notAnAddress(ip);
  return n * 256 + octet;
}

export function intToIp(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function ipFromBytes(buf: Uint8Array, offset = 0): string {
  // Most header addresses of a request are unset: no string is built for them.
  if ((buf[offset]! | buf[offset + 1]! | buf[offset + 2]! | buf[offset + 3]!) === 0) return ZERO_IP;
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

export function writeIp(buf: Buffer, ip: string, offset: number): void {
  buf.writeUInt32BE(ip === ZERO_IP ? 0 : ipToInt(ip), offset);
}

export interface Cidr {
  network: number;
  prefix: number;
  mask: number;
}

export function parseCidr(cidr: string): Cidr {
  const [addr, bits] = cidr.split('/');
  const prefix = Number(bits);
  if (addr === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
    throw new BootrackError('VALIDATION_FAILED', `not an IPv4 CIDR: ${JSON.stringify(cidr)}`, { value: cidr });
  }
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return { network: (ipToInt(addr) & mask) >>> 0, prefix, mask };
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  return ((ipToInt(ip) & cidr.mask) >>> 0) === cidr.network;
}

export function maskToIp(cidr: Cidr): string {
  return intToIp(cidr.mask);
}

export function broadcastOf(cidr: Cidr): string {
  return intToIp((cidr.network | (~cidr.mask >>> 0)) >>> 0);
}
