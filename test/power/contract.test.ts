import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { ManualDriver, type ManualRequestSink } from '../../src/power/manual/driver.js';
import { RedfishDriver } from '../../src/power/redfish/driver.js';
import type { PowerAction, PowerDriver, PowerTarget } from '../../src/power/types.js';
import { WolDriver } from '../../src/power/wol/driver.js';
import { randomBasePort, requireTools, startBmc, waitFor, type SimBmc } from '../helpers/power-bmc.js';
import { ipmiDriver, ipmiTarget } from '../helpers/power-ipmi.js';
import { selfSignedCert } from '../helpers/power-tls.js';
import { startRedfishDouble, type RedfishDouble } from './redfish-test-double.js';

/**
 * ONE contract suite (src/power/types.ts PowerDriver) run against every driver: IPMI against a real
 * ipmi_sim driving a real QEMU process, Redfish against the Redfish test double, Wake-on-LAN
 * against a UDP listener on loopback, manual against its event sink. Expectations adapt to each
 * driver's declared capabilities; the effect of every call is checked on the peer, not on the driver.
 */
interface Harness {
  name: string;
  /** Actions the method can perform, in the order the suite runs them. */
  sequence: PowerAction[];
  observes: boolean;
  bootdev: boolean;
  auth: boolean;
  driver(): PowerDriver;
  target(): PowerTarget;
  wrongPassword?(): PowerTarget;
  deadTarget?(): PowerTarget;
  /** The driver configured with a short bound, for the dead-endpoint case. */
  boundedDriver?(): PowerDriver;
  /** Asserts the real effect of `action` (the n-th call in the sequence) on the peer. */
  effect(action: PowerAction): Promise<void>;
  truth(): 'on' | 'off' | null;
  bootRecorded(): string | null;
  setup(): Promise<void>;
  teardown(): Promise<void>;
}

const ALL: PowerAction[] = ['on', 'off', 'cycle', 'reset', 'soft_off'];

