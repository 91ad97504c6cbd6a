import type { Mac } from '../common/mac.js';

/**
 * The URL layout of the plain-HTTP boot side, shared by DHCP (which URL to hand out) and the boot
 * HTTP server (what it serves). One place, so the two never disagree.
 */
export interface BootBase {
  /** e.g. http://10.0.0.1:8080 — the advertise address and the boot HTTP port. */
  httpBase: string;
}

export function bootBase(advertiseAddress: string, httpPort: number): BootBase {
  return { httpBase: `http://${advertiseAddress}:${httpPort}` };
}

/** Hyphenated MAC, as iPXE's ${mac:hexhyp} spells it: safe in a path on every firmware. */
export function macPathSegment(mac: Mac): string {
  return mac.replaceAll(':', '-');
}

export const BOOT_PATHS = {
  /** The per-machine iPXE script; DHCP hands this to iPXE clients. */
  ipxeScript: (mac: Mac) => `/boot/${macPathSegment(mac)}.ipxe`,
  /** iPXE programs from the configured ipxe directory (UEFI HTTP boot loads these). */
  ipxeProgram: (file: string) => `/ipxe/${file}`,
  /** Discovery OS kernel and initramfs. */
  discoveryKernel: '/images/discovery/vmlinuz',
  discoveryInitrd: '/images/discovery/initrd.img',
  /** Agent endpoints, served on the boot side too: the discovery OS has no TLS trust store. */
  agentApi: '/api/v1/agent',
} as const;

export function ipxeScriptUrl(base: BootBase, mac: Mac): string {
  return base.httpBase + BOOT_PATHS.ipxeScript(mac);
}
