import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMac } from '../../src/common/mac.js';
import { sha256File, fetchWith, requireTools, type TftpClientName } from '../helpers/tftp-clients.js';
import { startPolicyServer, tftpRoot, type PolicyServer, type TftpRoot } from '../helpers/tftp-fixtures.js';
import { tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';
import { RawTftpClient } from '../helpers/tftp-raw.js';

// Real clients (curl, atftp, tftp-hpa) against the daemon's TFTP composition on loopback.
const MAC = parseMac('52:54:00:aa:00:01');
const KPXE = '/usr/lib/ipxe/undionly.kpxe';

let root: TftpRoot;
let reg: TempRegistry;
let srv: PolicyServer;
let out: string;
let machineId: string;

beforeAll(async () => {
  requireTools('curl', 'atftp', 'tftp');
  root = tftpRoot({ f1m: 1 << 20, f64m: 64 << 20 });
  mkdirSync(join(root.dir, '52-54-00-aa-00-01'));
  writeFileSync(join(root.dir, '52-54-00-aa-00-01', 'hello.txt'), 'only for node1\n');
  writeFileSync(join(root.dir, 'hello.txt'), 'for everyone\n');
  reg = tempRegistry('bootrack-tftp-reg-');
  machineId = reg.registry.machines.create({ name: 'node1', macs: [MAC] }, { actor: 'test' }).id;
  // TFTP carries no MAC: the lease for 127.0.0.1 is what ties the client to node1.
  reg.registry.leases.write({ ip: '127.0.0.1', mac: MAC, subnet: '127.0.0.0/8', state: 'bound', expiresAt: new Date(Date.now() + 3600_000) });
  srv = await startPolicyServer({ root: root.dir, ipxeDir: '/usr/lib/ipxe', registry: reg.registry });
  out = mkdtempSync(join(tmpdir(), 'bootrack-tftp-out-'));
});

afterAll(async () => {
  await srv?.stop();
  reg?.cleanup();
  root?.cleanup();
  if (out) rmSync(out, { recursive: true, force: true });
});

async function fetchAndCheck(client: TftpClientName, name: string, expectedSha: string, o: { blksize?: number; windowsize?: number; timeoutMs?: number } = {}) {
  const file = join(out, `${client}-${name.replaceAll('/', '_')}`);
  const r = await fetchWith(client, { host: '127.0.0.1', port: srv.port, name, out: file, ...o });
  expect(r.code, `${client} ${name}: ${r.stderr}`).toBe(0);
  expect(await sha256File(file), `${client} ${name} sha256`).toBe(expectedSha);
  rmSync(file);
}

describe('real TFTP clients', () => {
  it('curl (--tftp-blksize 1468), atftp (blksize 1468, windowsize 8) and tftp-hpa fetch iPXE undionly.kpxe (74 KB) and 1 MB intact', async () => {
    const kpxeSha = await sha256File(KPXE);
    for (const name of ['undionly.kpxe', 'f1m']) {
      const sha = name === 'f1m' ? root.sha.f1m! : kpxeSha;
      await fetchAndCheck('curl', name, sha, { blksize: 1468 });
      await fetchAndCheck('atftp', name, sha, { blksize: 1468, windowsize: 8 });
      await fetchAndCheck('tftp-hpa', name, sha);
    }
    const done = await srv.ended(6);
    expect(done.filter((s) => s.outcome === 'complete')).toHaveLength(6);
    expect(done.find((s) => s.path === 'f1m' && s.options.windowsize === 8)).toBeDefined();
  });

  it('64 MB: curl blksize 1468, atftp windowsize 16, tftp-hpa 512-byte blocks (131 073 blocks: the block number wraps)', async () => {
    const before = srv.summaries.length;
    await fetchAndCheck('curl', 'f64m', root.sha.f64m!, { blksize: 1468, timeoutMs: 120_000 });
    await fetchAndCheck('atftp', 'f64m', root.sha.f64m!, { blksize: 1468, windowsize: 16, timeoutMs: 120_000 });
    await fetchAndCheck('tftp-hpa', 'f64m', root.sha.f64m!, { timeoutMs: 120_000 });
    const done = (await srv.ended(before + 3)).slice(before);
    expect(done.map((s) => [s.outcome, s.options.blksize, s.options.windowsize])).toEqual([
      ['complete', 1468, 1],
      ['complete', 1468, 16],
      ['complete', 512, 1],
    ]);
    expect(done[2]!.blocks).toBe(131_073);
  }, 300_000);

  it('serves Debian\'s ipxe.efi (a symlink to /boot) and clamps a huge blksize to the path MTU', async () => {
    const before = srv.summaries.length;
    await fetchAndCheck('curl', 'ipxe.efi', readFileSha('/boot/ipxe.efi'), { blksize: 65464 });
    const [s] = (await srv.ended(before + 1)).slice(before);
    expect(s!.options.blksize).toBe(1468);
    expect(s!.bytes).toBe(850_528);
  });

  it('maps the client IP to its MAC through the leases: per-machine files and a generated autoexec.ipxe', async () => {
    const file = join(out, 'hello');
    expect((await fetchWith('curl', { host: '127.0.0.1', port: srv.port, name: 'hello.txt', out: file })).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('only for node1\n');
    expect((await fetchWith('tftp-hpa', { host: '127.0.0.1', port: srv.port, name: 'autoexec.ipxe', out: file })).code).toBe(0);
    expect(readFileSync(file, 'utf8')).toContain('chain --autofree http://127.0.0.1:8080/boot/52-54-00-aa-00-01.ipxe');
  });

  it('puts every transfer on the machine\'s boot timeline and in the metrics; the tsize probe is not a failure', async () => {
    const before = srv.summaries.length;
    const c = await RawTftpClient.open();
    try {
      c.rrq(srv.port, 'undionly.kpxe', [['tsize', '0'], ['blksize', '1468']]);
      const oack = await c.next(2000);
      expect(oack?.packet).toEqual({ op: 'OACK', options: [['tsize', '74213'], ['blksize', '1468']] });
      c.send({ op: 'ERROR', code: 8, message: 'tsize probe' }, oack!.rinfo.port);
    } finally {
      await c.closeFlushed();
    }
    await srv.ended(before + 1, 2000);
    const events = reg.registry.events.list({ machineId, mac: MAC, kinds: ['tftp'] });
    const transfers = events.filter((e) => e.type === 'transfer');
    expect(transfers.length).toBeGreaterThanOrEqual(10);
    for (const e of transfers) expect(e.machineId).toBe(machineId);
    const big = transfers.find((e) => e.data.path === 'f64m' && (e.data.options as { windowsize: number }).windowsize === 16)!;
    expect(big.data).toMatchObject({ outcome: 'complete', bytes: 64 << 20, client: '127.0.0.1', options: { blksize: 1468, windowsize: 16, oack: true } });
    expect(typeof big.data.durationMs).toBe('number');
    expect(typeof big.data.retransmits).toBe('number');
    expect(typeof big.data.startedAt).toBe('string');
    const probe = events.find((e) => e.type === 'probe');
    expect(probe?.data).toMatchObject({ outcome: 'probe', path: 'undionly.kpxe' });
    expect(srv.logger.records.filter((r) => r.level === 'error')).toEqual([]);
    const text = await srv.metrics.metrics();
    expect(text).toMatch(/bootrack_tftp_transfers_total\{outcome="complete"\} (\d+)/);
    expect(text).toMatch(/bootrack_tftp_transfers_total\{outcome="probe"\} 1/);
    expect(text).toMatch(/bootrack_tftp_bytes_sent_total \d+/);
  });
});

function readFileSha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
