/**
 * The DHCP warm-up (netboot/dhcp-warmup.ts): synthetic exchanges through the codec and a twin policy
 * on a throwaway in-memory registry. The real registry (SQLite on disk) must not see any of it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../../src/common/logger.js';
import { configSchema } from '../../src/config/schema.js';
import { createDhcpPolicy, warmUpDhcp } from '../../src/netboot/dhcp.js';
import { decodePacket } from '../../src/protocol/dhcp/packet.js';
import { openRegistry, type Registry } from '../../src/registry/index.js';
import { requestHex } from '../helpers/dhcp-packets.js';

const fullConfig = configSchema.parse({
  advertiseAddress: '10.9.0.1',
  dhcp: { interfaces: ['prov0'], subnets: [{ cidr: '10.9.0.0/24', rangeStart: '10.9.0.10', rangeEnd: '10.9.0.19', leaseSeconds: 600 }] },
});
const proxyConfig = configSchema.parse({ advertiseAddress: '10.9.0.1', dhcp: { interfaces: ['prov0'], mode: 'proxy' } });

let dir: string;
let registry: Registry;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'brkdh-warmup-'));
  registry = openRegistry({ databasePath: join(dir, 'bootrack.db'), secretKey: { path: join(dir, 'key') } });
});

afterEach(() => {
  registry.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('DHCP warm-up', () => {
  it('goes all the way through the policy (OFFER, REQUEST, ACK) even with a range of 10 addresses', () => {
    const result = warmUpDhcp(fullConfig, 400);
    expect(result.exchanges).toBe(400);
    expect(result.acks).toBe(400);
  });

  it('proxy mode: runs without an address pool', () => {
    expect(warmUpDhcp(proxyConfig, 200).exchanges).toBe(200);
  });

  it('leaves the real registry untouched, and the warmed policy then serves from the start of its range', () => {
    const logged: Array<Record<string, unknown>> = [];
    const logger: Logger = { ...silentLogger, info: (fields: Record<string, unknown>) => void logged.push(fields), child: () => logger };
    const policy = createDhcpPolicy({ config: fullConfig, registry, logger });
    expect(logged).toContainEqual(expect.objectContaining({ exchanges: expect.any(Number), acks: expect.any(Number) }));
    expect(registry.leases.list()).toEqual([]);
    expect(registry.machines.list({})).toEqual([]);
    expect(registry.events.list({})).toEqual([]);

    const mac = '52:54:00:77:00:01';
    const offer = policy.handle({
      packet: decodePacket(Buffer.from(requestHex(mac, { messageType: 'DISCOVER' }), 'hex')),
      iface: { name: 'prov0', address: '10.9.0.1' },
      pxePort: false,
      source: { address: '0.0.0.0', port: 68 },
    });
    expect(offer?.yiaddr).toBe('10.9.0.10');
  });
});
