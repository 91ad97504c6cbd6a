import { readFile } from 'node:fs/promises';
import type { ActionHandler } from './action-handler.js';
import type { ConvergenceStrategy, Machine } from './machine.js';
import type { MachineSpec } from './managed-entry.js';

/** Does nothing: the machine is ready when the driver says so. */
export class NoConverge implements ConvergenceStrategy {
  async setupConvergence(): Promise<void> {}
  async converge(): Promise<void> {}
  async cleanupConvergence(): Promise<void> {}
}

export interface ShellScriptOptions {
  /** The script text (with its own #! line, or run by /bin/sh). */
  script?: string;
  /** Or a local file holding it. */
  scriptPath?: string;
  /** Where it lands on the machine (default /tmp/bootrack-converge.sh). */
  remotePath?: string;
  /** Bound on one run (default 2 h, Chef's chef_client_timeout). */
  timeoutMs?: number;
}

export const DEFAULT_CONVERGE_TIMEOUT_MS = 2 * 60 * 60 * 1000;

/**
 * Chef's InstallSh reduced to what we need: setup uploads the script (only if it changed) and makes
 * it executable; converge runs it, streaming its output to `ah.openStream(<machine>)`, and throws
 * COMMAND_FAILED with the exit code if it fails. Cleanup has nothing to remove.
 */
export class ShellScript implements ConvergenceStrategy {
  readonly options: ShellScriptOptions;

  constructor(options: ShellScriptOptions) {
    this.options = options;
  }

  get remotePath(): string {
    return this.options.remotePath ?? '/tmp/bootrack-converge.sh';
  }

  async #script(): Promise<string> {
    if (this.options.script !== undefined) return this.options.script;
    if (this.options.scriptPath !== undefined) return readFile(this.options.scriptPath, 'utf8');
    return '#!/bin/sh\ntrue\n';
  }

  async setupConvergence(ah: ActionHandler, machine: Machine): Promise<void> {
    await machine.writeFile(ah, this.remotePath, await this.#script(), { ensureDir: true });
    await machine.setAttributes(ah, this.remotePath, { mode: '755' });
  }

  async converge(ah: ActionHandler, machine: Machine): Promise<void> {
    await machine.execute(ah, this.remotePath, { stream: true, timeoutMs: this.options.timeoutMs ?? DEFAULT_CONVERGE_TIMEOUT_MS });
  }

  async cleanupConvergence(_ah: ActionHandler, _spec: MachineSpec): Promise<void> {}
}

/** Picks the strategy from `machineOptions.convergenceOptions`: a script → ShellScript, else NoConverge. */
export function convergenceStrategyFor(convergenceOptions: unknown): ConvergenceStrategy {
  const o = (convergenceOptions ?? {}) as ShellScriptOptions;
  return typeof o.script === 'string' || typeof o.scriptPath === 'string' ? new ShellScript(o) : new NoConverge();
}
