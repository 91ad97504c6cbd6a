import { BootrackError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { PrefixActionHandler, type ActionHandler } from './action-handler.js';
import { runBatch, type BatchOptions } from './batch.js';
import type { ShellScriptOptions } from './convergence.js';
import type { Machine } from './machine.js';
import type { MachineSpec } from './managed-entry.js';
import { mergeOptions, type Options } from './options.js';
import { getPrivateKey, type KeyConfig } from './private-keys.js';

/** Options every driver understands; each driver documents its own extra keys beside these. */
export interface CommonMachineOptions {
  /** How the machine is configured once ready (a script → ShellScript, else NoConverge). */
  convergenceOptions?: ShellScriptOptions;
  /** Login user (default root). */
  sshUsername?: string;
  sshPort?: number;
  /** Prefix commands with "sudo " (default: when the user is not root). */
  sudo?: boolean;
  /** NAME of the bootstrap private key, resolved through privateKeys/privateKeyPaths (default "bootstrap"). */
  bootstrapKey?: string;
  /** Budget of readyMachine, counted from each call (never from a stored time). */
  readyTimeoutMs?: number;
  /** Bound on one SSH connect + handshake (default 10 s). */
  connectTimeoutMs?: number;
}
export type MachineOptions = CommonMachineOptions & Options;

/**
 * The configuration a driver is built from (Chef's config hash). Layers: global `driverOptions` /
 * `machineOptions`, then `drivers[<url>]` for the raw and then the canonical URL (driverForUrl
 * merges them with mergeOptions, last wins), then each machine's own options.
 */
export interface DriverConfig extends KeyConfig {
  /** Free-form, per driver; the ONLY place credentials live (tokens, CA). Never copied into a reference. */
  driverOptions?: Options;
  machineOptions?: MachineOptions;
  drivers?: Record<string, { driverOptions?: Options; machineOptions?: MachineOptions }>;
  /** Schemes whose `bootrack-driver-<scheme>` package may be imported. Nothing outside it is ever loaded. */
  allowedDriverPackages?: string[];
  /** Directories package names are resolved from (default: the working directory). */
  driverPackageSearchPaths?: string[];
  logger?: Logger;
}

/** The static side of a driver (Chef: Driver.canonicalize_url + Driver.from_url). */
export interface DriverClass {
  readonly scheme: string;
  /** Must return the canonical URL (no credentials) and may adjust the config. */
  canonicalizeUrl(url: string, config: DriverConfig): { url: string; config: DriverConfig } | Promise<{ url: string; config: DriverConfig }>;
  fromUrl(canonicalUrl: string, config: DriverConfig): Driver | Promise<Driver>;
}

export interface MachineBatchItem {
  spec: MachineSpec;
  options: MachineOptions;
}

export type BatchRun<R> = BatchOptions<MachineBatchItem, R>;

/**
 * A machine warehouse (Chef's Driver). Every per-machine method is idempotent. Per Chef:
 * allocateMachine reserves quickly and writes `spec.reference` (with the canonical `driverUrl`);
 * readyMachine never allocates; connectToMachine changes nothing and does not wait; destroyMachine
 * returns to the state before allocate and clears the reference.
 */
export abstract class Driver {
  readonly driverUrl: string;
  readonly config: DriverConfig;

  constructor(driverUrl: string, config: DriverConfig) {
    this.driverUrl = driverUrl;
    this.config = config;
  }

  get driverOptions(): Options {
    return this.config.driverOptions ?? {};
  }

  get logger(): Logger {
    return this.config.logger ?? silentLogger;
  }

  /** global → driver (already merged into config.machineOptions) → machine, last wins. */
  machineOptionsFor(machineOptions: MachineOptions | undefined): MachineOptions {
    return mergeOptions<MachineOptions>(this.config.machineOptions, machineOptions);
  }

  abstract allocateMachine(ah: ActionHandler, spec: MachineSpec, options: MachineOptions): Promise<void>;
  abstract readyMachine(ah: ActionHandler, spec: MachineSpec, options: MachineOptions): Promise<Machine>;
  abstract connectToMachine(spec: MachineSpec, options: MachineOptions): Promise<Machine>;
  abstract destroyMachine(ah: ActionHandler, spec: MachineSpec, options: MachineOptions): Promise<void>;
  abstract stopMachine(ah: ActionHandler, spec: MachineSpec, options: MachineOptions): Promise<void>;

  /**
   * Batches: fan out with a concurrency limit, each machine's reports prefixed "<name>: ", `onEach`
   * as each finishes (success OR failure, so callers save every spec at once), results in input
   * order, BATCH_FAILED naming each failed machine. Drivers with a bulk API may override.
   */
  allocateMachines(ah: ActionHandler, items: readonly MachineBatchItem[], run: BatchRun<MachineSpec> = {}): Promise<MachineSpec[]> {
    return runBatch(items, (i) => i.spec.name, async (i) => (await this.allocateMachine(this.addPrefix(i.spec, ah), i.spec, i.options), i.spec), run);
  }

  readyMachines(ah: ActionHandler, items: readonly MachineBatchItem[], run: BatchRun<Machine> = {}): Promise<Machine[]> {
    return runBatch(items, (i) => i.spec.name, (i) => this.readyMachine(this.addPrefix(i.spec, ah), i.spec, i.options), run);
  }

  stopMachines(ah: ActionHandler, items: readonly MachineBatchItem[], run: BatchRun<MachineSpec> = {}): Promise<MachineSpec[]> {
    return runBatch(items, (i) => i.spec.name, async (i) => (await this.stopMachine(this.addPrefix(i.spec, ah), i.spec, i.options), i.spec), run);
  }

  destroyMachines(ah: ActionHandler, items: readonly MachineBatchItem[], run: BatchRun<MachineSpec> = {}): Promise<MachineSpec[]> {
    return runBatch(items, (i) => i.spec.name, async (i) => (await this.destroyMachine(this.addPrefix(i.spec, ah), i.spec, i.options), i.spec), run);
  }

  /** Images are not part of bootrack's drivers yet (Chef raised the same way). */
  async allocateImage(): Promise<void> {
    throw new BootrackError('DRIVER_NOT_IMPLEMENTED', `${this.driverUrl} does not implement allocateImage`);
  }
  async readyImage(): Promise<void> {
    throw new BootrackError('DRIVER_NOT_IMPLEMENTED', `${this.driverUrl} does not implement readyImage`);
  }
  async destroyImage(): Promise<void> {
    throw new BootrackError('DRIVER_NOT_IMPLEMENTED', `${this.driverUrl} does not implement destroyImage`);
  }
  /** Load balancers: no-ops unless a driver has them (as in Chef). */
  async allocateLoadBalancer(): Promise<void> {}
  async readyLoadBalancer(): Promise<void> {}
  async destroyLoadBalancer(): Promise<void> {}

  /** Key text by NAME (the reference stores names only). Throws PRIVATE_KEY_NOT_FOUND listing where it looked. */
  protected getPrivateKey(name: string): Promise<string> {
    return getPrivateKey(name, this.config);
  }

  protected addPrefix(spec: MachineSpec, ah: ActionHandler): ActionHandler {
    return new PrefixActionHandler(ah, `${spec.name}: `);
  }
}
