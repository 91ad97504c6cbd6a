import type { DhcpPacket } from '../dhcp/packet.js';

/**
 * Client system architectures of RFC 4578 §2.1 / the IANA "Processor Architecture Types" registry
 * that bootrack knows how to boot.
 */
export const ARCH = {
  X86_BIOS: 0,
  EFI_IA32: 6,
  EFI_X64: 7,
  EFI_BC: 9, // EFI byte code; every firmware seen sending 9 was x86-64 (RFC 4578 erratum 4040)
  EFI_ARM64: 11,
  EFI_X64_HTTP: 16,
  EFI_ARM64_HTTP: 19,
  EFI_IA32_HTTP: 15,
} as const;

export type Platform = 'bios' | 'uefi-ia32' | 'uefi-x64' | 'uefi-arm64';

/**
 * What kind of client sent a DHCP request, which decides the boot answer:
 * - `os`: an operating system's own DHCP client (dhclient, udhcpc): address only, no boot file.
 * - `pxe`: a firmware PXE ROM: the TFTP boot program for its platform.
 * - `http`: UEFI HTTP boot: an http URL of the EFI program, with option 60 "HTTPClient".
 * - `ipxe`: iPXE itself (user class "iPXE" or option 175): the HTTP script URL, which breaks the
 *   chainload loop (the ROM and a chainloaded iPXE would otherwise get the same answer forever).
 * - `unsupported`: PXE/HTTP boot from a platform we have no boot program for: no boot file.
 */
export type BootClient =
  | { kind: 'os' }
  | { kind: 'pxe'; arch: number; platform: Platform }
  | { kind: 'http'; arch: number; platform: Platform }
  | { kind: 'ipxe'; arch: number | null; platform: Platform | null }
  | { kind: 'unsupported'; arch: number | null; vendorClass: string };

export function platformOf(arch: number): Platform | null {
  switch (arch) {
    case ARCH.X86_BIOS:
      return 'bios';
    case ARCH.EFI_IA32:
    case ARCH.EFI_IA32_HTTP:
      return 'uefi-ia32';
    case ARCH.EFI_X64:
    case ARCH.EFI_BC:
    case ARCH.EFI_X64_HTTP:
      return 'uefi-x64';
    case ARCH.EFI_ARM64:
    case ARCH.EFI_ARM64_HTTP:
      return 'uefi-arm64';
    default:
      return null;
  }
}

/** Architecture from option 93, else from the "PXEClient:Arch:00007:…" vendor class (RFC 4578 §2.1). */
export function clientArch(packet: DhcpPacket): number | null {
  const listed = packet.options.clientArch?.[0];
  if (listed !== undefined) return listed;
  const m = /^(?:PXEClient|HTTPClient):Arch:(\d{5})/.exec(packet.options.vendorClass ?? '');
  return m ? Number(m[1]) : null;
}

export function isIpxe(packet: DhcpPacket): boolean {
  return packet.options.ipxe !== undefined || (packet.options.userClass?.classes.includes('iPXE') ?? false);
}

export function classify(packet: DhcpPacket): BootClient {
  const arch = clientArch(packet);
  const vendorClass = packet.options.vendorClass ?? '';
  if (isIpxe(packet)) return { kind: 'ipxe', arch, platform: arch === null ? null : platformOf(arch) };
  const http = vendorClass.startsWith('HTTPClient');
  const pxe = vendorClass.startsWith('PXEClient');
  if (!http && !pxe) return { kind: 'os' };
  const platform = arch === null ? null : platformOf(arch);
  if (arch === null || platform === null) return { kind: 'unsupported', arch, vendorClass };
  return http ? { kind: 'http', arch, platform } : { kind: 'pxe', arch, platform };
}
