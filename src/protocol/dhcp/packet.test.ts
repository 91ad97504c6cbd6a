import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isBootrackError } from '../../common/errors.js';
import { udpPayloads } from '../../../test/helpers/dhcp-pcap.js';
import { classify } from '../pxe/classify.js';
import { FILE_OFFSET, MIN_PACKET_LENGTH, OPT } from './constants.js';
import { decodePacket, encodePacket, encodingLength, type DhcpPacket } from './packet.js';

const TESTDATA = join(import.meta.dirname, '../../../testdata/dhcp');
const capture = (name: string) => udpPayloads(join(TESTDATA, name)).map((p) => p.payload);

function basePacket(overrides: Partial<DhcpPacket> = {}): DhcpPacket {
  const chaddr = Buffer.alloc(16);
  Buffer.from('525400aa0001', 'hex').copy(chaddr);
  return {
    op: 1, htype: 1, hlen: 6, hops: 0, xid: 0x12345678, secs: 3, flags: 0x8000,
    ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0', chaddr,
    sname: '', file: '', options: { messageType: 'DISCOVER', other: [] }, ...overrides,
  };
}

/** encode → decode → encode is stable, and encodingLength equals the bytes written. */
function expectRoundTrip(packet: DhcpPacket, maxPayload?: number): DhcpPacket {
  const bytes = encodePacket(packet, { maxPayload });
  expect(bytes.length).toBe(encodingLength(packet, { maxPayload }));
  expect(bytes.length).toBeGreaterThanOrEqual(MIN_PACKET_LENGTH);
  const back = decodePacket(bytes);
  expect(back).toEqual(packet);
  expect(encodePacket(back, { maxPayload }).equals(bytes)).toBe(true);
  return back;
}

describe('golden captures from real firmware (testdata/dhcp/*.pcap, regenerate with testdata/dhcp/capture.sh)', () => {
  it('SeaBIOS + iPXE ROM DISCOVER: bare user class, arch 0, UNDI 2.1, UUID, option 175', () => {
    const packets = capture('seabios-ipxe.pcap');
    expect(packets.length).toBeGreaterThan(0);
    const p = decodePacket(packets[0]!);
    expect(p.options.messageType).toBe('DISCOVER');
    expect(p.options.vendorClass).toBe('PXEClient:Arch:00000:UNDI:002001');
    expect(p.options.userClass).toEqual({ form: 'bare', classes: ['iPXE'] });
    expect(p.options.clientArch).toEqual([0]);
    expect(p.options.clientNdi).toEqual({ type: 1, major: 2, minor: 1 });
    expect(p.options.clientUuid).toEqual({ type: 0, uuid: '7e57ab1e-0000-4000-8000-000000000001' });
    expect(p.options.clientId?.toString('hex')).toBe('01525400dd0001');
    expect(p.options.ipxe?.find((s) => s.code === 177)?.data.toString('hex')).toBe('011af41000');
    expect(p.options.maxMessageSize).toBe(1472);
    expect(p.options.other).toEqual([]);
    expect(classify(p)).toEqual({ kind: 'ipxe', arch: 0, platform: 'bios' });
  });

  it('OVMF native PXE DISCOVER: arch 7, UNDI 3.0, no user class', () => {
    const p = decodePacket(capture('ovmf-pxe.pcap')[0]!);
    expect(p.options.vendorClass).toBe('PXEClient:Arch:00007:UNDI:003000');
    expect(p.options.userClass).toBeUndefined();
    expect(p.options.clientArch).toEqual([7]);
    expect(p.options.clientNdi).toEqual({ type: 1, major: 3, minor: 0 });
    expect(p.options.clientUuid?.uuid).toBe('7e57ab1e-0000-4000-8000-000000000002');
    expect(p.options.parameterRequestList).toContain(OPT.BOOTFILE);
    expect(classify(p)).toEqual({ kind: 'pxe', arch: 7, platform: 'uefi-x64' });
  });

  it('iPXE EFI DISCOVER: arch 7 with user class iPXE and 175', () => {
    const p = decodePacket(capture('ipxe-efi.pcap')[0]!);
    expect(p.options.vendorClass).toBe('PXEClient:Arch:00007:UNDI:003010');
    expect(p.options.userClass?.classes).toEqual(['iPXE']);
    expect(p.options.clientUuid?.uuid).toBe('7e57ab1e-0000-4000-8000-000000000003');
    expect(classify(p)).toEqual({ kind: 'ipxe', arch: 7, platform: 'uefi-x64' });
  });

  it('every captured packet round-trips and re-encodes to the same length-invariant bytes', () => {
    for (const name of ['seabios-ipxe.pcap', 'ovmf-pxe.pcap', 'ipxe-efi.pcap']) {
      for (const raw of capture(name)) {
        const p = decodePacket(raw);
        expectRoundTrip(p, 1500);
        // Options are emitted 53 first; the bytes of every option survive.
        expect(decodePacket(encodePacket(p)).options).toEqual(p.options);
      }
    }
  });
});

