import { describe, expect, it } from 'vitest';
import type { DhcpOptions } from '../dhcp/options.js';
import type { DhcpPacket } from '../dhcp/packet.js';
import { classify, clientArch } from './classify.js';
import { bootFileDiscoveryControl, decodePxeVendorOptions } from './vendor.js';

const packet = (options: Partial<DhcpOptions>): DhcpPacket => ({
  op: 1, htype: 1, hlen: 6, hops: 0, xid: 1, secs: 0, flags: 0, ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0',
  chaddr: Buffer.alloc(16), sname: '', file: '', options: { messageType: 'DISCOVER', other: [], ...options },
});

describe('classify', () => {
  it.each([
    ['udhcpc', { vendorClass: 'udhcp 1.35.0' }, { kind: 'os' }],
    ['dhclient (no vendor class)', {}, { kind: 'os' }],
    ['BIOS PXE ROM', { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0] }, { kind: 'pxe', arch: 0, platform: 'bios' }],
    ['ia32 UEFI PXE', { vendorClass: 'PXEClient:Arch:00006:UNDI:003000', clientArch: [6] }, { kind: 'pxe', arch: 6, platform: 'uefi-ia32' }],
    ['x64 UEFI PXE', { vendorClass: 'PXEClient:Arch:00007:UNDI:003000', clientArch: [7] }, { kind: 'pxe', arch: 7, platform: 'uefi-x64' }],
    ['EFI BC (9) is x64 in practice', { vendorClass: 'PXEClient:Arch:00009:UNDI:003000', clientArch: [9] }, { kind: 'pxe', arch: 9, platform: 'uefi-x64' }],
    ['arm64 UEFI PXE (AAVMF)', { vendorClass: 'PXEClient:Arch:00011:UNDI:003000', clientArch: [11] }, { kind: 'pxe', arch: 11, platform: 'uefi-arm64' }],
    ['arch only in the vendor class', { vendorClass: 'PXEClient:Arch:00007:UNDI:003000' }, { kind: 'pxe', arch: 7, platform: 'uefi-x64' }],
    ['UEFI HTTP boot x64', { vendorClass: 'HTTPClient:Arch:00016:UNDI:003000', clientArch: [16] }, { kind: 'http', arch: 16, platform: 'uefi-x64' }],
    ['UEFI HTTP boot ia32', { vendorClass: 'HTTPClient:Arch:00015:UNDI:003000', clientArch: [15] }, { kind: 'http', arch: 15, platform: 'uefi-ia32' }],
    ['UEFI HTTP boot arm64', { vendorClass: 'HTTPClient:Arch:00019:UNDI:003000', clientArch: [19] }, { kind: 'http', arch: 19, platform: 'uefi-arm64' }],
    ['iPXE by bare user class', { vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0], userClass: { form: 'bare', classes: ['iPXE'] } }, { kind: 'ipxe', arch: 0, platform: 'bios' }],
    ['iPXE by RFC 3004 user class', { userClass: { form: 'rfc3004', classes: ['x', 'iPXE'] } }, { kind: 'ipxe', arch: null, platform: null }],
    ['iPXE by option 175 alone', { clientArch: [7], ipxe: [{ code: 177, data: Buffer.from([1]) }] }, { kind: 'ipxe', arch: 7, platform: 'uefi-x64' }],
    ['PXE ROM of an unknown arch', { vendorClass: 'PXEClient:Arch:00002:UNDI:002001', clientArch: [2] }, { kind: 'unsupported', arch: 2, vendorClass: 'PXEClient:Arch:00002:UNDI:002001' }],
  ] as const)('%s', (_name, options, expected) => {
    expect(classify(packet(options as Partial<DhcpOptions>))).toEqual(expected);
  });

  it('option 93 wins over the vendor class string', () => {
    expect(clientArch(packet({ vendorClass: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [7] }))).toBe(7);
  });
});

describe('PXE vendor options (43)', () => {
  it('discovery control 8 ("use the boot file of this offer") with its END byte', () => {
    const bytes = bootFileDiscoveryControl();
    expect(bytes.toString('hex')).toBe('060108ff');
    expect(decodePxeVendorOptions(bytes)).toEqual([{ code: 6, data: Buffer.from([8]) }]);
  });
});
