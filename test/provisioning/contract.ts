/**
 * THE driver contract: every driver (localssh: test double today, pxe: against its API double,
 * vagrant:/ec2: later) must pass it. Call `driverContract(name, setup)` from a *.test.ts file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import { RecordingActionHandler } from '../../src/provisioning/action-handler.js';
import type { Driver, MachineOptions } from '../../src/provisioning/driver.js';
import { FileEntryStore } from '../../src/provisioning/file-entry-store.js';
import type { MachineSpec } from '../../src/provisioning/managed-entry.js';
import { runMachineAction } from '../../src/provisioning/orchestrator.js';

export interface ContractEnvironment {
  driver: Driver;
  /** A store the suite may write to (a temp directory). */
  store: FileEntryStore;
  /** Options under which allocate → ready → execute works. */
  machineOptions: MachineOptions;
  /** Options under which allocate works but ready fails at a short deadline (SSH never answers). */
  unreachableOptions: MachineOptions;
  /** Out-of-band view of the warehouse for a machine id from a reference. */
  observe(machineId: string): Promise<{ exists: boolean; power: 'on' | 'off' | 'unknown' }>;
  /** The whole warehouse state, serialised: equal before/after means nothing changed. */
  snapshot(): Promise<string>;
  /** A writable directory on the machines for the suite's converge scripts (default /tmp). */
  remoteDir?: string;
  /** Makes the machine disappear behind the driver's back (deleted or taken by someone else). */
  vanish(machineId: string): Promise<void>;
  cleanup(): Promise<void>;
}

async function rejects(promise: Promise<unknown>, code: string): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    expect(isBootrackError(err), String(err)).toBe(true);
    expect((err as { code: string }).code, (err as Error).message).toBe(code);
    return err as Error;
  }
  throw new Error(`expected ${code}, but it resolved`);
}

