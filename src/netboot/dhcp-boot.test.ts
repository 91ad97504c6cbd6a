import { describe, expect, it } from 'vitest';
import { parseMac } from '../common/mac.js';
import { configSchema } from '../config/schema.js';
import { bootAnswer } from './dhcp-boot.js';

const config = configSchema.parse({ advertiseAddress: '10.0.0.1', http: { port: 8080 } });
const mac = parseMac('52:54:00:aa:bb:cc');

describe('boot answer per client kind', () => {
  it('iPXE gets its script URL (breaks the chainload loop)', () => {
    expect(bootAnswer({ kind: 'ipxe', arch: 0, platform: 'bios' }, mac, config)).toEqual({ bootFile: 'http://10.0.0.1:8080/boot/52-54-00-aa-bb-cc.ipxe', nextServer: '10.0.0.1', vendorClass: null });
  });
  it.each([
    ['bios', 'undionly.kpxe'],
    ['uefi-x64', 'ipxe.efi'],
    ['uefi-arm64', 'arm64-efi/ipxe.efi'],
  ] as const)('a %s PXE ROM gets the TFTP program %s', (platform, file) => {
    expect(bootAnswer({ kind: 'pxe', arch: 0, platform }, mac, config)).toEqual({ bootFile: file, nextServer: '10.0.0.1', vendorClass: null });
  });
  it('UEFI HTTP boot gets the http URL of the EFI program and option 60 HTTPClient', () => {
    expect(bootAnswer({ kind: 'http', arch: 16, platform: 'uefi-x64' }, mac, config)).toEqual({ bootFile: 'http://10.0.0.1:8080/ipxe/ipxe.efi', nextServer: '10.0.0.1', vendorClass: 'HTTPClient' });
  });
  it('the OS client, an unsupported arch and ia32 (no program configured) get nothing', () => {
    expect(bootAnswer({ kind: 'os' }, mac, config)).toBeNull();
    expect(bootAnswer({ kind: 'unsupported', arch: 2, vendorClass: 'PXEClient' }, mac, config)).toBeNull();
    expect(bootAnswer({ kind: 'pxe', arch: 6, platform: 'uefi-ia32' }, mac, config)).toBeNull();
  });
});