function ipmiHarness(): Harness {
  let bmc: SimBmc;
  let root: string;
  let lastPid: number | null = null;
  let banners = 0;
  const driver = ipmiDriver();
  const countBanners = (): number => (bmc.serial().match(/SeaBIOS \(version/g) ?? []).length;
  return {
    name: 'ipmi (ipmipower/ipmitool → ipmi_sim → QEMU)',
    sequence: ['on', 'on', 'reset', 'cycle', 'soft_off', 'off', 'off'],
    observes: true,
    bootdev: true,
    auth: true,
    driver: () => driver,
    target: () => ipmiTarget(bmc),
    wrongPassword: () => ipmiTarget(bmc, { password: 'not-the-password' }),
    deadTarget: () => ipmiTarget({ ...bmc, port: bmc.port + 7 }),
    boundedDriver: () => ipmiDriver({ sessionTimeoutMs: 1500, retransmissionTimeoutMs: 500, commandTimeoutMs: 3000 }),
    async effect(action) {
      if (action === 'on') {
        await waitFor('QEMU running', () => bmc.vmPid() !== null);
        if (lastPid !== null) expect(bmc.vmPid()).toBe(lastPid); // on when on: same process
        lastPid = bmc.vmPid();
        await waitFor('SeaBIOS banner', () => countBanners() >= 1, 20_000);
        banners = countBanners();
      } else if (action === 'reset') {
        // A real guest reset through QMP: same QEMU process, firmware runs again.
        await waitFor('second SeaBIOS banner', () => countBanners() > banners, 20_000);
        expect(bmc.vmPid()).toBe(lastPid);
      } else if (action === 'cycle') {
        // ipmi_sim cycles as off, then on after 1 s: a new QEMU process.
        await waitFor('a new QEMU process', () => bmc.vmPid() !== null && bmc.vmPid() !== lastPid, 20_000);
        lastPid = bmc.vmPid();
      } else if (action === 'soft_off') {
        // ACPI power button via QMP system_powerdown; iPXE ignores it, so the VM stays on.
        await waitFor('system_powerdown asked', () => /BEGIN set shutdown 1/.test(bmc.chassisLog()));
        expect(bmc.vmPid()).toBe(lastPid);
      } else if (action === 'off') {
        await waitFor('QEMU stopped', () => bmc.vmPid() === null);
      }
    },
    truth: () => (bmc.vmPid() === null ? 'off' : 'on'),
    bootRecorded: () => bmc.bootdev(),
    async setup() {
      requireTools('ipmi_sim', 'ipmipower', 'ipmitool', 'qemu-system-x86_64');
      root = mkdtempSync(join(tmpdir(), 'brkpw-contract-'));
      bmc = await startBmc({ root, index: 1, host: '127.77.1.1', port: randomBasePort() });
    },
    async teardown() {
      await bmc?.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

function redfishHarness(): Harness {
  let double: RedfishDouble;
  let fingerprint256 = '';
  let resetsBefore = 0;
  const driver = new RedfishDriver({ requestTimeoutMs: 3000 }, silentLogger);
  const target = (password = 'rf-Secret-99'): PowerTarget => ({ machineId: 'm-rf', address: '127.0.0.1', credentials: { username: 'root', password }, options: { port: double.port, fingerprint256 } });
  return {
    name: 'redfish (HTTPS, pinned certificate, session auth → Redfish test double)',
    sequence: ['on', 'on', 'reset', 'cycle', 'soft_off', 'off'],
    observes: true,
    bootdev: true,
    auth: true,
    driver: () => driver,
    target: () => target(),
    wrongPassword: () => target('nope'),
    deadTarget: () => ({ ...target(), options: { port: 1, fingerprint256 } }),
    async effect(action) {
      const resets = double.resets.slice(resetsBefore);
      resetsBefore = double.resets.length;
      const expected: Record<PowerAction, string[]> = { on: ['On'], reset: ['ForceRestart'], cycle: ['PowerCycle'], soft_off: ['GracefulShutdown'], off: [] };
      // The second 'on' finds the system on and sends nothing; 'off' after soft_off likewise.
      if (action === 'on' && double.resets.filter((r) => r === 'On').length > 1) throw new Error('on when on sent a second Reset');
      if (action !== 'on' || resets.length) expect(resets).toEqual(expected[action]);
      expect(double.system.PowerState).toBe(action === 'soft_off' || action === 'off' ? 'Off' : 'On');
      expect(double.openSessions()).toBe(0); // every session logged out
    },
    truth: () => (double.system.PowerState === 'On' ? 'on' : 'off'),
    bootRecorded: () => (double.system.Boot.BootSourceOverrideTarget === 'Pxe' ? 'pxe' : double.system.Boot.BootSourceOverrideTarget),
    async setup() {
      const tls = selfSignedCert();
      fingerprint256 = tls.fingerprint256;
      double = await startRedfishDouble({ cert: tls.cert, key: tls.key, username: 'root', password: 'rf-Secret-99' });
    },
    async teardown() {
      await double?.close();
    },
  };
}

function wolHarness(): Harness {
  let listener: Socket;
  const packets: Buffer[] = [];
  let driver: WolDriver;
  const mac = '52:54:00:aa:bb:01';
  return {
    name: 'wol (magic packet from the configured interface: lo here)',
    sequence: ['on', 'on'],
    observes: false,
    bootdev: false,
    auth: false,
    driver: () => driver,
    target: () => ({ machineId: 'm-wol', address: null, credentials: null, options: {}, macs: [mac] }),
    async effect() {
      const before = packets.length;
      void before;
      await waitFor('magic packet', () => packets.length > 0);
      const p = packets.shift()!;
      expect(p.length).toBe(102);
      expect(p.subarray(0, 6).equals(Buffer.alloc(6, 0xff))).toBe(true);
      for (let i = 0; i < 16; i++) expect(p.subarray(6 + i * 6, 12 + i * 6).toString('hex')).toBe(mac.replaceAll(':', ''));
    },
    truth: () => null,
    bootRecorded: () => null,
    async setup() {
      listener = createSocket('udp4');
      listener.on('message', (m) => packets.push(m));
      await new Promise<void>((r) => listener.bind(0, '0.0.0.0', () => r()));
      driver = new WolDriver({ interface: 'lo', port: listener.address().port }, silentLogger);
    },
    async teardown() {
      listener?.close();
    },
  };
}

function manualHarness(): Harness {
  const requests: Parameters<ManualRequestSink>[0][] = [];
  const driver = new ManualDriver((r) => requests.push(r));
  let seen = 0;
  return {
    name: 'manual (request recorded for the operator)',
    sequence: ['on', 'off', 'cycle', 'reset', 'soft_off'],
    observes: false,
    bootdev: true,
    auth: false,
    driver: () => driver,
    target: () => ({ machineId: 'm-manual', address: null, credentials: null, options: {} }),
    async effect(action) {
      const r = requests[seen++];
      expect(r).toEqual({ machineId: 'm-manual', what: 'power', action });
    },
    truth: () => null,
    bootRecorded: () => {
      const r = requests.find((x) => x.what === 'boot_device');
      return r && r.what === 'boot_device' ? r.device : null;
    },
    async setup() {},
    async teardown() {},
  };
}

for (const h of [ipmiHarness(), redfishHarness(), wolHarness(), manualHarness()]) {
  describe(`PowerDriver contract: ${h.name}`, () => {
    beforeAll(() => h.setup(), 60_000);
    afterAll(() => h.teardown(), 30_000);

    it('status reports the real power state, or unknown when the method cannot observe it', async () => {
      const state = await h.driver().status(h.target());
      if (h.observes) expect(state).toBe(h.truth());
      else expect(state).toBe('unknown');
    });

    it('performs each supported action with its real effect (on/off when already there succeed without effect)', async () => {
      for (const action of h.sequence) {
        await h.driver().act(h.target(), action);
        await h.effect(action);
        if (h.observes) expect(await h.driver().status(h.target())).toBe(h.truth());
      }
    }, 120_000);

    it('rejects the actions it cannot perform with BMC_UNSUPPORTED', async () => {
      for (const action of ALL.filter((a) => !h.sequence.includes(a))) {
        await expect(h.driver().act(h.target(), action)).rejects.toMatchObject({ code: 'BMC_UNSUPPORTED' });
      }
      if (!h.bootdev) await expect(h.driver().setNextBoot(h.target(), 'pxe', { persistent: false })).rejects.toMatchObject({ code: 'BMC_UNSUPPORTED' });
    });

    it('sets the next boot to PXE and the peer records it', async () => {
      if (!h.bootdev) {
        expect(h.bootRecorded()).toBeNull();
        return;
      }
      await h.driver().setNextBoot(h.target(), 'pxe', { persistent: false });
      expect(h.bootRecorded()).toBe('pxe');
    });

    it('refuses a wrong password with BMC_AUTH_FAILED, and a dead endpoint with BMC_UNREACHABLE', async () => {
      if (!h.auth) {
        expect(h.wrongPassword).toBeUndefined();
        return;
      }
      const err = await h.driver().status(h.wrongPassword!()).catch((e: unknown) => e);
      expect(isBootrackError(err, 'BMC_AUTH_FAILED')).toBe(true);
      const dead = await (h.boundedDriver?.() ?? h.driver()).status(h.deadTarget!()).catch((e: unknown) => e);
      expect(isBootrackError(dead, 'BMC_UNREACHABLE')).toBe(true);
    });
  });
}
