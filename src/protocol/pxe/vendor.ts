import { decodeSubOptions, encodeSubOptions, type SubOption } from '../dhcp/options.js';

/** PXE 2.1 vendor options carried in option 43 when option 60 is "PXEClient". */
export const PXE_SUBOPTION = {
  DISCOVERY_CONTROL: 6,
  BOOT_SERVERS: 8,
  BOOT_MENU: 9,
  MENU_PROMPT: 10,
  BOOT_ITEM: 71,
} as const;

/**
 * Discovery control bit 3 (value 8): "if a boot file name is present in the initial DHCP or
 * proxyDHCP offer, download it" — so the ROM skips boot-server discovery (PXE 2.1 §2.4.2.1).
 */
export const DISCOVERY_USE_BOOTFILE = 0x08;

export function encodePxeVendorOptions(list: SubOption[]): Buffer {
  // A PXE option 43 ends with its own END byte (PXE 2.1 table 2-1).
  return Buffer.concat([encodeSubOptions(list), Buffer.from([255])]);
}

export function decodePxeVendorOptions(data: Buffer): SubOption[] | undefined {
  return decodeSubOptions(data);
}

/** The option 43 a proxy offer carries: "use the boot file in this offer". */
export function bootFileDiscoveryControl(): Buffer {
  return encodePxeVendorOptions([{ code: PXE_SUBOPTION.DISCOVERY_CONTROL, data: Buffer.from([DISCOVERY_USE_BOOTFILE]) }]);
}
