import type { Mac } from '../common/mac.js';
import type { Config } from '../config/schema.js';
import type { BootClient, Platform } from '../protocol/pxe/classify.js';
import { BOOT_PATHS, bootBase, ipxeScriptUrl } from './urls.js';

/** What a booting client is told to load; null means "no boot file" (an OS client, or no program for it). */
export interface BootAnswer {
  /** Option 67 and the BOOTP `file` field: a TFTP path or an http URL. */
  bootFile: string;
  /** siaddr (next-server): where a TFTP path is fetched from. */
  nextServer: string;
  /** Option 60 in the reply: "PXEClient" for proxy answers, "HTTPClient" is mandatory for UEFI HTTP boot. */
  vendorClass: 'PXEClient' | 'HTTPClient' | null;
}

export type BootConfig = Pick<Config, 'advertiseAddress' | 'http' | 'ipxe'>;

function programFor(platform: Platform | null, config: BootConfig): string | null {
  switch (platform) {
    case 'bios':
      return config.ipxe.biosFile;
    case 'uefi-x64':
      return config.ipxe.uefiX64File;
    case 'uefi-arm64':
      return config.ipxe.uefiArm64File;
    default:
      return null; // no ia32 EFI iPXE is configured
  }
}

/**
 * The answer per client kind (issue 3):
 * - iPXE → the HTTP URL of this MAC's iPXE script. This breaks the chainload loop: the ROM that
 *   loaded iPXE and iPXE itself would otherwise get the same boot program forever.
 * - PXE ROM → the TFTP iPXE program for its platform, next-server = this appliance.
 * - UEFI HTTP boot → http URL of the EFI iPXE program, with option 60 "HTTPClient" (OVMF ignores the
 *   offer without it; firmware-notes.md pitfall 2). The URL ends in .efi as OVMF requires.
 * - OS client or unsupported platform → nothing.
 */
export function bootAnswer(client: BootClient, mac: Mac, config: BootConfig): BootAnswer | null {
  const base = bootBase(config.advertiseAddress, config.http.port);
  switch (client.kind) {
    case 'ipxe':
      return { bootFile: ipxeScriptUrl(base, mac), nextServer: config.advertiseAddress, vendorClass: null };
    case 'pxe': {
      const file = programFor(client.platform, config);
      return file === null ? null : { bootFile: file, nextServer: config.advertiseAddress, vendorClass: null };
    }
    case 'http': {
      const file = programFor(client.platform, config);
      return file === null ? null : { bootFile: base.httpBase + BOOT_PATHS.ipxeProgram(file), nextServer: config.advertiseAddress, vendorClass: 'HTTPClient' };
    }
    default:
      return null;
  }
}
