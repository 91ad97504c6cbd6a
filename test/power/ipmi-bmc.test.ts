import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import { PowerReconciler } from '../../src/power/reconciler.js';
import { PowerService } from '../../src/power/service.js';
import { BMC_PASS, BMC_USER, randomBasePort, requireTools, startBmc, waitFor, type SimBmc } from '../helpers/power-bmc.js';
import { ipmiDriver, ipmiTarget } from '../helpers/power-ipmi.js';
import { overlaps, startUdpProxy } from '../helpers/power-udp-proxy.js';
import { tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';

/**
 * Several real BMCs (ipmi_sim + QEMU) behind the PowerControl service: two at once, batched status
 * polling by the reconciler, and serialization observed at the BMC side.
 */
describe('IPMI: several BMCs, batching, reconciliation, serialization', () => {
  let root: string;
  let bmcs: SimBmc[] = [];
  let reg: TempRegistry;
  let callLog: string;
  let service: PowerService;
  let ids: string[] = [];
  let now = Date.now();

  beforeAll(async () => {
    requireTools('ipmi_sim', 'ipmipower', 'ipmitool', 'qemu-system-x86_64');
    root = mkdtempSync(join(tmpdir(), 'brkpw-multi-'));
    const base = randomBasePort();
    for (let i = 0; i < 3; i++) bmcs.push(await startBmc({ root, index: 10 + i, host: `127.77.4.${i + 1}`, port: base + i * 10 }));
    // A counting wrapper around ipmipower: logs each invocation's argv (which holds no secret), then execs it.
    callLog = join(root, 'ipmipower-calls.log');
    const wrapper = join(root, 'ipmipower-counting-wrapper');
    writeFileSync(wrapper, `#!/bin/sh\necho "$*" >> '${callLog}'\nexec ipmipower "$@"\n`);
    chmodSync(wrapper, 0o755);
    writeFileSync(callLog, '');
    reg = tempRegistry('brkpw-reg-');
    service = new PowerService({ registry: reg.registry, drivers: { ipmi: ipmiDriver({ ipmipowerPath: wrapper }) }, logger: silentLogger, metrics: createMetrics({ defaultMetrics: false }), retry: { busyRetries: 2, busyBackoffMs: 50 }, now: () => now });
    ids = bmcs.map((b, i) => {
      const m = reg.registry.machines.create({ name: `multi${i}`, macs: [`52:54:00:77:04:0${i}`] }, { actor: 'test' });
      reg.registry.machines.setPower(m.id, { type: 'ipmi', address: b.host, options: { port: b.port }, credentials: { username: BMC_USER, password: BMC_PASS } }, { actor: 'test' });
      return m.id;
    });
  }, 60_000);
  afterAll(async () => {
    for (const b of bmcs) await b.stop();
    reg?.cleanup();
    rmSync(root, { recursive: true, force: true });
  });

  it('drives two BMCs at once: two distinct QEMU processes start, the third VM stays off', async () => {
    await service.setNextBoot('multi0', 'pxe', false, 'admin:test');
    expect(bmcs[0]!.bootdev()).toBe('pxe');
    await Promise.all([service.act('multi0', 'on', 'admin:test'), service.act('multi1', 'on', 'admin:test')]);
    await waitFor('both VMs running', () => bmcs[0]!.vmPid() !== null && bmcs[1]!.vmPid() !== null);
    // The BMC applied the boot device: VM0's firmware boots from the network first.
    expect(readFileSync(`/proc/${bmcs[0]!.vmPid()}/cmdline`, 'utf8').split('\0')).toContain('order=n');
    expect(readFileSync(`/proc/${bmcs[1]!.vmPid()}/cmdline`, 'utf8').split('\0')).toContain('order=c');
    expect(bmcs[0]!.vmPid()).not.toBe(bmcs[1]!.vmPid());
    expect(bmcs[2]!.vmPid()).toBeNull();
    expect(await Promise.all([service.status('multi0', 'test'), service.status('multi1', 'test'), service.status('multi2', 'test')])).toEqual(['on', 'on', 'off']);
  }, 60_000);

  it('the reconciler polls all BMCs in ONE ipmipower call and records each change as an event', async () => {
    writeFileSync(callLog, '');
    const reconciler = new PowerReconciler({ registry: reg.registry, drivers: { ipmi: ipmiDriver({ ipmipowerPath: join(root, 'ipmipower-counting-wrapper') }) }, power: service, settings: { pollMinSeconds: 5, pollMaxSeconds: 40, pollBatchSize: 64 }, logger: silentLogger, now: () => now });
    // Force a change to observe: mark every machine 'unknown' first.
    for (const id of ids) reg.registry.machines.recordPowerState(id, 'unknown', { actor: 'test' });
    await reconciler.reconcileOnce();
    const calls = readFileSync(callLog, 'utf8').trim().split('\n');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatch(/-h 127\.77\.4\.1:\d+,127\.77\.4\.2:\d+,127\.77\.4\.3:\d+ --stat/);
    expect(ids.map((id) => reg.registry.machines.get(id).power.state)).toEqual(['on', 'on', 'off']);
    const changes = reg.registry.events.list({ kinds: ['power'] }).filter((e) => e.type === 'power_state_changed' && e.actor === 'system:power-reconciler');
    expect(changes.map((e) => e.data.to)).toEqual(['on', 'on', 'off']);
    // Adaptive rate: a change polls at the minimum; each steady reading doubles the interval up to the maximum.
    expect(reconciler.intervalOf(ids[0]!)).toBe(5000);
    for (const expected of [10_000, 20_000, 40_000, 40_000]) {
      now += 60_000;
      await reconciler.reconcileOnce();
      expect(reconciler.intervalOf(ids[0]!)).toBe(expected);
    }
    // Not due yet: no call at all.
    writeFileSync(callLog, '');
    now += 1000;
    await reconciler.reconcileOnce();
    expect(readFileSync(callLog, 'utf8')).toBe('');
    // A power command brings the machine back to the fastest rate, and the change is recorded.
    now += 1;
    await service.act('multi0', 'off', 'admin:test');
    await waitFor('VM0 stopped', () => bmcs[0]!.vmPid() === null);
    now += 5000;
    await reconciler.reconcileOnce();
    expect(reg.registry.machines.get(ids[0]!).power.state).toBe('off');
    expect(reconciler.intervalOf(ids[0]!)).toBe(5000);
    await service.act('multi1', 'off', 'admin:test');
  }, 60_000);

  it('20 concurrent commands to one BMC never overlap, observed at the BMC side', async () => {
    const bmc = bmcs[2]!;
    const port = bmc.port + 5;
    // A relay in front of ipmi_sim timestamps every packet per client socket (= per tool process).
    const proxy = await startUdpProxy({ listenHost: '127.77.4.9', listenPort: port, upstreamHost: bmc.host, upstreamPort: bmc.port });
    try {
      const m = reg.registry.machines.create({ name: 'serial', macs: ['52:54:00:77:04:09'] }, { actor: 'test' });
      reg.registry.machines.setPower(m.id, { type: 'ipmi', address: '127.77.4.9', options: { port }, credentials: { username: BMC_USER, password: BMC_PASS } }, { actor: 'test' });
      const ops = Array.from({ length: 20 }, (_, i) => (i % 4 === 3 ? service.setNextBoot('serial', 'pxe', false, 'admin:test') : i % 2 ? service.act('serial', 'off', 'admin:test') : service.status('serial', 'test')));
      await Promise.all(ops);
      const windows = proxy.windows();
      expect(windows).toHaveLength(20);
      expect(overlaps(windows)).toEqual([]);

      // Control: 8 such calls straight to the driver (no service queue) DO overlap at the BMC,
      // so the check above can see an overlap when there is one.
      const before = new Set(windows.map((w) => w.client));
      const driver = ipmiDriver();
      const target = { ...ipmiTarget(bmc), address: '127.77.4.9', options: { port } };
      // (Some of these may even time out: an unserialized burst is what overwhelms a BMC.)
      await Promise.allSettled(Array.from({ length: 8 }, () => driver.status(target)));
      const direct = proxy.windows().filter((w) => !before.has(w.client));
      expect(direct).toHaveLength(8);
      expect(overlaps(direct).length).toBeGreaterThan(0);
    } finally {
      await proxy.close();
    }
  }, 60_000);
});