describe('codec round trip and length invariants', () => {
  it('typed options of every kind survive encode/decode', () => {
    const p = basePacket({
      options: {
        messageType: 'OFFER', serverId: '10.0.0.1', subnetMask: '255.255.255.0', routers: ['10.0.0.1'], dnsServers: ['10.0.0.2', '10.0.0.3'],
        hostname: 'node-1', domainName: 'lab', broadcastAddress: '10.0.0.255', vendorSpecific: Buffer.from([6, 1, 8, 255]),
        requestedIp: '10.0.0.9', leaseSeconds: 3600, parameterRequestList: [1, 3, 6, 67], message: 'hi', maxMessageSize: 1500, renewalSeconds: 1800,
        rebindingSeconds: 3150, vendorClass: 'PXEClient', clientId: Buffer.from('01525400aa0001', 'hex'), tftpServerName: '10.0.0.1',
        bootfileName: 'ipxe.efi', userClass: { form: 'rfc3004', classes: ['iPXE', 'other'] },
        relayAgent: [{ code: 1, data: Buffer.from('eth0') }, { code: 2, data: Buffer.from([1, 2, 3]) }], clientArch: [7, 9],
        clientNdi: { type: 1, major: 3, minor: 16 }, clientUuid: { type: 0, uuid: '7e57ab1e-0000-4000-8000-000000000001' },
        ipxe: [{ code: 177, data: Buffer.from('011af41000', 'hex') }], other: [{ code: 200, data: Buffer.from('raw') }],
      },
      file: 'undionly.kpxe', sname: 'server',
    });
    expectRoundTrip(p, 1500);
  });

  it('option 97 puts the first three UUID fields little-endian on the wire', () => {
    const bytes = encodePacket(basePacket({ options: { messageType: 'DISCOVER', clientUuid: { type: 0, uuid: '7e57ab1e-0000-4000-8000-000000000001' }, other: [] } }));
    const at = bytes.indexOf(Buffer.from([97, 17]));
    expect(bytes.subarray(at + 2, at + 19).toString('hex')).toBe('001eab577e000000408000000000000001');
  });

  it('a value over 255 bytes is split (RFC 3396) and joined again', () => {
    const p = basePacket({ options: { messageType: 'ACK', bootfileName: 'x'.repeat(600), other: [] } });
    const bytes = encodePacket(p, { maxPayload: 1500 });
    expect(bytes.filter((_, i) => i >= 240 && bytes[i] === 67 && (bytes[i + 1] === 255 || bytes[i + 1] === 90)).length).toBeGreaterThanOrEqual(3);
    expectRoundTrip(p, 1500);
  });

  it('a value continued from the options field into the file field (overload) is joined in order, and the next message starts afresh', () => {
    const bytes = encodePacket(basePacket({ options: { messageType: 'DISCOVER', other: [] } }));
    const at = bytes.indexOf(255, 240);
    const withOverload = Buffer.concat([bytes.subarray(0, at), Buffer.from([52, 1, 1, 12, 3, ...Buffer.from('abc'), 255]), Buffer.alloc(64)]);
    Buffer.from([12, 3, ...Buffer.from('def'), 255]).copy(withOverload, FILE_OFFSET);
    expect(decodePacket(withOverload).options).toMatchObject({ messageType: 'DISCOVER', hostname: 'abcdef' });
    const single = encodePacket(basePacket({ options: { messageType: 'DISCOVER', hostname: 'ghi', other: [] } }));
    expect(decodePacket(single).options.hostname).toBe('ghi');
  });

  it('options too big for the options field overflow into file and sname with option 52', () => {
    const p = basePacket({ options: { messageType: 'OFFER', hostname: 'h'.repeat(250), domainName: 'd'.repeat(100), vendorClass: 'v'.repeat(50), other: [] } });
    const bytes = encodePacket(p, { maxPayload: 576 - 28 });
    expect(bytes.length).toBeLessThanOrEqual(548);
    expect(bytes[240]).toBe(OPT.OVERLOAD);
    expectRoundTrip(p, 548);
  });

  it('refuses options that fit nowhere, with a code', () => {
    const p = basePacket({ options: { messageType: 'OFFER', hostname: 'h'.repeat(250), domainName: 'd'.repeat(250), vendorClass: 'v'.repeat(250), other: [] }, file: 'busy' });
    expect(() => encodePacket(p)).toThrow(expect.objectContaining({ code: 'DHCP_ENCODE_FAILED' }));
  });

  it('1000 random typed packets round-trip with the length invariant', () => {
    for (let n = 0; n < 1000; n++) {
      const r = randomBytes(64);
      const p = basePacket({
        xid: r.readUInt32BE(0), secs: r.readUInt16BE(4), flags: r.readUInt16BE(6) & 0x8000, hops: r[8]! & 15,
        ciaddr: `10.${r[9]}.${r[10]}.${r[11]}`, giaddr: r[12]! & 1 ? '0.0.0.0' : `192.168.${r[13]}.${r[14]}`,
        options: {
          messageType: (['DISCOVER', 'REQUEST', 'RELEASE', 'INFORM'] as const)[r[15]! & 3],
          ...(r[16]! & 1 ? { hostname: r.subarray(20, 20 + (r[17]! % 40) + 1).toString('hex') } : {}),
          ...(r[18]! & 1 ? { clientArch: [r.readUInt16BE(40)] } : {}),
          ...(r[19]! & 1 ? { relayAgent: [{ code: 1, data: r.subarray(44, 44 + (r[42]! % 16)) }] } : {}),
          other: r[43]! & 1 ? [{ code: 224 + (r[44]! % 30), data: r.subarray(46, 46 + (r[45]! % 18)) }] : [],
        },
      });
      expectRoundTrip(p, 1500);
    }
  });
});

