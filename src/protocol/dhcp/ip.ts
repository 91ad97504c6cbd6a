import { BootrackError } from '../../common/errors.js';

/** Dotted-quad IPv4 helpers shared by the codec and by pool arithmetic. Pure, no I/O. */
export const ZERO_IP = '0.0.0.0';
export const BROADCAST_IP = '255.255.255.255';

const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function ipToInt(ip: string): number {
  const m = DOTTED.exec(ip);
  if (!m) throw new BootrackError('VALIDATION_FAILED', `not an IPv4 address: ${JSON.stringify(ip)}`, { value: ip });
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const octet = Number(m[i]);
    if (octet > 255) throw new BootrackError('VALIDATION_FAILED', `not an IPv4 address: ${JSON.stringify(ip)}`, { value: ip });
    n = n * 256 + octet;
  }
  return n;
}

export function intToIp(n: number): string {
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function ipFromBytes(buf: Uint8Array, offset = 0): string {
  return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
}

export function writeIp(buf: Buffer, ip: string, offset: number): void {
  buf.writeUInt32BE(ipToInt(ip), offset);
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
