import { systemClock, type Clock } from '../common/logger.js';
import { Allocator } from './allocation.js';
import { checkDatabase, openDatabase, type Db, type DbCheck } from './db.js';
import { EventLog } from './events.js';
import { LeaseRepo } from './leases.js';
import { MachineRepo } from './machines.js';
import { SecretBox, loadOrCreateSecretKey } from './secrets.js';
import { TokenRepo } from './tokens.js';

export interface RegistryOptions {
  databasePath: string;
  /** The AES key for BMC credentials, or a key file path to load/create. */
  secretKey: Buffer | { path: string };
  busyTimeoutMs?: number;
  clock?: Clock;
}

/** The registry: the only part of bootrack that knows SQL. */
export class Registry {
  readonly machines: MachineRepo;
  readonly allocations: Allocator;
  readonly events: EventLog;
  readonly leases: LeaseRepo;
  readonly tokens: TokenRepo;
  readonly #db: Db;

  constructor(db: Db, secrets: SecretBox, clock: Clock = systemClock) {
    this.#db = db;
    this.events = new EventLog(db, clock);
    this.machines = new MachineRepo(db, clock, this.events, secrets);
    this.allocations = new Allocator(db, clock, this.machines);
    this.leases = new LeaseRepo(db, clock);
    this.tokens = new TokenRepo(db, clock);
  }

  /** Runs fn in one write transaction (BEGIN IMMEDIATE), for callers combining several repo calls. */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn).immediate();
  }

  check(): DbCheck {
    return checkDatabase(this.#db);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

export function openRegistry(options: RegistryOptions): Registry {
  const key = Buffer.isBuffer(options.secretKey) ? options.secretKey : loadOrCreateSecretKey(options.secretKey.path);
  const secrets = new SecretBox(key);
  const db = openDatabase(options.databasePath, { busyTimeoutMs: options.busyTimeoutMs ?? 5000 });
  return new Registry(db, secrets, options.clock);
}

export { checkDatabase, openDatabase } from './db.js';
export { MACHINE_STATES, TRANSITIONS, canTransition, isMachineState, DISCOVERY_STATES, OWNED_STATES } from './lifecycle.js';
export type { MachineState } from './lifecycle.js';
export type * from './types.js';
export type { Lease, LeaseRecord, LeaseState, LeaseWrite, Reservation } from './leases.js';
export type { TokenRecord, TokenRole, TokenInput } from './tokens.js';
export type { EventQuery } from './events.js';
export type { AllocateRequest } from './allocation.js';
export { SecretBox } from './secrets.js';
