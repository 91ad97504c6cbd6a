import { BootrackError, isBootrackError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Metrics } from '../common/metrics.js';
import type { Actor, EventInput, Machine, MachineFilter, PowerCredentials, PowerState } from '../registry/index.js';
import { driverFor, type DriverMap } from './drivers.js';
import { powerMetrics, type PowerMetrics } from './metrics.js';
import { KeyedMutex } from './queue.js';
import type { BootDevice, PowerAction, PowerControl, PowerDriver, PowerTarget } from './types.js';

/** The narrow slice of the registry power needs (structural: the real Registry satisfies it). */
export interface PowerRegistry {
  machines: {
    get(ref: string): Machine;
    list(filter?: MachineFilter): Machine[];
    getPowerCredentials(ref: string): PowerCredentials | null;
    recordPowerState(ref: string, state: PowerState, by: Actor): boolean;
  };
  events: { append(event: EventInput): number };
}

export interface RetryPolicy {
  /** Retries after BMC_BUSY; 0 = fail at once. */
  busyRetries: number;
  /** First backoff; doubles per retry with full jitter, capped at 16× this. */
  busyBackoffMs: number;
}

export interface PowerServiceDeps {
  registry: PowerRegistry;
  drivers: DriverMap;
  logger: Logger;
  metrics: Metrics;
  retry: RetryPolicy;
  sleep?: (ms: number) => Promise<void>;
  /** Clock for activity stamps (ms epoch); the reconciler must share it. */
  now?: () => number;
}

type Op = PowerAction | 'status' | 'set_boot';

/**
 * PowerControl over the registry: resolves machine references, picks the driver by the machine's
 * power type, keeps at most one command in flight per BMC (FIFO per BMC address), retries busy BMCs
 * with backoff, writes a 'power' event for each requested action and its outcome (never a secret),
 * and counts everything in Prometheus metrics.
 */
export class PowerService implements PowerControl {
  readonly mutex = new KeyedMutex();
  readonly #deps: PowerServiceDeps;
  readonly #metrics: PowerMetrics;
  readonly #log: Logger;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #activity = new Map<string, number>();

  constructor(deps: PowerServiceDeps) {
    this.#deps = deps;
    this.#metrics = powerMetrics(deps.metrics);
    this.#log = deps.logger.child({ part: 'power' });
    this.#sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async status(machineRef: string, actor: string): Promise<PowerState> {
    const { machine, driver, target } = this.resolve(machineRef);
    const state = await this.#run(machine, driver, 'status', () => driver.status(target));
    this.#deps.registry.machines.recordPowerState(machine.id, state, { actor });
    return state;
  }

  async act(machineRef: string, action: PowerAction, actor: string): Promise<void> {
    const { machine, driver, target } = this.resolve(machineRef);
    await this.#recorded(machine, driver, action, actor, {}, () => driver.act(target, action));
  }

  async setNextBoot(machineRef: string, device: BootDevice, persistent: boolean, actor: string): Promise<void> {
    const { machine, driver, target } = this.resolve(machineRef);
    await this.#recorded(machine, driver, 'set_boot', actor, { device, persistent }, () => driver.setNextBoot(target, device, { persistent }));
  }

  /** When this machine last had a power command (ms epoch), so the reconciler can poll it sooner. */
  lastActivity(machineId: string): number | undefined {
    return this.#activity.get(machineId);
  }

  /** The key that serializes commands: one per BMC endpoint, or per machine when there is no BMC. */
  static bmcKey(machine: Machine): string {
    const port = machine.power.options.port;
    return machine.power.address ? `${machine.power.type}|${machine.power.address}|${typeof port === 'number' ? port : ''}` : `machine|${machine.id}`;
  }

