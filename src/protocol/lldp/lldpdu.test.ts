import { describe, expect, it } from 'vitest';
import { BootrackError, isBootrackError } from '../../common/errors.js';
import { CHASSIS_SUBTYPE, PORT_SUBTYPE, TLV, decodeLldpdu, encodeLldpdu, encodedLength, lldpduFromHex, readTlvs, type Lldpdu } from './lldpdu.js';
import { addressText, summarizeLldpdu } from './render.js';
import { GOLDEN_LLDPDUS, LLDPD_BRIDGE_MAC_IDS_SUMMARY } from './testdata/golden.js';

const golden = (name: keyof typeof GOLDEN_LLDPDUS): Uint8Array => lldpduFromHex(GOLDEN_LLDPDUS[name]);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const tlv = (type: number, value: number[] | string): number[] => {
  const v = typeof value === 'string' ? [...Buffer.from(value)] : value;
  return [(type << 1) | (v.length >> 8), v.length & 0xff, ...v];
};
const MAC = [0x02, 0x00, 0x5e, 0x10, 0x20, 0x30];
const mandatory = [...tlv(1, [4, ...MAC]), ...tlv(2, [5, ...Buffer.from('eth0')]), ...tlv(3, [0, 120])];
const END = [0, 0];

function reasonOf(bytes: number[] | Uint8Array): string {
  try {
    decodeLldpdu(Uint8Array.from(bytes));
  } catch (err) {
    expect(isBootrackError(err, 'LLDP_MALFORMED'), String(err)).toBe(true);
    return String((err as BootrackError).details.reason);
  }
  throw new Error(`decoded without error: ${hex(Uint8Array.from(bytes))}`);
}

describe('LLDPDU golden frames from Debian lldpd 1.0.16', () => {
  it('defaults: MAC chassis and port IDs, TTL, names, capabilities, IPv4+IPv6 management, 802.3 org TLVs kept raw', () => {
    const du = decodeLldpdu(golden('lldpdBridgeMacIds'));
    expect(du.chassisId.subtype).toBe(CHASSIS_SUBTYPE.macAddress);
    expect(du.portId.subtype).toBe(PORT_SUBTYPE.macAddress);
    expect(du.ttl).toBe(4); // tx-interval 1 s × hold multiplier 4
    expect(summarizeLldpdu(du)).toEqual(LLDPD_BRIDGE_MAC_IDS_SUMMARY);
    expect(du.managementAddresses[0]).toMatchObject({ family: 1, interfaceSubtype: 2, interfaceNumber: 2 });
    expect(du.otherTlvs.map((t) => [t.type, hex(t.value.subarray(0, 4))])).toEqual([
      [TLV.ORG_SPECIFIC, '00120f03'], // IEEE 802.3: link aggregation
      [TLV.ORG_SPECIFIC, '00120f01'], // IEEE 802.3: MAC/PHY configuration
    ]);
  });

  it('locally assigned chassis and port IDs and a port description set with lldpcli', () => {
    expect(summarizeLldpdu(decodeLldpdu(golden('lldpdLocalIds')))).toMatchObject({
      chassisId: 'brkds-chassis-7',
      chassisIdSubtype: 'local',
      portId: 'Gi1/0/7',
      portIdSubtype: 'local',
      portDescription: 'uplink to rack 7',
      systemName: 'brkds-switch',
      managementAddresses: ['10.250.0.1'],
    });
  });

  it('round trip: decode → encode → decode is equal; the length function equals the bytes written', () => {
    for (const name of ['lldpdBridgeMacIds', 'lldpdLocalIds'] as const) {
      const du = decodeLldpdu(golden(name));
      const bytes = encodeLldpdu(du);
      expect(bytes.length).toBe(encodedLength(du));
      expect(decodeLldpdu(bytes)).toEqual(du);
      expect(hex(encodeLldpdu(decodeLldpdu(bytes)))).toBe(hex(bytes));
      // lldpd's own order is 1 2 3 5 6 7 8 8 4 127 127 0; the encoder's canonical one has the same TLVs
      expect(readTlvs(bytes).map((t) => t.type).sort()).toEqual(readTlvs(golden(name)).map((t) => t.type).sort());
    }
  });
});

