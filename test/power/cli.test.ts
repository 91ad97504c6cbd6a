import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import { runCli } from '../../src/cli/bootrack.js';
import type { CliIo } from '../../src/cli/io.js';
import { configSchema } from '../../src/config/schema.js';
import { createPowerControl } from '../../src/power/index.js';
import { startApi, type ApiHarness } from '../helpers/api-server.js';
import { BMC_PASS, BMC_USER, randomBasePort, requireTools, startBmc, type SimBmc } from '../helpers/power-bmc.js';

/**
 * `bootrack power ...` end to end: the CLI → the real API (createApp) → the real PowerControl →
 * ipmipower/ipmitool → ipmi_sim. Also: no API answer carries the BMC password.
 */
describe('bootrack power (CLI → API → PowerControl → ipmi_sim)', () => {
  let root: string;
  let bmc: SimBmc;
  let api: ApiHarness;

  beforeAll(async () => {
    requireTools('ipmi_sim', 'ipmipower', 'ipmitool');
    root = mkdtempSync(join(tmpdir(), 'brkpw-cli-'));
    bmc = await startBmc({ root, index: 30, host: '127.77.6.1', port: randomBasePort() });
    // The daemon's own config path: ipmi_sim needs FreeIPMI's opensesspriv workaround (lab pitfall 9).
    const config = configSchema.parse({ power: { ipmi: { workarounds: ['opensesspriv'] } } }).power;
    api = await startApi({ power: (registry) => createPowerControl({ config, registry, logger: silentLogger, metrics: createMetrics({ defaultMetrics: false }) }).control });
  });
  afterAll(async () => {
    await api?.close();
    await bmc?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const cli = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t), env: { BOOTRACK_API_URL: api.url, BOOTRACK_TOKEN: api.admin, BOOTRACK_CLI_CONFIG: '/nonexistent' } };
    const code = await runCli(argv, io);
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  it('status, bootdev, on/off/cycle/reset, usage and typed errors; the password is in no API answer', async () => {
    const m = await api.call<{ id: string }>('POST', '/api/v1/machines', { body: { name: 'cli-box', macs: ['52:54:00:77:08:01'] } });
    const put = await api.call('PUT', `/api/v1/machines/${m.body.id}/power-settings`, { body: { type: 'ipmi', address: bmc.host, options: { port: bmc.port }, username: BMC_USER, password: BMC_PASS } });
    expect(put.status).toBe(200);
    expect(put.text).not.toContain(BMC_PASS);

    expect(await cli('power', 'status', 'cli-box')).toMatchObject({ code: 0, out: 'cli-box: off' });
    expect(await cli('power', 'bootdev', 'cli-box', 'pxe', '--persistent')).toMatchObject({ code: 0, out: 'cli-box: next boot pxe (persistent)' });
    expect(bmc.bootdev()).toBe('pxe');
    expect(await cli('power', 'off', 'cli-box')).toMatchObject({ code: 0, out: 'cli-box: off done' });
    const json = await cli('power', 'status', 'cli-box', '--json');
    expect(JSON.parse(json.out)).toEqual({ state: 'off' });

    // A machine on the manual driver takes every action.
    const m2 = await api.call<{ id: string }>('POST', '/api/v1/machines', { body: { name: 'cli-manual', macs: ['52:54:00:77:08:02'] } });
    await api.call('PUT', `/api/v1/machines/${m2.body.id}/power-settings`, { body: { type: 'manual' } });
    for (const verb of ['on', 'cycle', 'reset', 'soft-off']) expect((await cli('power', verb, 'cli-manual')).code).toBe(0);
    expect(await cli('power', 'status', 'cli-manual')).toMatchObject({ code: 0, out: 'cli-manual: unknown' });

    expect((await cli('power', 'bootdev', 'cli-box', 'floppy')).code).toBe(2);
    expect((await cli('power', 'on', 'cli-box', '--persistent')).code).toBe(2);
    const missing = await cli('power', 'status', 'no-such-box');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^error MACHINE_NOT_FOUND/);

    // Wrong password → the catalog code reaches the CLI user.
    await api.call('PUT', `/api/v1/machines/${m.body.id}/power-settings`, { body: { type: 'ipmi', address: bmc.host, options: { port: bmc.port }, username: BMC_USER, password: 'wrong-one' } });
    const denied = await cli('power', 'status', 'cli-box');
    expect(denied.err).toMatch(/^error BMC_AUTH_FAILED/);

    for (const path of [`/api/v1/machines/${m.body.id}`, `/api/v1/machines/${m.body.id}/events`, '/api/v1/events', `/api/v1/machines/${m.body.id}/timeline`, '/api/v1/machines']) {
      const r = await api.call('GET', path);
      expect(r.status, path).toBe(200);
      expect(r.text, path).not.toContain(BMC_PASS);
      expect(r.text, path).not.toContain('wrong-one');
    }
  }, 60_000);
});
