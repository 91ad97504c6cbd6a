import type { ActionHandler } from './action-handler.js';
import type { MachineSpec } from './managed-entry.js';
import type { ExecResult } from './transport/transport.js';

export interface FileAttributes {
  /** Octal string, e.g. "644". */
  mode?: string;
  owner?: string;
  group?: string;
}

export interface OsInfo {
  platform: string;
  platformVersion: string;
  arch: string;
}

export interface MachineExecOptions {
  timeoutMs?: number;
  /** Stream output live into `ah.openStream(<machine name>)`. */
  stream?: boolean;
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  signal?: AbortSignal;
}

export interface WriteOptions {
  /** `mkdir -p` the parent first. */
  ensureDir?: boolean;
}

/**
 * A ready, connectable machine (Chef's Machine). Methods taking `ah` change things and go through
 * `ah.performAction` (in why-run they change nothing and resolve to undefined); the others only read.
 */
export interface Machine {
  readonly name: string;
  readonly spec: MachineSpec;
  setupConvergence(ah: ActionHandler): Promise<void>;
  converge(ah: ActionHandler): Promise<void>;
  cleanupConvergence(ah: ActionHandler): Promise<void>;
  /** Runs `command`; throws COMMAND_FAILED (details.exitCode) unless it exits 0. */
  execute(ah: ActionHandler, command: string, options?: MachineExecOptions): Promise<ExecResult | undefined>;
  /** Runs `command` outside any action and never throws on a non-zero exit. */
  executeAlways(command: string, options?: MachineExecOptions): Promise<ExecResult>;
  readFile(path: string): Promise<Buffer | undefined>;
  writeFile(ah: ActionHandler, path: string, content: Buffer | string, options?: WriteOptions): Promise<void>;
  uploadFile(ah: ActionHandler, localPath: string, remotePath: string, options?: WriteOptions): Promise<void>;
  downloadFile(ah: ActionHandler, remotePath: string, localPath: string): Promise<void>;
  createDir(ah: ActionHandler, path: string): Promise<void>;
  deleteFile(ah: ActionHandler, path: string): Promise<void>;
  isDirectory(path: string): Promise<boolean>;
  fileExists(path: string): Promise<boolean>;
  /** True when the remote file is missing or its sha256 differs from the local file or content. */
  filesDifferent(remotePath: string, localPath?: string, content?: Buffer | string): Promise<boolean>;
  getAttributes(path: string): Promise<FileAttributes | undefined>;
  setAttributes(ah: ActionHandler, path: string, attributes: FileAttributes): Promise<void>;
  detectOs(): Promise<OsInfo>;
  makeUrlAvailableToRemote(url: string): Promise<string>;
  disconnect(): Promise<void>;
}

/** How a machine gets configured once ready (Chef's ConvergenceStrategy). */
export interface ConvergenceStrategy {
  setupConvergence(ah: ActionHandler, machine: Machine): Promise<void>;
  converge(ah: ActionHandler, machine: Machine): Promise<void>;
  /** Receives the spec, not the machine: it may run after the machine is gone. */
  cleanupConvergence(ah: ActionHandler, spec: MachineSpec): Promise<void>;
}

/**
 * What `readyMachine` returns in why-run when there is nothing to connect to yet (allocate was only
 * planned). Fixes CP#143 (why-run crashed in ready): every change is reported as "would …", reads
 * answer "absent", and nothing touches the network.
 */
export class PlannedMachine implements Machine {
  readonly spec: MachineSpec;
  readonly #strategy: ConvergenceStrategy | undefined;

  constructor(spec: MachineSpec, strategy?: ConvergenceStrategy) {
    this.spec = spec;
    this.#strategy = strategy;
  }

  get name(): string {
    return this.spec.name;
  }

  async #plan(ah: ActionHandler, description: string): Promise<undefined> {
    await ah.performAction(description, () => {
      throw new Error(`${this.name} is only planned (why-run); cannot ${description}`);
    });
    return undefined;
  }

  async setupConvergence(ah: ActionHandler): Promise<void> {
    await this.#strategy?.setupConvergence(ah, this);
  }
  async converge(ah: ActionHandler): Promise<void> {
    await this.#strategy?.converge(ah, this);
  }
  async cleanupConvergence(ah: ActionHandler): Promise<void> {
    await this.#strategy?.cleanupConvergence(ah, this.spec);
  }
  execute(ah: ActionHandler, command: string): Promise<ExecResult | undefined> {
    return this.#plan(ah, `run '${command}' on ${this.name}`);
  }
  async executeAlways(command: string): Promise<ExecResult> {
    return { command, stdout: '', stdoutBytes: Buffer.alloc(0), stderr: '', exitCode: null, exitSignal: null };
  }
  async readFile(): Promise<Buffer | undefined> {
    return undefined;
  }
  async writeFile(ah: ActionHandler, path: string): Promise<void> {
    await this.#plan(ah, `write ${path} on ${this.name}`);
  }
  async uploadFile(ah: ActionHandler, localPath: string, remotePath: string): Promise<void> {
    await this.#plan(ah, `upload ${localPath} to ${remotePath} on ${this.name}`);
  }
  async downloadFile(ah: ActionHandler, remotePath: string, localPath: string): Promise<void> {
    await this.#plan(ah, `download ${remotePath} from ${this.name} to ${localPath}`);
  }
  async createDir(ah: ActionHandler, path: string): Promise<void> {
    await this.#plan(ah, `create directory ${path} on ${this.name}`);
  }
  async deleteFile(ah: ActionHandler, path: string): Promise<void> {
    await this.#plan(ah, `delete ${path} on ${this.name}`);
  }
  async isDirectory(): Promise<boolean> {
    return false;
  }
  async fileExists(): Promise<boolean> {
    return false;
  }
  async filesDifferent(): Promise<boolean> {
    return true;
  }
  async getAttributes(): Promise<FileAttributes | undefined> {
    return undefined;
  }
  async setAttributes(ah: ActionHandler, path: string, attributes: FileAttributes): Promise<void> {
    await this.#plan(ah, `set ${JSON.stringify(attributes)} on ${path} on ${this.name}`);
  }
  async detectOs(): Promise<OsInfo> {
    return { platform: 'unknown', platformVersion: 'unknown', arch: 'unknown' };
  }
  async makeUrlAvailableToRemote(url: string): Promise<string> {
    return url;
  }
  async disconnect(): Promise<void> {}
}
