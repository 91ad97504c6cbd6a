import { existsSync, readdirSync, readFileSync, rmSync, mkdtempSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import { secretBaseDir } from '../../src/power/ipmi/exec.js';
import { PowerService } from '../../src/power/service.js';
import { BMC_PASS, BMC_USER, randomBasePort, requireTools, startBmc, type SimBmc } from '../helpers/power-bmc.js';
import { ipmiDriver } from '../helpers/power-ipmi.js';
import { startUdpProxy, type UdpProxy } from '../helpers/power-udp-proxy.js';
import { tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';

/**
 * The BMC password must not appear in: the argv or environment of any running process during a
 * call, the daemon's logs (real pino JSON at debug level), the events table (the SQLite file on
 * disk), the metrics, or errors; and the 0600 credential file is gone after the call.
 */
function scanProc(secret: string): { seenTools: number; leaks: string[] } {
  let seenTools = 0;
  const leaks: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    for (const file of ['cmdline', 'environ']) {
      let text: string;
      try {
        text = readFileSync(`/proc/${pid}/${file}`, 'latin1');
      } catch {
        continue;
      }
      if (file === 'cmdline' && /ipmipower|ipmitool/.test(text)) seenTools++;
      if (text.includes(secret)) leaks.push(`${pid}/${file}: ${text.replaceAll('\0', ' ').slice(0, 200)}`);
    }
  }
  return { seenTools, leaks };
}

describe('secrets never leak', () => {
  let root: string;
  let bmc: SimBmc;
  let proxy: UdpProxy;
  let reg: TempRegistry;
  const logLines: string[] = [];
  let logger: Logger;

  beforeAll(async () => {
    requireTools('ipmi_sim', 'ipmipower', 'ipmitool');
    root = mkdtempSync(join(tmpdir(), 'brkpw-secret-'));
    bmc = await startBmc({ root, index: 20, host: '127.77.5.1', port: randomBasePort() });
    // Delay every relayed packet so each tool process lives long enough to be seen in /proc.
    proxy = await startUdpProxy({ listenHost: '127.77.5.2', listenPort: bmc.port + 5, upstreamHost: bmc.host, upstreamPort: bmc.port, delayMs: 60 });
    reg = tempRegistry('brkpw-reg-');
    const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (logLines.push(chunk.toString()), cb()) });
    logger = pino({ level: 'debug' }, sink) as unknown as Logger;
  });
  afterAll(async () => {
    await proxy?.close();
    await bmc?.stop();
    reg?.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it('during status, power and bootdev calls, and afterwards', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const service = new PowerService({ registry: reg.registry, drivers: { ipmi: ipmiDriver({}, logger) }, logger, metrics, retry: { busyRetries: 1, busyBackoffMs: 10 } });
    const m = reg.registry.machines.create({ name: 'secretive', macs: ['52:54:00:77:05:01'] }, { actor: 'test' });
    reg.registry.machines.setPower(m.id, { type: 'ipmi', address: '127.77.5.2', options: { port: bmc.port + 5 }, credentials: { username: BMC_USER, password: BMC_PASS } }, { actor: 'admin:test' });
    const tmpBefore = readdirSync(secretBaseDir()).filter((f) => f.startsWith('bootrack-bmc-'));

    let seenTools = 0;
    const leaks: string[] = [];
    let scanning = true;
    const scanner = (async () => {
      while (scanning) {
        const r = scanProc(BMC_PASS);
        seenTools += r.seenTools;
        leaks.push(...r.leaks);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    const errors: unknown[] = [];
    try {
      await service.status('secretive', 'test');
      await service.act('secretive', 'off', 'admin:test');
      await service.setNextBoot('secretive', 'pxe', true, 'admin:test');
      // A failing call too: its error text and event must be clean as well.
      reg.registry.machines.setPower(m.id, { type: 'ipmi', address: '127.77.5.2', options: { port: bmc.port + 5, cipherSuite: 17 } }, { actor: 'admin:test' });
      await service.act('secretive', 'on', 'admin:test').catch((e: unknown) => errors.push(e));
    } finally {
      scanning = false;
      await scanner;
    }
    expect(seenTools).toBeGreaterThan(0); // the scan did catch the tools while they ran
    expect(leaks).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(JSON.stringify(errors[0])).not.toContain(BMC_PASS);
    expect(String((errors[0] as Error).message)).not.toContain(BMC_PASS);

    // Logs (debug level: argv of every tool run is logged there).
    expect(logLines.length).toBeGreaterThan(3);
    expect(logLines.join('')).not.toContain(BMC_PASS);
    // Events table: the SQLite file's bytes (WAL included), and the API-shaped listing.
    const events = reg.registry.events.list({ machineId: m.id });
    expect(events.some((e) => e.kind === 'power')).toBe(true);
    expect(JSON.stringify(events)).not.toContain(BMC_PASS);
    for (const f of readdirSync(reg.dir)) expect(readFileSync(join(reg.dir, f)).includes(Buffer.from(BMC_PASS)), f).toBe(false);
    expect(await metrics.metrics()).not.toContain(BMC_PASS);
    // The 0600 credential files are gone.
    expect(readdirSync(secretBaseDir()).filter((f) => f.startsWith('bootrack-bmc-') && !tmpBefore.includes(f))).toEqual([]);
    writeFileSync(join(root, 'done'), '');
  }, 120_000);

  it('credential files left by a killed predecessor are swept when the driver starts', () => {
    const base = secretBaseDir();
    const stale = mkdtempSync(join(base, 'bootrack-bmc-'));
    const fresh = mkdtempSync(join(base, 'bootrack-bmc-'));
    writeFileSync(join(stale, 'secret'), 'password x\n', { mode: 0o600 });
    const old = new Date(Date.now() - 3600_000);
    utimesSync(stale, old, old);
    try {
      ipmiDriver({ commandTimeoutMs: 10_000 });
      expect(existsSync(stale)).toBe(false);
      expect(existsSync(fresh)).toBe(true); // a live call's directory is left alone
    } finally {
      rmSync(stale, { recursive: true, force: true });
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});