describe('LLDPDU encoder values', () => {
  const du: Lldpdu = {
    chassisId: { subtype: CHASSIS_SUBTYPE.networkAddress, value: Uint8Array.of(1, 192, 0, 2, 7) },
    portId: { subtype: PORT_SUBTYPE.interfaceName, value: new TextEncoder().encode('swp12') },
    ttl: 65535,
    systemName: 'leaf-07.rack7',
    systemCapabilities: { supported: 0x14, enabled: 0x10 },
    managementAddresses: [
      { family: 2, address: Uint8Array.from(Buffer.from('20010db8000000000000000000000001', 'hex')), interfaceSubtype: 3, interfaceNumber: 0xfffffffe, oid: Uint8Array.of(0x2b, 6, 1) },
      { family: 6, address: Uint8Array.from(MAC), interfaceSubtype: 1, interfaceNumber: 0, oid: new Uint8Array() },
    ],
    otherTlvs: [{ type: 42, value: Uint8Array.of(1, 2, 3) }, { type: TLV.ORG_SPECIFIC, value: new Uint8Array(400).fill(7) }],
  };

  it('network-address chassis, interface-name port, IPv6 and MAC management addresses, a 400-byte TLV (9-bit length)', () => {
    const bytes = encodeLldpdu(du);
    expect(decodeLldpdu(bytes)).toEqual(du);
    expect(summarizeLldpdu(decodeLldpdu(bytes))).toEqual({
      chassisId: '192.0.2.7',
      chassisIdSubtype: 'networkAddress',
      portId: 'swp12',
      portIdSubtype: 'interfaceName',
      ttl: 65535,
      systemName: 'leaf-07.rack7',
      capabilities: ['router'],
      managementAddresses: ['2001:db8::1', '02:00:5e:10:20:30'],
    });
    expect(bytes.length).toBe(encodedLength(du));
  });

  it('Ethernet padding after End is ignored; an LLDPDU without End (802.1AB-2009) is accepted', () => {
    const frame = [...mandatory, ...tlv(5, 'sw1'), ...END];
    const padded = decodeLldpdu(Uint8Array.from([...frame, ...new Array(20).fill(0xaa)]));
    expect(padded.systemName).toBe('sw1');
    expect(decodeLldpdu(Uint8Array.from([...mandatory, ...tlv(5, 'sw1')]))).toEqual(padded);
  });

  it('non-printable IDs render as hex, unknown address families as family:hex', () => {
    const s = summarizeLldpdu(decodeLldpdu(Uint8Array.from([...tlv(1, [7, 0, 1, 0xff]), ...tlv(2, [6, 0xde, 0xad]), ...tlv(3, [0, 0]), ...END])));
    expect([s.chassisId, s.portId, s.portIdSubtype]).toEqual(['0001ff', 'dead', 'agentCircuitId']);
    expect(addressText(16, Uint8Array.of(1, 2))).toBe('16:0102');
    expect(addressText(2, new Uint8Array(16))).toBe('::');
  });

  it('the encoder refuses what would not decode, with LLDP_ENCODE_FAILED', () => {
    const err: unknown = (() => {
      try {
        return encodeLldpdu({ ...du, chassisId: { subtype: 4, value: new Uint8Array() } });
      } catch (e) {
        return e;
      }
    })();
    expect(isBootrackError(err, 'LLDP_ENCODE_FAILED')).toBe(true);
    expect(() => encodeLldpdu({ ...du, systemName: 'x'.repeat(600) })).toThrow(/at most 511/);
  });
});