export function driverContract(name: string, setup: () => Promise<ContractEnvironment>): void {
  describe(`driver contract: ${name}`, () => {
    let env: ContractEnvironment;
    const idOf = (spec: MachineSpec): string => String(spec.reference?.machineId);
    const reload = async (spec: MachineSpec): Promise<MachineSpec> => env.store.getMachine(spec.name);

    beforeAll(async () => {
      env = await setup();
    });
    afterAll(async () => {
      await env?.cleanup();
    });

    it('allocate → ready → execute → stop → destroy, each step idempotent, the reference saved by allocate itself', async () => {
      const spec = await env.store.getMachine('c-cycle');
      const ah = new RecordingActionHandler();
      await env.driver.allocateMachine(ah, spec, env.machineOptions);
      const saved = await reload(spec);
      expect(saved.reference?.driverUrl).toBe(env.driver.driverUrl);
      expect(saved.reference?.driverVersion).toEqual(expect.any(String));
      expect(saved.reference).toEqual(spec.reference);
      expect((await env.observe(idOf(spec))).exists).toBe(true);

      const again = new RecordingActionHandler();
      await env.driver.allocateMachine(again, spec, env.machineOptions);
      expect(again.texts('action')).toEqual([]);
      expect(again.texts('progress').join('\n')).toMatch(/nothing to do/);
      expect(await reload(spec).then((s) => s.reference)).toEqual(saved.reference);

      const machine = await env.driver.readyMachine(ah, spec, env.machineOptions);
      try {
        expect((await machine.execute(ah, 'echo contract-$((6*7))'))?.stdout).toBe('contract-42\n');
        await rejects(machine.execute(ah, 'exit 9'), 'COMMAND_FAILED');
      } finally {
        await machine.disconnect();
      }
      expect((await env.observe(idOf(spec))).power).not.toBe('off');
      const readyAgain = new RecordingActionHandler();
      const machine2 = await env.driver.readyMachine(readyAgain, spec, env.machineOptions);
      await machine2.disconnect();
      expect(readyAgain.texts('action')).toEqual([]);

      const before = await env.snapshot();
      const connected = await env.driver.connectToMachine(spec, env.machineOptions);
      try {
        expect((await connected.executeAlways('echo connected')).stdout).toBe('connected\n');
      } finally {
        await connected.disconnect();
      }
      expect(await env.snapshot()).toBe(before);

      await env.driver.stopMachine(ah, spec, env.machineOptions);
      const power = (await env.observe(idOf(spec))).power;
      expect(['off', 'unknown']).toContain(power);
      if (power === 'off') {
        const stopAgain = new RecordingActionHandler();
        await env.driver.stopMachine(stopAgain, spec, env.machineOptions);
        expect(stopAgain.texts('action')).toEqual([]);
        // Ready after stop brings it back (Chef: "if stopped, power up").
        const back = new RecordingActionHandler();
        const revived = await env.driver.readyMachine(back, spec, env.machineOptions);
        try {
          expect(back.texts('action').join('\n')).toMatch(/power on/);
          expect((await revived.executeAlways('echo back')).stdout).toBe('back\n');
        } finally {
          await revived.disconnect();
        }
        await env.driver.stopMachine(ah, spec, env.machineOptions);
      }

      const id = idOf(spec);
      await env.driver.destroyMachine(ah, spec, env.machineOptions);
      expect(spec.reference).toBeUndefined();
      expect((await reload(spec)).reference).toBeUndefined();
      expect((await env.observe(id)).exists).toBe(false);
      const destroyAgain = new RecordingActionHandler();
      await env.driver.destroyMachine(destroyAgain, spec, env.machineOptions);
      expect(destroyAgain.texts('action')).toEqual([]);
    });

    it('allocate again after the machine vanished behind our back allocates anew and says so', async () => {
      const spec = await env.store.getMachine('c-vanish');
      const ah = new RecordingActionHandler();
      await env.driver.allocateMachine(ah, spec, env.machineOptions);
      const first = idOf(spec);
      await env.vanish(first);
      const second = new RecordingActionHandler();
      await env.driver.allocateMachine(second, spec, env.machineOptions);
      expect(second.texts('action').join('\n')).toMatch(/allocate/);
      expect((await env.observe(idOf(spec))).exists).toBe(true);
      expect((await reload(spec)).reference?.machineId).toBe(spec.reference?.machineId);
      expect(second.texts('action').join('\n')).toContain(first);
      await env.driver.destroyMachine(ah, spec, env.machineOptions);
    });

    it('why-run changes nothing: no machine, no saved entry, "would" reports, and ready does not crash (CP#143)', async () => {
      const before = await env.snapshot();
      const spec = await env.store.getMachine('c-whyrun');
      const ah = new RecordingActionHandler({ whyRun: true });
      await env.driver.allocateMachine(ah, spec, env.machineOptions);
      const machine = await env.driver.readyMachine(ah, spec, env.machineOptions);
      expect(await machine.execute(ah, 'touch /tmp/should-not-exist')).toBeUndefined();
      await env.driver.stopMachine(ah, spec, env.machineOptions);
      await env.driver.destroyMachine(ah, spec, env.machineOptions);
      await runMachineAction(env.driver, ah, 'converge', [{ spec, options: { ...env.machineOptions, convergenceOptions: { script: '#!/bin/sh\ntouch /tmp/never\n' } } }]);
      expect(await env.snapshot()).toBe(before);
      expect(await env.store.list('machine')).not.toContain('c-whyrun');
      expect(ah.texts('action')).toEqual([]);
      expect(ah.texts('would').some((t) => /allocate/.test(t))).toBe(true);
      expect(ah.isUpdated).toBe(false);
    });

    it('a failed ready keeps the reference saved, with a deadline counted from the call, and the orchestrator saves on failure', async () => {
      const spec = await env.store.getMachine('c-unreachable');
      const ah = new RecordingActionHandler();
      await env.driver.allocateMachine(ah, spec, env.unreachableOptions);
      const saved = structuredClone(spec.reference);
      // A stored start time from long ago must not shrink this call's budget (CP#269).
      spec.reference = { ...spec.reference!, allocatedAt: '2001-01-01T00:00:00.000Z' };
      await spec.save(ah);
      const err = await rejects(env.driver.readyMachine(ah, spec, env.unreachableOptions), 'TIMEOUT');
      expect(err.message).toMatch(/SSH|ssh/);
      expect(ah.texts('progress').some((t) => /waiting for SSH \d+ s \/ \d+ s/.test(t))).toBe(true);
      expect((await reload(spec)).reference?.machineId).toBe(saved?.machineId);

      const fresh = await env.store.getMachine('c-orchestrated');
      const err2 = await rejects(runMachineAction(env.driver, ah, 'converge', [{ spec: fresh, options: env.unreachableOptions }]), 'BATCH_FAILED');
      expect(err2.message).toContain('c-orchestrated');
      const kept = await reload(fresh);
      expect(kept.reference?.driverUrl).toBe(env.driver.driverUrl);
      expect(kept.driverUrl).toBe(env.driver.driverUrl);
      expect((await env.observe(idOf(kept))).exists).toBe(true);
      await runMachineAction(env.driver, ah, 'destroy', [{ spec: spec, options: env.machineOptions }, { spec: kept, options: env.machineOptions }]);
      expect(await env.store.list('machine')).not.toContain('c-orchestrated');
    });

    it('batches keep input order, call back once per machine as it finishes, and converge runs the script', async () => {
      const names = ['c-b1', 'c-b2', 'c-b3'];
      const specs = await Promise.all(names.map((n) => env.store.getMachine(n)));
      const items = specs.map((spec) => ({ spec, options: env.machineOptions }));
      const ah = new RecordingActionHandler();
      const called: string[] = [];
      const result = await env.driver.allocateMachines(ah, items, { concurrency: 2, onEach: (item, outcome) => void called.push(`${item.spec.name}:${outcome.ok}`) });
      expect(result.map((s) => s.name)).toEqual(names);
      expect([...called].sort()).toEqual(names.map((n) => `${n}:true`));
      expect(ah.texts('action').some((t) => t.startsWith('c-b2: '))).toBe(true);
      const script = '#!/bin/sh\necho "converged $(hostname | wc -c)"\n';
      await runMachineAction(env.driver, ah, 'converge', items.map((i) => ({ ...i, options: { ...i.options, convergenceOptions: { script, remotePath: `${env.remoteDir ?? '/tmp'}/bootrack-contract-${i.spec.name}.sh` } } })), { concurrency: 2 });
      for (const n of names) expect(ah.streams[n]).toMatch(/^converged \d+\n$/);
      await runMachineAction(env.driver, ah, 'destroy', items);
      for (const spec of specs) expect((await env.store.get('machine', spec.name))).toBeUndefined();
    });
  });
}
