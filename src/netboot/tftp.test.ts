import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../common/logger.js';
import { configSchema } from '../config/schema.js';
import { createTftpPolicy, type TftpRegistryPort } from './tftp.js';

const root = mkdtempSync(join(tmpdir(), 'bootrack-policy-'));
writeFileSync(join(root, 'undionly.kpxe'), 'kpxe');
afterAll(() => rmSync(root, { recursive: true, force: true }));
const config = configSchema.parse({ advertiseAddress: '10.0.0.1', tftp: { root }, ipxe: { dir: root } });
const client = { address: '10.0.0.50', port: 2000 };

describe('TFTP netboot policy', () => {
  it('serves iPXE programs from the root and answers not-found for the rest', async () => {
    const p = createTftpPolicy({ config, logger: memoryLogger() });
    expect(await p.handler({ path: 'undionly.kpxe', client })).toMatchObject({ kind: 'file', path: join(root, 'undionly.kpxe') });
    expect(await p.handler({ path: 'nope.efi', client })).toEqual({ kind: 'not-found' });
  });

  it('generates autoexec.ipxe; without a lease iPXE fills in its own MAC', async () => {
    const p = createTftpPolicy({ config, logger: memoryLogger() });
    const r = await p.handler({ path: 'AUTOEXEC.IPXE', client });
    expect(r.kind).toBe('buffer');
    if (r.kind === 'buffer') expect(r.data.toString()).toContain('chain --autofree http://10.0.0.1:8080/boot/${net0/mac:hexhyp}.ipxe');
  });

  it('keeps answering when the registry fails, and logs it', async () => {
    const logger = memoryLogger();
    const broken = {
      leases: { macForIp: () => { throw new Error('database is locked'); } },
      machines: { findByMac: () => null },
      events: { append: () => { throw new Error('database is locked'); } },
    } as unknown as TftpRegistryPort; // test double: a registry whose SQLite calls fail
    const p = createTftpPolicy({ config, logger, registry: broken });
    expect(await p.handler({ path: 'undionly.kpxe', client })).toMatchObject({ kind: 'file' });
    expect(await p.handler({ path: '../x', client })).toEqual({ kind: 'denied', reason: 'dot-dot' });
    expect(() => p.observer.transferEnded({ id: 1, path: 'x', client, startedAt: new Date(), durationMs: 1, outcome: 'complete', options: { blksize: 512, windowsize: 1, timeoutSeconds: null, tsize: null, oack: false }, bytes: 1, blocks: 1, retransmits: 0, ignoredAcks: 0 })).not.toThrow();
    expect(logger.records.filter((r) => r.level === 'warn').map((r) => r.message)).toContain('tftp: lease lookup failed');
  });
});
