import { BootrackError } from './errors.js';

/** A MAC address in canonical form: lower-case, colon-separated, six octets. */
export type Mac = string & { readonly __brand: 'Mac' };

const SEPARATED = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i;
const BARE = /^[0-9a-f]{12}$/i;
const DOTTED = /^([0-9a-f]{4})\.([0-9a-f]{4})\.([0-9a-f]{4})$/i;

/**
 * Accepts the spellings operators paste: `aa:bb:..`, `aa-bb-..` (Windows, iPXE's ${mac:hexhyp}),
 * `aabb.ccdd.eeff` (Cisco) and bare hex. Throws INVALID_MAC naming the offending value.
 */
export function parseMac(input: string): Mac {
  const trimmed = typeof input === 'string' ? input.trim() : '';
  let hex: string | undefined;
  const sep = SEPARATED.exec(trimmed);
  if (sep) hex = sep.slice(1).join('');
  else if (BARE.test(trimmed)) hex = trimmed;
  else {
    const dotted = DOTTED.exec(trimmed);
    if (dotted) hex = dotted.slice(1).join('');
  }
  if (hex === undefined) {
    throw new BootrackError('INVALID_MAC', `invalid MAC address ${JSON.stringify(input)}`, { value: input });
  }
  return hex.toLowerCase().match(/../g)!.join(':') as Mac;
}

export function isMac(input: string): boolean {
  try {
    parseMac(input);
    return true;
  } catch {
    return false;
  }
}

export function macFromBytes(bytes: Uint8Array): Mac {
  if (bytes.length !== 6) {
    throw new BootrackError('INVALID_MAC', `a MAC has 6 octets, got ${bytes.length}`, { length: bytes.length });
  }
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(':') as Mac;
}

export function macToBytes(mac: Mac): Buffer {
  return Buffer.from(mac.replaceAll(':', ''), 'hex');
}