  resolve(machineRef: string): { machine: Machine; driver: PowerDriver; target: PowerTarget } {
    const machine = this.#deps.registry.machines.get(machineRef);
    return { machine, driver: driverFor(this.#deps.drivers, machine.power.type, machine.id), target: this.targetOf(machine) };
  }

  targetOf(machine: Machine): PowerTarget {
    return {
      machineId: machine.id,
      address: machine.power.address,
      credentials: machine.power.hasCredentials ? this.#deps.registry.machines.getPowerCredentials(machine.id) : null,
      options: machine.power.options,
      macs: [...machine.interfaces].sort((a, b) => Number(b.boot) - Number(a.boot)).map((i) => i.mac),
    };
  }

  /** Counts an outcome observed outside #run (the reconciler's batched polls). */
  observe(driver: string, op: Op, seconds: number, err: unknown): void {
    this.#metrics.latency.observe({ driver, action: op }, seconds);
    this.#metrics.commands.inc({ driver, action: op, outcome: err ? 'error' : 'ok' });
    if (err) this.#metrics.bmcErrors.inc({ driver, code: isBootrackError(err) ? err.code : 'INTERNAL' });
  }

  async #recorded(machine: Machine, driver: PowerDriver, op: PowerAction | 'set_boot', actor: string, extra: Record<string, unknown>, fn: () => Promise<void>): Promise<void> {
    const events = this.#deps.registry.events;
    events.append({ machineId: machine.id, kind: 'power', type: 'power_requested', actor, data: { action: op, driver: driver.type, ...extra } });
    const started = performance.now();
    const attempts = { count: 0 };
    try {
      await this.#run(machine, driver, op, fn, attempts);
      events.append({ machineId: machine.id, kind: 'power', type: 'power_succeeded', actor, data: { action: op, driver: driver.type, attempts: attempts.count, ms: Math.round(performance.now() - started), ...extra } });
    } catch (err) {
      const code = isBootrackError(err) ? err.code : 'INTERNAL';
      events.append({ machineId: machine.id, kind: 'power', type: 'power_failed', actor, data: { action: op, driver: driver.type, attempts: attempts.count, code, message: isBootrackError(err) ? err.message : 'internal error', ...extra } });
      throw err;
    } finally {
      this.#activity.set(machine.id, (this.#deps.now ?? Date.now)());
    }
  }

  async #run<T>(machine: Machine, driver: PowerDriver, op: Op, fn: () => Promise<T>, attempts = { count: 0 }): Promise<T> {
    const started = performance.now();
    const key = PowerService.bmcKey(machine);
    const { busyRetries, busyBackoffMs } = this.#deps.retry;
    let error: unknown = null;
    try {
      for (let attempt = 0; ; attempt++) {
        attempts.count = attempt + 1;
        try {
          // The BMC is held only while the command runs; the backoff sleeps outside the lock so
          // other machines' commands to other BMCs are never delayed, and this BMC can recover.
          return await this.mutex.run(key, fn);
        } catch (err) {
          if (!isBootrackError(err, 'BMC_BUSY') || attempt >= busyRetries) throw err;
          const cap = busyBackoffMs * 2 ** Math.min(attempt, 4);
          const wait = Math.round(cap / 2 + Math.random() * (cap / 2));
          this.#metrics.retries.inc({ driver: driver.type });
          this.#log.info({ machine: machine.id, op, attempt: attempt + 1, waitMs: wait }, 'BMC busy; backing off');
          await this.#sleep(wait);
        }
      }
    } catch (err) {
      error = err;
      if (!isBootrackError(err)) throw new BootrackError('BMC_ERROR', `power ${op} failed: ${(err as Error)?.message ?? String(err)}`, { machine: machine.id }, { cause: err });
      throw err;
    } finally {
      this.observe(driver.type, op, (performance.now() - started) / 1000, error);
      if (error) this.#log.warn({ machine: machine.id, driver: driver.type, op, code: isBootrackError(error) ? error.code : 'INTERNAL' }, 'power command failed');
      else if (op === 'status') this.#log.debug({ machine: machine.id, driver: driver.type, op }, 'power status read');
      else this.#log.info({ machine: machine.id, driver: driver.type, op }, 'power command done');
    }
  }
}
