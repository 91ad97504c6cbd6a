import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { posix } from 'node:path';
import type { ActionHandler } from './action-handler.js';
import type { ConvergenceStrategy, FileAttributes, Machine, MachineExecOptions, OsInfo, WriteOptions } from './machine.js';
import type { MachineSpec } from './managed-entry.js';
import { shellQuote as q, throwIfFailed, type ExecOptions, type ExecResult, type Transport } from './transport/transport.js';

async function sha256OfFile(path: string): Promise<string | undefined> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return hash.digest('hex');
}

/**
 * Chef's BasicMachine + UnixMachine over any Transport. Every path is shell-quoted (Chef
 * interpolated them raw); checksums are sha256 on both sides (Chef mixed MD5 and SHA256 on Windows);
 * writes and downloads are skipped when the content is already the same.
 */
export class UnixMachine implements Machine {
  readonly spec: MachineSpec;
  readonly transport: Transport;
  readonly strategy: ConvergenceStrategy;

  constructor(spec: MachineSpec, transport: Transport, strategy: ConvergenceStrategy) {
    this.spec = spec;
    this.transport = transport;
    this.strategy = strategy;
  }

  get name(): string {
    return this.spec.name;
  }

  async setupConvergence(ah: ActionHandler): Promise<void> {
    await this.strategy.setupConvergence(ah, this);
  }

  async converge(ah: ActionHandler): Promise<void> {
    await this.strategy.converge(ah, this);
  }

  async cleanupConvergence(ah: ActionHandler): Promise<void> {
    await this.strategy.cleanupConvergence(ah, this.spec);
  }

