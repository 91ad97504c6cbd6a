/** DHCP is off unless an interface is configured: bootrack must never become a rogue DHCP server by accident. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { configSchema } from '../../src/config/schema.js';
import { composeServices } from '../../src/main.js';
import { DhcpPolicy } from '../../src/netboot/dhcp.js';
import { openRegistry } from '../../src/registry/index.js';

const dir = mkdtempSync(join(tmpdir(), 'brkdh-compose-'));
const registry = openRegistry({ databasePath: join(dir, 'db.sqlite'), secretKey: { path: join(dir, 'key') } });
afterAll(() => {
  registry.close();
  rmSync(dir, { recursive: true, force: true });
});
const base = { stateDir: dir, api: { tls: false } };

describe('DHCP in the composition root', () => {
  it('the default configuration composes no DHCP service', () => {
    const config = configSchema.parse(base);
    expect(config.dhcp.interfaces).toEqual([]);
    expect(composeServices({ config, registry, logger: silentLogger }).map((s) => s.name)).not.toContain('dhcp');
  });

  it('subnets without an interface still compose no DHCP service', () => {
    const config = configSchema.parse({ ...base, dhcp: { subnets: [{ cidr: '10.9.0.0/24', rangeStart: '10.9.0.10', rangeEnd: '10.9.0.20' }] } });
    expect(composeServices({ config, registry, logger: silentLogger }).map((s) => s.name)).not.toContain('dhcp');
  });

  it('a named interface composes it', () => {
    const config = configSchema.parse({ ...base, dhcp: { interfaces: ['prov0'], subnets: [{ cidr: '10.9.0.0/24', rangeStart: '10.9.0.10', rangeEnd: '10.9.0.20' }] } });
    expect(composeServices({ config, registry, logger: silentLogger }).map((s) => s.name)).toContain('dhcp');
  });

  it('full mode without a subnet, or with a range outside its subnet, is refused with DHCP_CONFIG_INVALID', () => {
    for (const dhcp of [{ interfaces: ['prov0'] }, { interfaces: ['prov0'], subnets: [{ cidr: '10.9.0.0/24', rangeStart: '10.9.1.10', rangeEnd: '10.9.1.20' }] }]) {
      const config = configSchema.parse({ ...base, dhcp });
      expect(() => new DhcpPolicy({ config, registry, logger: silentLogger })).toThrow(expect.objectContaining({ code: 'DHCP_CONFIG_INVALID' }));
    }
  });
});