describe('named malformed fixtures are refused with DHCP_MALFORMED (never a crash, never a read past the end)', () => {
  const good = encodePacket(basePacket());
  const withOptions = (opts: number[]) => Buffer.concat([good.subarray(0, 240), Buffer.from(opts)]);
  const fixtures: Record<string, Buffer> = {
    'empty datagram': Buffer.alloc(0),
    'one byte': Buffer.from([1]),
    'header without cookie': good.subarray(0, 236),
    'bad magic cookie': Buffer.concat([good.subarray(0, 236), Buffer.from([1, 2, 3, 4]), good.subarray(240)]),
    'op 3': Buffer.concat([Buffer.from([3]), good.subarray(1)]),
    'hlen 17': Buffer.concat([good.subarray(0, 2), Buffer.from([17]), good.subarray(3)]),
    'option length byte missing': withOptions([53]),
    'option runs past the end': withOptions([53, 1, 1, 12, 200, 65, 66]),
    'overload value 7': withOptions([53, 1, 1, 52, 1, 7, 255]),
    'overload into a file field holding a truncated option': (() => {
      const b = Buffer.from(withOptions([53, 1, 1, 52, 1, 1, 255]));
      b[108] = 12;
      b[109] = 200;
      return b;
    })(),
  };
  for (const [name, bytes] of Object.entries(fixtures)) {
    it(name, () => {
      let caught: unknown;
      try {
        decodePacket(bytes);
      } catch (err) {
        caught = err;
      }
      expect(isBootrackError(caught, 'DHCP_MALFORMED')).toBe(true);
    });
  }

  it('PAD before option 53 is one byte (the npm dhcp package got this wrong)', () => {
    expect(decodePacket(withOptions([0, 53, 1, 1, 255])).options.messageType).toBe('DISCOVER');
  });

  it('a missing END is tolerated when the last option ends at the datagram end', () => {
    expect(decodePacket(withOptions([53, 1, 3])).options.messageType).toBe('REQUEST');
  });

  it('malformed content of a typed option is kept raw in `other`, not dropped, and round-trips', () => {
    const p = decodePacket(withOptions([53, 1, 1, 93, 3, 0, 0, 7, 97, 5, 0, 1, 2, 3, 4, 54, 2, 1, 2, 255]));
    expect(p.options.clientArch).toBeUndefined();
    expect(p.options.other.map((o) => o.code)).toEqual([54, 93, 97]);
    expectRoundTrip(p);
  });

  it('an unknown message type is kept raw', () => {
    const p = decodePacket(withOptions([53, 1, 42, 255]));
    expect(p.options.messageType).toBeUndefined();
    expect(p.options.other).toEqual([{ code: 53, data: Buffer.from([42]) }]);
  });

  it('100000 random and mutated datagrams either decode or throw DHCP_MALFORMED', () => {
    const seeds = [good, ...capture('seabios-ipxe.pcap'), ...capture('ovmf-pxe.pcap')];
    let decoded = 0;
    for (let n = 0; n < 100_000; n++) {
      let bytes: Buffer;
      if (n % 4 === 0) bytes = randomBytes(n % 700);
      else {
        bytes = Buffer.from(seeds[n % seeds.length]!);
        const flips = 1 + (n % 8);
        for (let f = 0; f < flips; f++) bytes[(n * 7919 + f * 104729) % bytes.length] = (n * 31 + f) & 255;
        if (n % 5 === 0) bytes = bytes.subarray(0, (n * 13) % bytes.length);
      }
      try {
        const p = decodePacket(bytes);
        decoded++;
        encodePacket(p, { maxPayload: 65000 });
      } catch (err) {
        if (!isBootrackError(err, 'DHCP_MALFORMED') && !isBootrackError(err, 'DHCP_ENCODE_FAILED')) throw err;
      }
    }
    expect(decoded).toBeGreaterThan(1000);
  });
});
