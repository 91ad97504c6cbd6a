/**
 * vagrant: end to end on REAL Vagrant 2.3 + the REAL vagrant-libvirt provider + REAL libvirtd/QEMU
 * (TCG), all inside the network namespace brkvg<pid> this file creates (test/helpers/vagrant-lab.sh);
 * the guests boot a tiny box this test builds (busybox + dropbear initramfs, Debian cloud kernel).
 * Runs the driver contract suite, then two machines through readyMachines in parallel: allocate →
 * ready → uname → upload/download → stop → ready again → destroy. The lab is always torn down.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import { RecordingActionHandler } from '../../src/provisioning/action-handler.js';
import { DriverRegistry } from '../../src/provisioning/driver-url.js';
import type { VagrantDriver } from '../../src/provisioning/drivers/vagrant/driver.js';
import type { VagrantMachineOptions } from '../../src/provisioning/drivers/vagrant/vagrantfile.js';
import { FileEntryStore } from '../../src/provisioning/file-entry-store.js';
import type { Machine } from '../../src/provisioning/machine.js';
import { clusterFiles, startVagrantLab, type VagrantLab } from '../helpers/vagrant-lab.js';
import { driverContract } from './contract.js';

// Real VMs under TCG: a `vagrant up` is 20–45 s here, a whole contract step several of them.
vi.setConfig({ testTimeout: 600_000, hookTimeout: 600_000 });

let labPromise: Promise<VagrantLab> | undefined;
const lab = (): Promise<VagrantLab> => (labPromise ??= startVagrantLab());
const work = mkdtempSync(join(tmpdir(), 'bootrack-vagrant-store-'));
afterAll(async () => {
  try {
    if (labPromise) await (await labPromise.catch(() => undefined))?.down();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

const TINY: VagrantMachineOptions = { vagrantOptions: { box: 'tiny' }, readyTimeoutMs: 300_000 };

async function driverFor(l: VagrantLab, cluster: string): Promise<VagrantDriver> {
  return (await new DriverRegistry().driverForUrl(`vagrant:${l.clusterDir(cluster)}`, { driverOptions: l.driverOptions })) as VagrantDriver;
}

driverContract('vagrant: real Vagrant + vagrant-libvirt + libvirtd (TCG) in netns brkvg*', async () => {
  const l = await lab();
  const driver = await driverFor(l, 'contract');
  return {
    driver,
    store: new FileEntryStore(join(work, 'contract-store')),
    machineOptions: TINY,
    // SSH to port 1 is refused by the guest every time, so Vagrant's boot wait always times out: a short
    // boot_timeout alone raced a fast boot on a quiet machine.
    unreachableOptions: { ...TINY, vagrantConfig: 'machine.vm.boot_timeout = 5\nmachine.ssh.guest_port = 1', readyTimeoutMs: 240_000 },
    observe: async (id) => {
      const exists = clusterFiles(driver.dir).includes(`"${id}.vm"`);
      const state = await l.domainState(driver.dir, id);
      return { exists, power: state === 'running' ? 'on' : state === 'shut off' ? 'off' : 'unknown' };
    },
    snapshot: async () => `${clusterFiles(driver.dir)}\n${await l.domains()}`,
    vanish: async (id) => rmSync(join(driver.dir, `${id}.vm`), { force: true }),
    cleanup: async () => undefined, // the file-level afterAll takes the lab down
  };
});

describe('vagrant: end to end (real Vagrant + libvirt)', () => {
  let l: VagrantLab;
  let driver: VagrantDriver;
  let store: FileEntryStore;
  beforeAll(async () => {
    l = await lab();
    driver = await driverFor(l, 'e2e');
    store = new FileEntryStore(join(work, 'e2e-store'));
  });

  it('two machines: allocate → readyMachines (ONE parallel vagrant up) → uname → upload/download → stop → ready again → destroy; reruns change nothing and say so', async () => {
    const items = await Promise.all(['p1', 'p2'].map(async (n) => ({ spec: await store.getMachine(n), options: TINY })));
    const ah = new RecordingActionHandler();
    await driver.allocateMachines(ah, items);
    expect(readFileSync(join(driver.dir, 'p1.vm'), 'utf8')).toContain('machine.vm.box = "tiny"');
    expect(readFileSync(join(driver.dir, 'Vagrantfile'), 'utf8')).toContain('*.vm');
    const again = new RecordingActionHandler();
    await driver.allocateMachines(again, items);
    expect(again.texts('action')).toEqual([]);
    expect(again.texts('progress').filter((t) => /up to date; nothing to do/.test(t))).toHaveLength(2);

    const machines = await driver.readyMachines(ah, items);
    const [p1, p2] = machines as [Machine, Machine];
    const local = join(work, 'up.bin');
    const payload = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 251));
    try {
      expect(ah.texts('action').filter((t) => /power on p1, p2 in parallel: vagrant up p1 p2 --provider=libvirt/.test(t))).toHaveLength(1);
      expect(ah.texts('progress').some((t) => /^p1: (Creating domain|Starting domain)/.test(t))).toBe(true);
      expect(ah.streams['vagrant p1 p2']).toMatch(/Machine booted and ready/);
      expect((await p1.execute(ah, 'uname -a'))?.stdout).toMatch(/^Linux p1 .*x86_64/);
      expect((await p2.execute(ah, 'uname -a'))?.stdout).toMatch(/^Linux p2 .*x86_64/);
      writeFileSync(local, payload);
      await p1.uploadFile(ah, local, '/root/up.bin');
      await p1.downloadFile(ah, '/root/up.bin', join(work, 'down.bin'));
      expect(readFileSync(join(work, 'down.bin')).equals(payload)).toBe(true);
    } finally {
      await Promise.all(machines.map((m) => m.disconnect()));
    }
    const readyAgain = new RecordingActionHandler();
    await Promise.all((await driver.readyMachines(readyAgain, items)).map((m) => m.disconnect()));
    expect(readyAgain.texts('action')).toEqual([]);
    expect(readyAgain.texts('progress').filter((t) => /already running; not running vagrant up/.test(t))).toHaveLength(2);

    await driver.stopMachines(ah, items);
    for (const n of ['p1', 'p2']) expect(await l.domainState(driver.dir, n)).toBe('shut off');
    const back = new RecordingActionHandler();
    const revived = await driver.readyMachines(back, items);
    try {
      expect(back.texts('action').join('\n')).toMatch(/power on p1, p2 in parallel/);
      // /root lives on the VM's disk: the file uploaded before the halt is still there.
      expect((await revived[0]!.executeAlways('sha256sum /root/up.bin')).stdout).toContain(createHash('sha256').update(payload).digest('hex'));
    } finally {
      await Promise.all(revived.map((m) => m.disconnect()));
    }
    await driver.destroyMachines(ah, items);
    for (const n of ['p1', 'p2']) {
      expect(await l.domainState(driver.dir, n)).toBeUndefined();
      expect(clusterFiles(driver.dir)).not.toContain(`${n}.vm`);
      expect((await store.getMachine(n)).reference).toBeUndefined();
    }
  });

  it('a provider Vagrant cannot use is VAGRANT_NOT_INSTALLED naming what to install', async () => {
    const spec = await store.getMachine('vb1');
    const options = { ...TINY, vagrantProvider: 'virtualbox' };
    await driver.allocateMachine(new RecordingActionHandler(), spec, options);
    try {
      await driver.readyMachine(new RecordingActionHandler(), spec, options);
      throw new Error('expected VAGRANT_NOT_INSTALLED');
    } catch (err) {
      expect(isBootrackError(err, 'VAGRANT_NOT_INSTALLED'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/install VirtualBox/);
    }
    await driver.destroyMachine(new RecordingActionHandler(), spec, options);
  });
});
