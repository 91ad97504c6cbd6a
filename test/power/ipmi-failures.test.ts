import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootrackError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import { PowerService } from '../../src/power/service.js';
import { BMC_PASS, BMC_USER, randomBasePort, requireTools, startBmc, type SimBmc } from '../helpers/power-bmc.js';
import { ipmiDriver, ipmiTarget } from '../helpers/power-ipmi.js';
import { addVeth, createNetns, uniqueNs, type Netns } from '../helpers/power-netns.js';
import { startUdpProxy } from '../helpers/power-udp-proxy.js';
import { tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';

/**
 * The IPMI failure table, against real ipmipower/ipmitool and a real ipmi_sim. Each case asserts the
 * catalog code, and where the issue asks for it, the time bound the configured timeouts promise.
 */
async function timed<T>(p: Promise<T>): Promise<{ err: BootrackError | null; ms: number; value: T | null }> {
  const t = performance.now();
  try {
    const value = await p;
    return { err: null, ms: performance.now() - t, value };
  } catch (err) {
    if (!(err instanceof BootrackError)) throw err;
    return { err, ms: performance.now() - t, value: null };
  }
}

describe('IPMI failure table', () => {
  let root: string;
  let bmc: SimBmc;
  let ns: Netns;
  let reg: TempRegistry;

  beforeAll(async () => {
    requireTools('ipmi_sim', 'ipmipower', 'ipmitool');
    root = mkdtempSync(join(tmpdir(), 'brkpw-fail-'));
    bmc = await startBmc({ root, index: 3, host: '127.77.3.1', port: randomBasePort() });
    ns = createNetns(uniqueNs('d'));
    addVeth(ns, 'brkpwd0', 'brkpwd1', '10.231.77.1/24');
    reg = tempRegistry('brkpw-reg-');
  });
  afterAll(async () => {
    await bmc?.stop();
    ns?.remove();
    reg?.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it('wrong password: BMC_AUTH_FAILED, fast (no timeout waited)', async () => {
    const r = await timed(ipmiDriver({ sessionTimeoutMs: 5000 }).status(ipmiTarget(bmc, { password: 'wrong-password' })));
    expect(r.err?.code).toBe('BMC_AUTH_FAILED');
    expect(r.ms).toBeLessThan(2500); // half the 5 s session timeout: the BMC refused, we did not time out
  });

  it('dead address in a namespace (no ARP answer): BMC_UNREACHABLE within the configured bound', async () => {
    const driver = ipmiDriver({ netns: ns.name, sessionTimeoutMs: 2000, retransmissionTimeoutMs: 500, commandTimeoutMs: 4000 });
    const r = await timed(driver.status({ ...ipmiTarget(bmc), address: '10.231.77.99', options: {} }));
    expect(r.err?.code).toBe('BMC_UNREACHABLE');
    expect(r.ms).toBeGreaterThan(1500);
    expect(r.ms).toBeLessThan(4000 + 1500);
  });

  it('the kill timer bounds a call even when the tool would wait longer', async () => {
    const driver = ipmiDriver({ netns: ns.name, sessionTimeoutMs: 20_000, commandTimeoutMs: 1500 });
    const r = await timed(driver.status({ ...ipmiTarget(bmc), address: '10.231.77.98', options: {} }));
    expect(r.err?.code).toBe('BMC_UNREACHABLE');
    expect(r.err?.details.killed).toBe(true);
    expect(r.ms).toBeLessThan(1500 + 1500);
  });

  it('closed UDP port on a live host: BMC_UNREACHABLE within the session timeout', async () => {
    // A port just proven free on the BMC's address: bind it, release it, aim there.
    const probe = createSocket('udp4');
    const closedPort = await new Promise<number>((res) => probe.bind(0, bmc.host, () => res(probe.address().port)));
    await new Promise<void>((res) => probe.close(() => res()));
    const r = await timed(ipmiDriver({ sessionTimeoutMs: 1500, commandTimeoutMs: 4000 }).status(ipmiTarget({ ...bmc, port: closedPort })));
    expect(r.err?.code, r.err?.message).toBe('BMC_UNREACHABLE');
    expect(r.ms).toBeLessThan(4000);
  });

  it('cipher suite 17 against ipmi_sim (no SHA-256): ipmipower exits 0 with "BMC error" → BMC_ERROR, not success', async () => {
    const raw = spawnSync('ipmipower', ['-D', 'LAN_2_0', '-I', '17', '-W', 'opensesspriv', '-h', `${bmc.host}:${bmc.port}`, '-u', BMC_USER, '-p', BMC_PASS, '--stat', '--session-timeout=2000'], { encoding: 'utf8' });
    expect(raw.status).toBe(0); // the trap: the tool says success
    expect(raw.stdout).toMatch(/BMC error/);
    const r = await timed(ipmiDriver().status(ipmiTarget(bmc, { options: { cipherSuite: 17 } })));
    expect(r.err?.code).toBe('BMC_ERROR');
  });

  it('bootdev refused by the BMC: ipmitool exits 0, the driver still rejects', async () => {
    writeFileSync(join(bmc.dir, 'reject-boot'), '');
    try {
      const pass = join(root, 'pass');
      writeFileSync(pass, BMC_PASS, { mode: 0o600 });
      const raw = spawnSync('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', bmc.host, '-p', String(bmc.port), '-U', BMC_USER, '-f', pass, 'chassis', 'bootdev', 'pxe'], { encoding: 'utf8' });
      expect(raw.status).toBe(0); // the trap (lab pitfall 11)
      expect(raw.stderr).toMatch(/failed/i);
      const r = await timed(ipmiDriver().setNextBoot(ipmiTarget(bmc), 'pxe', { persistent: false }));
      expect(['BMC_ERROR', 'BMC_UNSUPPORTED']).toContain(r.err?.code);
    } finally {
      rmSync(join(bmc.dir, 'reject-boot'), { force: true });
    }
  });

  it('a BMC that answers busy (busy wrapper around ipmi_sim): the service backs off, retries, then succeeds', async () => {
    const proxyPort = randomBasePort() + 5;
    const proxy = await startUdpProxy({ listenHost: '127.77.3.2', listenPort: proxyPort, upstreamHost: bmc.host, upstreamPort: bmc.port, busySessions: 2 });
    try {
      const metrics = createMetrics({ defaultMetrics: false });
      const slept: number[] = [];
      const service = new PowerService({
        registry: reg.registry,
        drivers: { ipmi: ipmiDriver() },
        logger: silentLogger,
        metrics,
        retry: { busyRetries: 4, busyBackoffMs: 50 },
        sleep: (ms) => (slept.push(ms), new Promise((r) => setTimeout(r, ms))),
      });
      const m = reg.registry.machines.create({ name: 'busy-one', macs: ['52:54:00:77:03:01'] }, { actor: 'test' });
      reg.registry.machines.setPower(m.id, { type: 'ipmi', address: '127.77.3.2', options: { port: proxyPort }, credentials: { username: BMC_USER, password: BMC_PASS } }, { actor: 'test' });
      await service.act('busy-one', 'off', 'admin:test');
      expect(proxy.busyAnswers()).toBe(2);
      expect(slept).toHaveLength(2);
      expect(slept[1]!).toBeGreaterThanOrEqual(slept[0]! / 2); // doubling cap with jitter
      const events = reg.registry.events.list({ machineId: m.id, kinds: ['power'] });
      expect(events.map((e) => e.type)).toEqual(['power_requested', 'power_succeeded']);
      expect(events[1]!.data).toMatchObject({ action: 'off', attempts: 3 });
      const text = await metrics.metrics();
      expect(text).toMatch(/bootrack_power_busy_retries_total\{driver="ipmi"\} 2/);
      expect(text).toMatch(/bootrack_power_commands_total\{driver="ipmi",action="off",outcome="ok"\} 1/);

      // Retries exhausted: BMC_BUSY reaches the caller, and the event says so.
      const proxy2Port = proxyPort + 1;
      const proxy2 = await startUdpProxy({ listenHost: '127.77.3.3', listenPort: proxy2Port, upstreamHost: bmc.host, upstreamPort: bmc.port, busySessions: 100 });
      try {
        reg.registry.machines.setPower(m.id, { type: 'ipmi', address: '127.77.3.3', options: { port: proxy2Port } }, { actor: 'test' });
        await expect(service.act('busy-one', 'off', 'admin:test')).rejects.toMatchObject({ code: 'BMC_BUSY' });
        const last = reg.registry.events.list({ machineId: m.id, kinds: ['power'] }).at(-1)!;
        expect(last).toMatchObject({ type: 'power_failed', data: { code: 'BMC_BUSY', attempts: 5 } });
        expect(await metrics.metrics()).toMatch(/bootrack_power_bmc_errors_total\{driver="ipmi",code="BMC_BUSY"\} 1/);
      } finally {
        await proxy2.close();
      }
    } finally {
      await proxy.close();
    }
  });
});