describe('malformed LLDPDUs are LLDP_MALFORMED naming the reason', () => {
  const cases: Array<[string, number[], string]> = [
    ['empty', [], 'missing_mandatory'],
    ['only End', END, 'missing_mandatory'],
    ['one byte', [0x02], 'truncated_header'],
    ['value runs past the end', [...tlv(1, [4, ...MAC]).slice(0, 5)], 'truncated_value'],
    ['first TLV is Port ID', [...tlv(2, [5, 0x65]), ...tlv(1, [4, ...MAC]), ...tlv(3, [0, 1]), ...END], 'missing_mandatory'],
    ['no TTL', [...tlv(1, [4, ...MAC]), ...tlv(2, [5, 0x65]), ...END], 'missing_mandatory'],
    ['TTL of 3 bytes', [...tlv(1, [4, ...MAC]), ...tlv(2, [5, 0x65]), ...tlv(3, [0, 0, 1]), ...END], 'bad_length'],
    ['Chassis ID with no ID bytes', [...tlv(1, [4]), ...tlv(2, [5, 0x65]), ...tlv(3, [0, 1]), ...END], 'bad_length'],
    ['System Capabilities of 2 bytes', [...mandatory, ...tlv(7, [0, 4]), ...END], 'bad_length'],
    ['End with a length', [...mandatory, 0x00, 0x01, 0x00], 'bad_length'],
    ['System Name twice', [...mandatory, ...tlv(5, 'a'), ...tlv(5, 'b'), ...END], 'duplicate'],
    ['Chassis ID again after TTL', [...mandatory, ...tlv(1, [4, ...MAC]), ...END], 'misplaced_mandatory'],
    ['management address string length 40', [...mandatory, ...tlv(8, [40, 1, 10, 0, 0, 1, 2, 0, 0, 0, 1, 0]), ...END], 'bad_management_address'],
    ['management address OID length past the TLV', [...mandatory, ...tlv(8, [5, 1, 10, 0, 0, 1, 2, 0, 0, 0, 1, 9]), ...END], 'bad_management_address'],
    ['org-specific TLV shorter than OUI + subtype', [...mandatory, ...tlv(127, [0, 0x12]), ...END], 'bad_length'],
  ];
  it.each(cases)('%s', (_name, bytes, reason) => {
    expect(reasonOf(bytes)).toBe(reason);
  });

  it('bad hex is LLDP_MALFORMED bad_hex', () => {
    for (const h of ['abc', 'zz', '0x02']) {
      try {
        lldpduFromHex(h);
        throw new Error(`accepted ${h}`);
      } catch (err) {
        expect(isBootrackError(err, 'LLDP_MALFORMED') && err.details.reason).toBe('bad_hex');
      }
    }
  });

  it('every truncation of a golden frame and 5000 random buffers either decode or throw LLDP_MALFORMED, nothing else', () => {
    const frame = golden('lldpdBridgeMacIds');
    const seenReasons = new Set<string>();
    const attempt = (b: Uint8Array): void => {
      try {
        decodeLldpdu(b);
      } catch (err) {
        if (!isBootrackError(err, 'LLDP_MALFORMED')) throw err;
        seenReasons.add(String(err.details.reason));
      }
    };
    for (let n = 0; n < frame.length; n++) attempt(frame.subarray(0, n));
    // xorshift32, fixed seed: the same buffers every run
    let x = 0x2545f491;
    const next = (): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    for (let i = 0; i < 5000; i++) {
      const b = new Uint8Array(next() % 300);
      for (let k = 0; k < b.length; k++) b[k] = next() & 0xff;
      // half of them start with valid mandatory TLVs so the optional-TLV paths are reached too
      if (i % 2 === 0) attempt(Uint8Array.from([...mandatory, ...b]));
      else attempt(b);
    }
    expect(seenReasons.size).toBeGreaterThanOrEqual(4);
  });
});
