import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import { RedfishDriver } from '../../src/power/redfish/driver.js';
import { PowerService } from '../../src/power/service.js';
import type { PowerTarget } from '../../src/power/types.js';
import { selfSignedCert } from '../helpers/power-tls.js';
import { tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';
import { startRedfishDouble, type RedfishDouble } from './redfish-test-double.js';

/** Redfish specifics against the Redfish TEST DOUBLE (no Redfish emulator can be installed here). */
describe('redfish driver', () => {
  const tls = selfSignedCert();
  const other = selfSignedCert();
  let double: RedfishDouble;
  let reg: TempRegistry;
  const driver = new RedfishDriver({ requestTimeoutMs: 3000 }, silentLogger);
  const target = (options: Record<string, unknown> = {}): PowerTarget => ({ machineId: 'm-rf', address: '127.0.0.1', credentials: { username: 'root', password: 'rf-Secret-99' }, options: { port: double.port, fingerprint256: tls.fingerprint256, ...options } });

  beforeAll(async () => {
    double = await startRedfishDouble({ cert: tls.cert, key: tls.key, username: 'root', password: 'rf-Secret-99', resetTypes: ['On', 'ForceOff', 'GracefulShutdown', 'ForceRestart'] });
    reg = tempRegistry('brkpw-reg-');
  });
  afterAll(async () => {
    await double?.close();
    reg?.cleanup();
  });

  it('refuses a certificate that does not match the pin before sending anything', async () => {
    const before = double.requests.length;
    await expect(driver.status(target({ fingerprint256: other.fingerprint256 }))).rejects.toMatchObject({ code: 'BMC_AUTH_FAILED', details: { tls: 'fingerprint_mismatch' } });
    expect(double.requests.length).toBe(before); // no request, so no credentials, reached the server
  });

  it('trusts a CA instead of a pin, and refuses the wrong CA', async () => {
    expect(await driver.status(target({ fingerprint256: undefined, ca: tls.cert }))).toBe('off');
    await expect(driver.status(target({ fingerprint256: undefined, ca: other.cert }))).rejects.toMatchObject({ code: 'BMC_AUTH_FAILED' });
    await expect(driver.status(target({ fingerprint256: undefined }))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('uses Basic auth when asked: no session is created', async () => {
    const sessions = double.sessionsCreated();
    const before = double.requests.length;
    await driver.act(target({ auth: 'basic' }), 'on');
    expect(double.sessionsCreated()).toBe(sessions);
    expect(double.requests.slice(before).every((r) => r.auth === 'basic')).toBe(true);
    expect(double.system.PowerState).toBe('On');
  });

  it('logs the session out even when the action fails', async () => {
    await expect(driver.act(target({ systemPath: '/redfish/v1/Systems/nope' }), 'off')).rejects.toMatchObject({ code: 'BMC_UNSUPPORTED' });
    expect(double.openSessions()).toBe(0);
    expect(double.requests.at(-1)).toMatchObject({ method: 'DELETE' });
  });

  it('falls back to ForceRestart when PowerCycle is not allowed', async () => {
    await driver.act(target(), 'cycle');
    expect(double.resets.at(-1)).toBe('ForceRestart');
  });

  it('sets the boot override once or continuously, PXE or disk', async () => {
    await driver.setNextBoot(target(), 'pxe', { persistent: true });
    expect(double.system.Boot).toEqual({ BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Continuous' });
    await driver.setNextBoot(target(), 'disk', { persistent: false });
    expect(double.system.Boot).toEqual({ BootSourceOverrideTarget: 'Hdd', BootSourceOverrideEnabled: 'Once' });
  });

  it('a busy service (503) is retried with backoff by PowerControl', async () => {
    const busy = await startRedfishDouble({ cert: tls.cert, key: tls.key, username: 'root', password: 'rf-Secret-99', busyFirst: 2 });
    try {
      const service = new PowerService({ registry: reg.registry, drivers: { redfish: driver }, logger: silentLogger, metrics: createMetrics({ defaultMetrics: false }), retry: { busyRetries: 3, busyBackoffMs: 20 } });
      const m = reg.registry.machines.create({ name: 'rf-busy', macs: ['52:54:00:77:06:01'] }, { actor: 'test' });
      reg.registry.machines.setPower(m.id, { type: 'redfish', address: '127.0.0.1', options: { port: busy.port, fingerprint256: tls.fingerprint256 }, credentials: { username: 'root', password: 'rf-Secret-99' } }, { actor: 'test' });
      await service.act('rf-busy', 'on', 'admin:test');
      expect(busy.system.PowerState).toBe('On');
      expect(reg.registry.events.list({ machineId: m.id, kinds: ['power'] }).at(-1)).toMatchObject({ type: 'power_succeeded', data: { attempts: 3 } });
      expect(busy.openSessions()).toBe(0);
    } finally {
      await busy.close();
    }
  });
});
