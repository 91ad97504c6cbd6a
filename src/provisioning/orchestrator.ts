import { BootrackError, isBootrackError } from '../common/errors.js';
import { PrefixActionHandler, type ActionHandler } from './action-handler.js';
import { BatchError, type BatchFailure, type Outcome } from './batch.js';
import type { Driver, DriverConfig, MachineBatchItem, MachineOptions } from './driver.js';
import { driverForUrl } from './driver-url.js';
import type { Machine } from './machine.js';
import type { ManagedEntryStore, MachineSpec } from './managed-entry.js';

/**
 * What Chef's `machine` / `machine_batch` providers did, as one function per action, with their
 * save points — plus the fix for lost references: a spec is saved as soon as its machine finishes,
 * on success AND on failure (CPA#158: an exception after create used to leak a box per re-run).
 *
 *   allocate: no-move check → allocateMachines → set driverUrl → save
 *   ready:    allocate → readyMachines → save → disconnect
 *   converge: allocate → readyMachines → save → setupConvergence → save → converge → disconnect
 *   stop:     stopMachines (→ save)
 *   destroy:  destroyMachines → delete the spec (save it instead when destroy failed)
 */
export type MachineAction = 'allocate' | 'ready' | 'converge' | 'stop' | 'destroy';

export interface OrchestratorOptions {
  concurrency?: number;
  stopOnError?: boolean;
}

function prefixed(ah: ActionHandler, spec: MachineSpec): ActionHandler {
  return new PrefixActionHandler(ah, `${spec.name}: `);
}

/** Chef's rule: "machine moving is not supported. Destroy and recreate". */
function assertSameDriver(driver: Driver, spec: MachineSpec): void {
  const current = spec.driverUrl;
  if (current !== undefined && current !== driver.driverUrl) {
    throw new BootrackError('MACHINE_MOVE_UNSUPPORTED', `${spec.name} was created by ${current}, not ${driver.driverUrl}: machine moving is not supported; destroy it and recreate it`, { name: spec.name, from: current, to: driver.driverUrl });
  }
}

async function saveQuietly(ah: ActionHandler, spec: MachineSpec, failures: BatchFailure[]): Promise<void> {
  try {
    await spec.save(prefixed(ah, spec));
  } catch (err) {
    failures.push({ name: spec.name, code: isBootrackError(err) ? err.code : 'INTERNAL', message: `saving after a failure also failed: ${(err as Error).message}` });
  }
}

/** Runs `action` for every item; throws BATCH_FAILED naming each failed machine after all finished. */
export async function runMachineAction(driver: Driver, ah: ActionHandler, action: MachineAction, items: readonly MachineBatchItem[], options: OrchestratorOptions = {}): Promise<void> {
  const failures: BatchFailure[] = [];
  const fail = (spec: MachineSpec, err: unknown): void => {
    failures.push({ name: spec.name, code: isBootrackError(err) ? err.code : 'INTERNAL', message: (err as Error).message ?? String(err) });
  };
  const run = { ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}), ...(options.stopOnError !== undefined ? { stopOnError: options.stopOnError } : {}) };
  // Which items are still going; a failure anywhere drops the machine from later phases.
  let live: MachineBatchItem[] = [];
  for (const item of items) {
    try {
      assertSameDriver(driver, item.spec);
      live.push(item);
    } catch (err) {
      fail(item.spec, err);
    }
  }
  const survivors = async <R>(phase: Promise<R[]>, phaseItems: MachineBatchItem[]): Promise<MachineBatchItem[]> => {
    try {
      await phase;
      return phaseItems;
    } catch (err) {
      if (!(err instanceof BatchError)) throw err;
      err.outcomes.forEach((o, i) => {
        const spec = phaseItems[i]!.spec;
        if (o.ok) return;
        if ('notStarted' in o) failures.push({ name: spec.name, code: 'BATCH_FAILED', message: 'not started (an earlier machine failed and stopOnError is set)' });
        else fail(spec, o.error);
      });
      return phaseItems.filter((_, i) => err.outcomes[i]?.ok === true);
    }
  };
  const recordFailure = async (item: MachineBatchItem, outcome: Outcome<unknown>): Promise<void> => {
    // The fix for lost references: whatever the driver recorded before failing is kept.
    if (!outcome.ok && !('notStarted' in outcome)) await saveQuietly(ah, item.spec, failures);
  };

  if (action === 'allocate' || action === 'ready' || action === 'converge') {
    const phase = live;
    live = await survivors(
      driver.allocateMachines(ah, phase, {
        ...run,
        onEach: async (item, outcome) => {
          if (!outcome.ok) return recordFailure(item, outcome);
          if (item.spec.reference && item.spec.driverUrl === undefined) item.spec.driverUrl = driver.driverUrl;
          await item.spec.save(prefixed(ah, item.spec));
        },
      }),
      phase,
    );
  }
  if (action === 'ready' || action === 'converge') {
    const phase = live;
    live = await survivors(
      driver.readyMachines(ah, phase, {
        ...run,
        onEach: async (item, outcome: Outcome<Machine>) => {
          if (!outcome.ok) return recordFailure(item, outcome);
          const machine = outcome.value;
          const mah = prefixed(ah, item.spec);
          try {
            await item.spec.save(mah);
            if (action === 'converge') {
              await machine.setupConvergence(mah);
              await item.spec.save(mah);
              await machine.converge(mah);
            }
          } catch (err) {
            await saveQuietly(ah, item.spec, failures);
            throw err;
          } finally {
            await machine.disconnect();
          }
        },
      }),
      phase,
    );
  }
  if (action === 'stop') {
    await survivors(driver.stopMachines(ah, live, { ...run, onEach: async (item, outcome) => (outcome.ok ? item.spec.save(prefixed(ah, item.spec)) : recordFailure(item, outcome)) }), live);
  }
  if (action === 'destroy') {
    await survivors(driver.destroyMachines(ah, live, { ...run, onEach: async (item, outcome) => (outcome.ok ? item.spec.delete(prefixed(ah, item.spec)) : recordFailure(item, outcome)) }), live);
  }
  if (failures.length > 0) {
    // De-duplicate (a converge failure is reported by the callback and again by the batch).
    const seen = new Set<string>();
    const unique = failures.filter((f) => (seen.has(f.name) ? false : (seen.add(f.name), true)));
    throw new BatchError(unique, [], items.length, []);
  }
}

/**
 * Chef's Chef::Provisioning.connect_to_machine: the saved spec by name → its driver (from the
 * spec's own driverUrl) → connectToMachine. Changes nothing and does not wait.
 */
export async function connectToMachine(store: ManagedEntryStore, name: string, config: DriverConfig, machineOptions?: MachineOptions): Promise<Machine> {
  const spec = await store.getMachine(name);
  const url = spec.driverUrl;
  if (url === undefined) throw new BootrackError('ENTRY_NOT_FOUND', `${store.identifier('machine', name)} has no driver URL: it was never allocated`, { name });
  const driver = await driverForUrl(url, config);
  return driver.connectToMachine(spec, driver.machineOptionsFor(machineOptions));
}
