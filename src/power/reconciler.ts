import { isBootrackError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Running, Service } from '../common/service.js';
import type { Machine, PowerState } from '../registry/index.js';
import { driverFor, type DriverMap } from './drivers.js';
import { PowerService, type PowerRegistry } from './service.js';
import type { PowerDriver, PowerTarget } from './types.js';

export interface ReconcilerSettings {
  pollMinSeconds: number;
  pollMaxSeconds: number;
  pollBatchSize: number;
}

interface Schedule {
  dueAt: number;
  intervalMs: number;
  polledAt: number;
}

/**
 * Background power-state reconciliation. Each machine with a power driver that can observe power
 * has its own poll interval: it starts at pollMinSeconds, doubles after each unchanged reading up
 * to pollMaxSeconds, and drops back to the minimum when the state changes, a read fails, or a power
 * command was just sent. Due machines are polled per driver in one batch (ipmipower takes a host
 * list); a BMC with a command in flight is skipped this round, never queued behind. Readings go to
 * registry.machines.recordPowerState, which writes an event on change.
 */
export class PowerReconciler implements Service {
  readonly name = 'power-reconciler';
  readonly #registry: PowerRegistry;
  readonly #drivers: DriverMap;
  readonly #power: PowerService;
  readonly #settings: ReconcilerSettings;
  readonly #log: Logger;
  readonly #schedule = new Map<string, Schedule>();
  readonly #now: () => number;
  /** Completed rounds, for tests and diagnostics. */
  rounds = 0;

  constructor(deps: { registry: PowerRegistry; drivers: DriverMap; power: PowerService; settings: ReconcilerSettings; logger: Logger; now?: () => number }) {
    this.#registry = deps.registry;
    this.#drivers = deps.drivers;
    this.#power = deps.power;
    this.#settings = { ...deps.settings, pollMaxSeconds: Math.max(deps.settings.pollMaxSeconds, deps.settings.pollMinSeconds) };
    this.#log = deps.logger.child({ part: 'power-reconciler' });
    this.#now = deps.now ?? Date.now;
  }

  async start(signal: AbortSignal): Promise<Running> {
    const done = (async () => {
      while (!signal.aborted) {
        let nextInMs = 1000;
        try {
          nextInMs = await this.reconcileOnce();
        } catch (err) {
          // A failed round (e.g. the registry busy) is logged; the loop keeps going.
          this.#log.error({ err: (err as Error).message }, 'power reconcile round failed');
        }
        await abortableSleep(Math.max(100, Math.min(nextInMs, 2000)), signal);
      }
    })();
    return { done, describe: { pollMinSeconds: this.#settings.pollMinSeconds, pollMaxSeconds: this.#settings.pollMaxSeconds } };
  }

  /** One round: polls every due machine; returns ms until the next one is due. */
  async reconcileOnce(): Promise<number> {
    const now = this.#now();
    const minMs = this.#settings.pollMinSeconds * 1000;
    const machines = this.#registry.machines.list({ limit: 100_000 }).filter((m) => m.power.type !== null && m.power.type !== 'wol' && m.power.type !== 'manual');
    const live = new Set(machines.map((m) => m.id));
    for (const id of this.#schedule.keys()) if (!live.has(id)) this.#schedule.delete(id);

    const due = new Map<PowerDriver, Array<{ machine: Machine; target: PowerTarget; release: () => void }>>();
    for (const machine of machines) {
      let s = this.#schedule.get(machine.id);
      if (!s) this.#schedule.set(machine.id, (s = { dueAt: now, intervalMs: minMs, polledAt: -Infinity }));
      const last = this.#power.lastActivity(machine.id);
      if (last !== undefined && last > s.polledAt) {
        // A command was just sent: watch the machine closely again.
        s.intervalMs = minMs;
        s.dueAt = Math.min(s.dueAt, last + minMs);
      }
      if (s.dueAt > now) continue;
      let driver: PowerDriver;
      try {
        driver = driverFor(this.#drivers, machine.power.type, machine.id);
      } catch {
        continue;
      }
      const release = this.#power.mutex.tryAcquire(PowerService.bmcKey(machine));
      if (!release) continue; // a command is in flight on this BMC; read it next round
      let target: PowerTarget;
      try {
        target = this.#power.targetOf(machine);
      } catch (err) {
        release();
        this.#log.warn({ machine: machine.id, err: (err as Error).message }, 'cannot read power settings');
        continue;
      }
      const list = due.get(driver) ?? [];
      list.push({ machine, target, release });
      due.set(driver, list);
    }

    const batches: Array<Promise<void>> = [];
    for (const [driver, items] of due) {
      for (let i = 0; i < items.length; i += this.#settings.pollBatchSize) batches.push(this.#pollBatch(driver, items.slice(i, i + this.#settings.pollBatchSize)));
    }
    await Promise.all(batches);
    this.rounds++;
    let next = Infinity;
    for (const s of this.#schedule.values()) next = Math.min(next, s.dueAt);
    return next === Infinity ? this.#settings.pollMinSeconds * 1000 : Math.max(0, next - this.#now());
  }

  async #pollBatch(driver: PowerDriver, items: Array<{ machine: Machine; target: PowerTarget; release: () => void }>): Promise<void> {
    const started = performance.now();
    const results = new Map<string, PowerState | Error>();
    try {
      if (driver.statusMany) {
        for (const [id, r] of await driver.statusMany(items.map((i) => i.target))) results.set(id, r);
      } else {
        await Promise.all(
          items.map(async ({ target }) => {
            try {
              results.set(target.machineId, await driver.status(target));
            } catch (err) {
              results.set(target.machineId, err as Error);
            }
          }),
        );
      }
    } finally {
      for (const i of items) i.release();
    }
    const seconds = (performance.now() - started) / 1000;
    const minMs = this.#settings.pollMinSeconds * 1000;
    const maxMs = this.#settings.pollMaxSeconds * 1000;
    for (const { machine } of items) {
      const result = results.get(machine.id) ?? new Error('no result');
      const failed = result instanceof Error;
      this.#power.observe(driver.type, 'status', seconds, failed ? result : null);
      const state: PowerState = failed ? 'error' : result;
      let changed = false;
      try {
        changed = this.#registry.machines.recordPowerState(machine.id, state, { actor: 'system:power-reconciler' });
      } catch (err) {
        this.#log.warn({ machine: machine.id, err: (err as Error).message }, 'cannot record power state');
      }
      const s = this.#schedule.get(machine.id)!;
      // A change (including into 'error') brings the machine back to the fastest rate; a steady
      // reading, or a BMC that keeps failing, is polled half as often each time.
      s.intervalMs = changed ? minMs : Math.min(s.intervalMs * 2, maxMs);
      s.polledAt = this.#now();
      s.dueAt = s.polledAt + s.intervalMs;
      if (failed) this.#log.warn({ machine: machine.id, code: isBootrackError(result) ? result.code : 'INTERNAL' }, 'power status poll failed');
      else if (changed) this.#log.info({ machine: machine.id, state }, 'power state changed');
    }
  }

  /** The current poll interval of a machine (ms), for tests and diagnostics. */
  intervalOf(machineId: string): number | undefined {
    return this.#schedule.get(machineId)?.intervalMs;
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
