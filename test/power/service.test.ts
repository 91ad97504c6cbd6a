import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import { configSchema } from '../../src/config/schema.js';
import { composeServices } from '../../src/main.js';
import { createPowerControl, validatePowerSettings, type PowerParts } from '../../src/power/index.js';
import { tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';

/** PowerControl over a real registry on disk, with the built-in driver map from the default config. */
describe('PowerControl service', () => {
  let reg: TempRegistry;
  let power: PowerParts;
  const metrics = createMetrics({ defaultMetrics: false });
  const logger = memoryLogger();

  beforeAll(() => {
    reg = tempRegistry('brkpw-reg-');
    power = createPowerControl({ config: configSchema.parse({}).power, registry: reg.registry, logger, metrics });
  });
  afterAll(() => reg?.cleanup());

  it('has an explicit driver for each built-in type', () => {
    expect(Object.keys(power.drivers).sort()).toEqual(['ipmi', 'manual', 'redfish', 'wol']);
  });

  it('manual: records the request for the operator, with action and outcome events', async () => {
    const m = reg.registry.machines.create({ name: 'by-hand', macs: ['52:54:00:77:07:01'] }, { actor: 'test' });
    reg.registry.machines.setPower(m.id, { type: 'manual' }, { actor: 'test' });
    await power.control.act('by-hand', 'cycle', 'admin:alice');
    await power.control.setNextBoot('52:54:00:77:07:01', 'pxe', false, 'admin:alice');
    expect(await power.control.status(m.id, 'admin:alice')).toBe('unknown');
    const events = reg.registry.events.list({ machineId: m.id, kinds: ['power'] });
    expect(events.map((e) => [e.type, e.actor])).toEqual([
      ['power_requested', 'admin:alice'],
      ['manual_request', 'system:power'],
      ['power_succeeded', 'admin:alice'],
      ['power_requested', 'admin:alice'],
      ['manual_request', 'system:power'],
      ['power_succeeded', 'admin:alice'],
    ]);
    expect(events[1]!.data).toMatchObject({ what: 'power', action: 'cycle' });
    expect(events[4]!.data).toMatchObject({ what: 'boot_device', device: 'pxe', persistent: false });
    const text = await metrics.metrics();
    expect(text).toMatch(/bootrack_power_commands_total\{driver="manual",action="cycle",outcome="ok"\} 1/);
    expect(text).toMatch(/bootrack_power_command_duration_seconds_count\{driver="manual",action="cycle"\} 1/);
  });

  it('typed errors: no machine, no power type, unknown type (listing the known ones), WoL without an interface', async () => {
    await expect(power.control.act('nobody', 'on', 'admin:a')).rejects.toMatchObject({ code: 'MACHINE_NOT_FOUND' });
    const m = reg.registry.machines.create({ name: 'bare', macs: ['52:54:00:77:07:02'] }, { actor: 'test' });
    await expect(power.control.status('bare', 'admin:a')).rejects.toMatchObject({ code: 'POWER_NOT_CONFIGURED' });
    reg.registry.machines.setPower(m.id, { type: 'ilo-magic' }, { actor: 'test' });
    await expect(power.control.act('bare', 'on', 'admin:a')).rejects.toMatchObject({ code: 'POWER_NOT_CONFIGURED', details: { known: ['ipmi', 'redfish', 'wol', 'manual'] } });
    reg.registry.machines.setPower(m.id, { type: 'wol' }, { actor: 'test' });
    await expect(power.control.act('bare', 'on', 'admin:a')).rejects.toMatchObject({ code: 'POWER_NOT_CONFIGURED' });
    await expect(power.control.act('bare', 'off', 'admin:a')).rejects.toMatchObject({ code: 'BMC_UNSUPPORTED' });
    expect(reg.registry.events.list({ machineId: m.id, kinds: ['power'] }).at(-1)).toMatchObject({ type: 'power_failed', data: { code: 'BMC_UNSUPPORTED', action: 'off', driver: 'wol' } });
  });

  it('the reconciler is a Service: ready on start, released on abort', async () => {
    const controller = new AbortController();
    const running = await power.reconciler.start(controller.signal);
    await new Promise((r) => setTimeout(r, 50));
    controller.abort();
    await running.done;
    expect(power.reconciler.rounds).toBeGreaterThan(0);
  });

  it('is wired into main.ts composeServices', () => {
    const services = composeServices({ config: configSchema.parse({}), registry: reg.registry, logger, metrics: createMetrics({ defaultMetrics: false }) });
    expect(services.map((s) => s.name)).toContain('power-reconciler');
  });

  it('validates power settings per type before they are stored', () => {
    expect(() => validatePowerSettings({ type: 'ipmi', address: '10.0.0.9', options: { port: 623, cipherSuite: 17, privilege: 'OPERATOR', workarounds: ['intel20'] } })).not.toThrow();
    expect(() => validatePowerSettings({ type: 'redfish', address: 'bmc1', options: { fingerprint256: 'AA' } })).not.toThrow();
    expect(() => validatePowerSettings({ type: 'wol', options: { mac: '52:54:00:77:07:09' } })).not.toThrow();
    expect(() => validatePowerSettings({ type: 'manual' })).not.toThrow();
    expect(() => validatePowerSettings({ type: 'ipmi' })).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED', details: { field: 'address' } }));
    expect(() => validatePowerSettings({ type: 'ipmi', address: 'x', options: { cipherSuite: 99 } })).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => validatePowerSettings({ type: 'redfish', address: 'x', options: {} })).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => validatePowerSettings({ type: 'telepathy' })).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });
});
