import { systemClock, type Clock } from '../common/logger.js';
import { Allocator } from './allocation.js';
import { BackgroundCheckpointer, type CheckpointerOptions } from './checkpointer.js';
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
  /**
   * WAL checkpoints in a worker thread instead of inside the commit that crosses the threshold (the
   * daemon: its event loop must not wait for fsync). Off by default (CLI, tests).
   */
  backgroundCheckpoint?: CheckpointerOptions;
}

/** The registry: the only part of bootrack that knows SQL. */
export class Registry {
  readonly machines: MachineRepo;
  readonly allocations: Allocator;
  readonly events: EventLog;
  readonly leases: LeaseRepo;
  readonly tokens: TokenRepo;
  readonly #db: Db;
  /** Set when checkpoints run in the background (openRegistry's backgroundCheckpoint). */
  readonly checkpointer: BackgroundCheckpointer | null;

  constructor(db: Db, secrets: SecretBox, clock: Clock = systemClock, checkpointer: BackgroundCheckpointer | null = null) {
    this.#db = db;
    this.checkpointer = checkpointer;
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

  /**
   * `fn` as a reusable write transaction (BEGIN IMMEDIATE): for a hot path that commits often, it
   * saves building better-sqlite3's transaction wrapper on every call.
   */
  writer<T>(fn: () => T): () => T {
    const run = this.#db.transaction(fn);
    return () => run.immediate();
  }

  check(): DbCheck {
    return checkDatabase(this.#db);
  }

  close(): void {
    this.checkpointer?.stop();
    if (this.#db.open) this.#db.close();
  }
}

export function openRegistry(options: RegistryOptions): Registry {
  const key = Buffer.isBuffer(options.secretKey) ? options.secretKey : loadOrCreateSecretKey(options.secretKey.path);
  const secrets = new SecretBox(key);
  const db = openDatabase(options.databasePath, { busyTimeoutMs: options.busyTimeoutMs ?? 5000 });
  const inFile = options.databasePath !== ':memory:' && options.databasePath !== '';
  const checkpointer = options.backgroundCheckpoint && inFile ? BackgroundCheckpointer.start(db, options.backgroundCheckpoint) : null;
  return new Registry(db, secrets, options.clock, checkpointer);
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
export type { BackgroundCheckpointer, CheckpointResult } from './checkpointer.js';
