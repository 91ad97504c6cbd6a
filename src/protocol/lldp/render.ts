import { CHASSIS_SUBTYPE, PORT_SUBTYPE, type LldpId, type Lldpdu, type ManagementAddress } from './lldpdu.js';

/**
 * A decoded LLDPDU as text an operator reads (what `lldpcli show neighbors` shows): IDs rendered by
 * subtype (MAC → aa:bb:.., network address → dotted quad or IPv6, names → the string; anything
 * not printable → hex), management addresses as strings.
 */
export interface LldpSummary {
  chassisId: string;
  chassisIdSubtype: string;
  portId: string;
  portIdSubtype: string;
  ttl: number;
  portDescription?: string;
  systemName?: string;
  systemDescription?: string;
  /** Enabled capabilities: bridge, router, station, … (§8.5.8.1). */
  capabilities?: string[];
  managementAddresses?: string[];
}

const CAPABILITY_BITS = ['other', 'repeater', 'bridge', 'wlanAccessPoint', 'router', 'telephone', 'docsisCableDevice', 'station', 'cVlanComponent', 'sVlanComponent', 'twoPortMacRelay'];

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
const mac = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');

function ipv6(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // RFC 5952 §4.2: the longest run (of two or more) of zero groups becomes "::"
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j > i ? j : i + 1;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** IANA address family + bytes → text: IPv4 (1), IPv6 (2), IEEE 802 MAC (6), else family:hex. */
export function addressText(family: number, address: Uint8Array): string {
  if (family === 1 && address.length === 4) return Array.from(address).join('.');
  if (family === 2 && address.length === 16) return ipv6(address);
  if (family === 6 && address.length === 6) return mac(address);
  return `${family}:${hex(address)}`;
}

function printable(b: Uint8Array): string | null {
  const s = new TextDecoder('utf-8', { fatal: false }).decode(b);
  // U+FFFD: invalid UTF-8; control characters make a bad display string too
  return b.length > 0 && !/[\u0000-\u001f\u007f\ufffd]/.test(s) ? s : null;
}

function idText(id: LldpId, macSubtype: number, addressSubtype: number, textSubtypes: number[]): string {
  if (id.subtype === macSubtype && id.value.length === 6) return mac(id.value);
  if (id.subtype === addressSubtype && id.value.length >= 1) return addressText(id.value[0]!, id.value.subarray(1));
  if (textSubtypes.includes(id.subtype)) return printable(id.value) ?? hex(id.value);
  return hex(id.value);
}

const subtypeName = (table: Record<string, number>, n: number): string => Object.entries(table).find(([, v]) => v === n)?.[0] ?? `reserved${n}`;

export function summarizeLldpdu(du: Lldpdu): LldpSummary {
  const C = CHASSIS_SUBTYPE;
  const P = PORT_SUBTYPE;
  const out: LldpSummary = {
    chassisId: idText(du.chassisId, C.macAddress, C.networkAddress, [C.chassisComponent, C.interfaceAlias, C.portComponent, C.interfaceName, C.local]),
    chassisIdSubtype: subtypeName(C, du.chassisId.subtype),
    portId: idText(du.portId, P.macAddress, P.networkAddress, [P.interfaceAlias, P.portComponent, P.interfaceName, P.local]),
    portIdSubtype: subtypeName(P, du.portId.subtype),
    ttl: du.ttl,
  };
  if (du.portDescription !== undefined) out.portDescription = du.portDescription;
  if (du.systemName !== undefined) out.systemName = du.systemName;
  if (du.systemDescription !== undefined) out.systemDescription = du.systemDescription;
  if (du.systemCapabilities !== undefined) {
    const enabled = du.systemCapabilities.enabled;
    out.capabilities = CAPABILITY_BITS.filter((_, bit) => (enabled >> bit) & 1);
  }
  if (du.managementAddresses.length > 0) out.managementAddresses = du.managementAddresses.map((m: ManagementAddress) => addressText(m.family, m.address));
  return out;
}
