import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMac } from '../../src/common/mac.js';
import { fetchWith, requireTools } from '../helpers/tftp-clients.js';
import { startPolicyServer, type PolicyServer } from '../helpers/tftp-fixtures.js';
import { tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';
import { RawTftpClient } from '../helpers/tftp-raw.js';

// The traversal table of issue 4: every name is refused (ERROR 2, no DATA) and logged with the client.
let base: string;
let srv: PolicyServer;
let reg: TempRegistry;
const MAC = parseMac('52:54:00:aa:00:02');

beforeAll(async () => {
  requireTools('curl');
  base = mkdtempSync(join(tmpdir(), 'bootrack-trav-'));
  const root = join(base, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(base, 'outside'));
  writeFileSync(join(root, 'good.txt'), 'good\n');
  writeFileSync(join(base, 'secret'), 'SECRET\n');
  writeFileSync(join(base, 'outside', 'secret'), 'SECRET\n');
  symlinkSync(join(base, 'secret'), join(root, 'link-out'));
  symlinkSync('../outside', join(root, 'dir-out'));
  reg = tempRegistry('bootrack-trav-reg-');
  reg.registry.leases.write({ ip: '127.0.0.1', mac: MAC, subnet: '127.0.0.0/8', state: 'bound', expiresAt: new Date(Date.now() + 3600_000) });
  srv = await startPolicyServer({ root, registry: reg.registry });
});

afterAll(async () => {
  await srv?.stop();
  reg?.cleanup();
  if (base) rmSync(base, { recursive: true, force: true });
});

const TABLE: Array<[name: string, reason: string]> = [
  ['../secret', 'dot-dot'],
  ['../../../../../../etc/passwd', 'dot-dot'],
  ['..\\secret', 'dot-dot'],
  ['sub\\..\\..\\secret', 'dot-dot'],
  ['%2e%2e/secret', 'percent-encoding'],
  ['%2E%2E%5Csecret', 'percent-encoding'],
  ['/etc/passwd', 'absolute'],
  ['\\etc\\passwd', 'absolute'],
  ['C:\\secret', 'absolute'],
  ['link-out', 'symlink-escape'],
  ['dir-out/secret', 'symlink-escape'],
  ['good\x01.txt', 'control-character'],
];

describe('TFTP path traversal', () => {
  it.each(TABLE)('refuses %j (%s), logs it with the client and puts it on the timeline', async (name, reason) => {
    const c = await RawTftpClient.open();
    try {
      c.rrq(srv.port, name, [['blksize', '1468']]);
      const got = await c.drain(300);
      expect(got.map((g) => g.packet.op)).toEqual(['ERROR']);
      expect(got[0]!.packet).toMatchObject({ op: 'ERROR', code: 2 });
      const log = srv.logger.records.find((r) => r.message === 'tftp: path refused' && (r.fields as { path?: string }).path === name);
      expect(log?.level).toBe('warn');
      expect(log?.fields).toMatchObject({ client: '127.0.0.1', port: c.port, reason });
      const ev = reg.registry.events.list({ mac: MAC, kinds: ['tftp'] }).find((e) => e.type === 'refused' && e.data.path === name);
      expect(ev?.data).toMatchObject({ reason, client: '127.0.0.1' });
    } finally {
      c.close();
    }
  });

  it('drops a request with an embedded NUL (it cannot parse as RRQ) and logs it with the client', async () => {
    const c = await RawTftpClient.open();
    try {
      c.send(Buffer.from('\x00\x01good.txt\x00../secret\x00octet\x00', 'latin1'), srv.port);
      expect(await c.drain(300)).toEqual([]);
      const log = srv.logger.records.find((r) => r.message === 'tftp: malformed request ignored' && (r.fields as { port?: number }).port === c.port);
      expect(log?.level).toBe('warn');
      expect(log?.fields).toMatchObject({ client: '127.0.0.1' });
    } finally {
      c.close();
    }
  });

  it('still serves a name inside the root, and curl\'s own ../ URL gets nothing outside it', async () => {
    const out = join(base, 'curl-out');
    expect((await fetchWith('curl', { host: '127.0.0.1', port: srv.port, name: 'good.txt', out })).code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('good\n');
    rmSync(out);
    for (const name of ['..%2fsecret', '%2e%2e/secret', '..%5csecret', '%2fetc%2fpasswd']) {
      const r = await fetchWith('curl', { host: '127.0.0.1', port: srv.port, name, out, timeoutMs: 10_000 });
      expect(r.code, name).not.toBe(0);
      if (existsSync(out)) expect(readFileSync(out, 'utf8')).not.toContain('SECRET');
    }
    const metrics = await srv.metrics.metrics();
    expect(metrics).toMatch(/bootrack_tftp_refused_paths_total\{reason="dot-dot"\} \d+/);
  });
});