  #execOptions(ah: ActionHandler | undefined, options: MachineExecOptions): ExecOptions {
    const stream = options.stream && ah ? ah.openStream(this.name) : undefined;
    return {
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      onStdout: (chunk) => {
        stream?.write(chunk.toString('utf8'));
        options.onStdout?.(chunk);
      },
      onStderr: (chunk) => {
        stream?.write(chunk.toString('utf8'));
        options.onStderr?.(chunk);
      },
    };
  }

  execute(ah: ActionHandler, command: string, options: MachineExecOptions = {}): Promise<ExecResult | undefined> {
    return ah.performAction(`run '${command}' on ${this.name}`, async () => throwIfFailed(await this.transport.execute(command, this.#execOptions(ah, options)), this.name));
  }

  executeAlways(command: string, options: MachineExecOptions = {}): Promise<ExecResult> {
    return this.transport.execute(command, this.#execOptions(undefined, options));
  }

  async #must(command: string): Promise<ExecResult> {
    return throwIfFailed(await this.transport.execute(command, { timeoutMs: 60_000 }), this.name);
  }

  readFile(path: string): Promise<Buffer | undefined> {
    return this.transport.readFile(path);
  }

  async #ensureParent(path: string, options: WriteOptions): Promise<void> {
    if (options.ensureDir) await this.#must(`mkdir -p ${q(posix.dirname(path))}`);
  }

  async writeFile(ah: ActionHandler, path: string, content: Buffer | string, options: WriteOptions = {}): Promise<void> {
    if (!(await this.filesDifferent(path, undefined, content))) return;
    await ah.performAction(`write ${path} on ${this.name}`, async () => {
      await this.#ensureParent(path, options);
      await this.transport.writeFile(path, content);
    });
  }

  async uploadFile(ah: ActionHandler, localPath: string, remotePath: string, options: WriteOptions = {}): Promise<void> {
    if (!(await this.filesDifferent(remotePath, localPath))) return;
    await ah.performAction(`upload ${localPath} to ${remotePath} on ${this.name}`, async () => {
      await this.#ensureParent(remotePath, options);
      await this.transport.uploadFile(localPath, remotePath);
    });
  }

  async downloadFile(ah: ActionHandler, remotePath: string, localPath: string): Promise<void> {
    const local = await sha256OfFile(localPath);
    if (local !== undefined && local === (await this.#remoteSha256(remotePath))) return;
    await ah.performAction(`download ${remotePath} from ${this.name} to ${localPath}`, () => this.transport.downloadFile(remotePath, localPath));
  }

  async createDir(ah: ActionHandler, path: string): Promise<void> {
    if (await this.isDirectory(path)) return;
    await ah.performAction(`create directory ${path} on ${this.name}`, () => this.#must(`mkdir -p ${q(path)}`));
  }

  async deleteFile(ah: ActionHandler, path: string): Promise<void> {
    if (!(await this.fileExists(path))) return;
    await ah.performAction(`delete ${path} on ${this.name}`, () => this.#must(`rm -f ${q(path)}`));
  }

  async isDirectory(path: string): Promise<boolean> {
    return (await this.transport.execute(`test -d ${q(path)}`, { timeoutMs: 60_000 })).exitCode === 0;
  }

  async fileExists(path: string): Promise<boolean> {
    return (await this.transport.execute(`test -e ${q(path)} || test -L ${q(path)}`, { timeoutMs: 60_000 })).exitCode === 0;
  }

  async #remoteSha256(path: string): Promise<string | undefined> {
    const p = q(path);
    const result = await this.transport.execute(`test -f ${p} || exit 44; (sha256sum ${p} 2>/dev/null || shasum -a 256 ${p} 2>/dev/null || openssl dgst -sha256 -r ${p}) | cut -c1-64`, { timeoutMs: 10 * 60_000 });
    if (result.exitCode === 44) return undefined;
    const hex = throwIfFailed(result, this.name).stdout.trim();
    return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
  }

  async filesDifferent(remotePath: string, localPath?: string, content?: Buffer | string): Promise<boolean> {
    const remote = await this.#remoteSha256(remotePath);
    if (remote === undefined) return true;
    const local = content !== undefined ? createHash('sha256').update(content).digest('hex') : localPath !== undefined ? await sha256OfFile(localPath) : undefined;
    return local !== remote;
  }

  async getAttributes(path: string): Promise<FileAttributes | undefined> {
    const result = await this.transport.execute(`stat -c '%a %U %G' ${q(path)} 2>/dev/null || stat -f '%Lp %Su %Sg' ${q(path)}`, { timeoutMs: 60_000 });
    if (result.exitCode !== 0) return undefined;
    const [mode, owner, group] = result.stdout.trim().split(/\s+/);
    return { ...(mode ? { mode } : {}), ...(owner ? { owner } : {}), ...(group ? { group } : {}) };
  }

  async setAttributes(ah: ActionHandler, path: string, attributes: FileAttributes): Promise<void> {
    const current = (await this.getAttributes(path)) ?? {};
    const changes: Array<[string, string]> = [];
    if (attributes.mode !== undefined && Number.parseInt(attributes.mode, 8) !== Number.parseInt(current.mode ?? 'x', 8)) changes.push(['mode', `chmod ${q(attributes.mode)} ${q(path)}`]);
    if (attributes.owner !== undefined && attributes.owner !== current.owner) changes.push(['owner', `chown ${q(attributes.owner)} ${q(path)}`]);
    if (attributes.group !== undefined && attributes.group !== current.group) changes.push(['group', `chgrp ${q(attributes.group)} ${q(path)}`]);
    for (const [what, command] of changes) {
      await ah.performAction(`set ${what} of ${path} on ${this.name} to ${attributes[what as keyof FileAttributes] ?? ''}`, () => this.#must(command));
    }
  }

  /** From /etc/os-release and `uname -m` (no script upload, unlike Chef's detect.sh). */
  async detectOs(): Promise<OsInfo> {
    const result = await this.#must(`cat /etc/os-release 2>/dev/null; echo "BOOTRACK_UNAME=$(uname -s)"; echo "BOOTRACK_ARCH=$(uname -m)"`);
    const fields = new Map<string, string>();
    for (const line of result.stdout.split('\n')) {
      const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
      if (m) fields.set(m[1]!, m[2]!.replace(/^"(.*)"$/, '$1'));
    }
    return {
      platform: fields.get('ID') ?? fields.get('BOOTRACK_UNAME')?.toLowerCase() ?? 'unknown',
      platformVersion: fields.get('VERSION_ID') ?? 'unknown',
      arch: fields.get('BOOTRACK_ARCH') ?? 'unknown',
    };
  }

  makeUrlAvailableToRemote(url: string): Promise<string> {
    return this.transport.makeUrlAvailableToRemote(url);
  }

  disconnect(): Promise<void> {
    return this.transport.disconnect();
  }
}
