import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BootrackError, isBootrackError } from '../../../common/errors.js';
import type { ActionHandler } from '../../action-handler.js';
import { convergenceStrategyFor } from '../../convergence.js';
import { Driver, type BatchRun, type DriverConfig, type MachineBatchItem } from '../../driver.js';
import { PlannedMachine, type Machine } from '../../machine.js';
import type { MachineReference, MachineSpec } from '../../managed-entry.js';
import { SshTransport } from '../../transport/ssh.js';
import { waitForSsh } from '../../transport/wait.js';
import { UnixMachine } from '../../unix-machine.js';
import { checkVagrant, runVagrant, tail, type VagrantResult } from './cli.js';
import { isNotCreatedState, isRunningState, parseSshConfig, parseStatus, type MachineStatus } from './parse.js';
import { canonicalizeVagrantUrl } from './url.js';
import { assertVagrantName, CLUSTER_VAGRANTFILE, machineVagrantfile, type VagrantMachineOptions } from './vagrantfile.js';

export const VAGRANT_DRIVER_VERSION = '0.1.0';
export const DEFAULT_VAGRANT_READY_TIMEOUT_MS = 15 * 60 * 1000;
/** Bound on the quick commands (status, ssh-config, halt, destroy). Each costs ~2 s of Ruby start-up. */
const QUICK_MS = 3 * 60 * 1000;

/** What the vagrant: driver saves (as chef-provisioning-vagrant: the VM name and its file). */
export interface VagrantReference extends MachineReference {
  /** The Vagrant machine name (`config.vm.define`). */
  machineId: string;
  vmFile: string;
  provider: string;
  allocatedAt: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

async function readOrUndefined(path: string): Promise<string | undefined> {
  return readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
}

/** Write to a temp file, then rename: a crash never leaves half a Vagrantfile. */
async function writeAtomic(path: string, content: string): Promise<void> {
  const temp = `${path}.${process.pid}.${Math.random().toString(16).slice(2)}.tmp`;
  await writeFile(temp, content);
  await rename(temp, path);
}

/**
 * `vagrant:<dir>`: one `<name>.vm` per machine in `<dir>` plus a cluster Vagrantfile loading them
 * (chef-provisioning-vagrant's layout). driverOptions: vagrantBinary (default "vagrant"; tests use
 * a netns wrapper), env (extra environment for vagrant, e.g. VAGRANT_HOME), provider (default
 * "libvirt"), configDir (where a bare `vagrant` URL puts its vms/). SSH follows `vagrant ssh-config`,
 * which says StrictHostKeyChecking no: every VM makes fresh host keys, so there is nothing to pin.
 */
export class VagrantDriver extends Driver {
  static readonly scheme = 'vagrant';

  static canonicalizeUrl(url: string, config: DriverConfig): { url: string; config: DriverConfig } {
    const configDir = str(config.driverOptions?.configDir);
    const xdg = str(process.env.XDG_CONFIG_HOME);
    return { url: canonicalizeVagrantUrl(url, { ...(configDir ? { configDir } : {}), ...(xdg ? { xdgConfigHome: xdg } : {}) }), config };
  }

  static fromUrl(url: string, config: DriverConfig): VagrantDriver {
    return new VagrantDriver(url, config);
  }

  get dir(): string {
    return this.driverUrl.slice('vagrant:'.length);
  }

  get binary(): string {
    return str(this.driverOptions.vagrantBinary) ?? 'vagrant';
  }

  #env(): Record<string, string> {
    const env = this.driverOptions.env;
    const out: Record<string, string> = {};
    if (env && typeof env === 'object') for (const [k, v] of Object.entries(env)) if (typeof v === 'string') out[k] = v;
    return out;
  }

  providerOf(options: VagrantMachineOptions): string {
    return options.vagrantProvider ?? str(this.driverOptions.provider) ?? 'libvirt';
  }

  vmFile(name: string): string {
    assertVagrantName(name);
    return join(this.dir, `${name}.vm`);
  }

  async #run(args: string[], timeoutMs: number, provider: string, onLine?: (line: string) => void): Promise<VagrantResult> {
    return checkVagrant(await runVagrant(this.binary, args, { cwd: this.dir, timeoutMs, env: this.#env(), ...(onLine ? { onLine } : {}) }), args, provider);
  }

  /** `vagrant status --machine-readable <names>`; names without a .vm file are reported not_created without asking. */
  async status(names: string[], provider = 'libvirt'): Promise<Map<string, MachineStatus>> {
    const out = new Map<string, MachineStatus>();
    const known: string[] = [];
    for (const n of names) {
      if ((await readOrUndefined(this.vmFile(n))) === undefined) out.set(n, { name: n, state: 'not_created' });
      else known.push(n);
    }
    if (known.length > 0) for (const s of parseStatus((await this.#run(['status', '--machine-readable', ...known], QUICK_MS, provider)).stdout)) out.set(s.name, s);
    return out;
  }

  #reference(spec: MachineSpec): VagrantReference | undefined {
    const ref = spec.reference as VagrantReference | undefined;
    if (ref && ref.driverUrl !== this.driverUrl) {
      throw new BootrackError('MACHINE_MOVE_UNSUPPORTED', `${spec.name} belongs to ${ref.driverUrl}, not ${this.driverUrl}; machine moving is not supported (was the directory given relative to another working directory? CP#121): destroy it there and recreate it here`, { name: spec.name, from: ref.driverUrl, to: this.driverUrl });
    }
    return ref;
  }

  async allocateMachine(ah: ActionHandler, spec: MachineSpec, options: VagrantMachineOptions): Promise<void> {
    const ref = this.#reference(spec);
    const provider = this.providerOf(options);
    const file = this.vmFile(spec.name);
    const content = machineVagrantfile(spec.name, options, provider);
    const current = await readOrUndefined(file);
    if (ref && current === content) {
      await this.#ensureCluster(ah);
      ah.reportProgress(`${file} is up to date; nothing to do`);
      return;
    }
    if (ref && current === undefined) {
      await ah.performAction(`forget ${ref.machineId}: its Vagrantfile ${file} is gone; allocate it again`, () => {
        spec.reference = undefined;
      });
    }
    await this.#ensureCluster(ah);
    const what = current === undefined ? `allocate ${spec.name}: write ${file} (box ${String(options.vagrantOptions?.box)}, provider ${provider})` : `allocate ${spec.name}: rewrite ${file} (its options changed; they apply at the next vagrant up)`;
    await ah.performAction(what, async () => {
      await writeAtomic(file, content);
      spec.reference = { driverUrl: this.driverUrl, driverVersion: VAGRANT_DRIVER_VERSION, machineId: spec.name, vmFile: file, provider, allocatedAt: new Date().toISOString() } satisfies VagrantReference;
    });
    if (spec.reference) await spec.save(ah);
  }

  async #ensureCluster(ah: ActionHandler): Promise<void> {
    const path = join(this.dir, 'Vagrantfile');
    if ((await readOrUndefined(path)) === CLUSTER_VAGRANTFILE) return;
    await ah.performAction(`write the cluster Vagrantfile ${path}`, async () => {
      await mkdir(this.dir, { recursive: true });
      await writeAtomic(path, CLUSTER_VAGRANTFILE);
    });
  }

  /**
   * `vagrant up <names> --provider=…`, bounded, its output streamed to `ah.openStream("vagrant <name>")`
   * and its "==> " steps reported as progress; while Vagrant waits for the guest's SSH, progress says
   * "waiting for SSH N s / M s". Vagrant's own boot timeout becomes TIMEOUT naming SSH.
   */
  async #up(ah: ActionHandler, names: string[], provider: string, timeoutMs: number, base: { start: number; totalMs: number }): Promise<void> {
    const stream = ah.openStream(`vagrant ${names.join(' ')}`);
    let sshSince: number | undefined;
    const sshProgress = (): void => ah.reportProgress(`waiting for SSH ${Math.round((performance.now() - base.start) / 1000)} s / ${Math.round(base.totalMs / 1000)} s`);
    const ticker = setInterval(() => sshSince !== undefined && sshProgress(), 10_000);
    const args = ['up', ...names, `--provider=${provider}`];
    try {
      await this.#run(args, timeoutMs, provider, (line) => {
        stream.write(`${line}\n`);
        // The steps ("==> m1: Starting domain."), not the settings table ("==> m1:  -- Cpus: 1").
        if (line.startsWith('==> ') && !/^==> [^:]+: {2}--/.test(line)) ah.reportProgress(line.slice(4));
        if (sshSince === undefined && /Waiting for machine to boot|SSH address:/.test(line)) {
          sshSince = performance.now();
          sshProgress();
        }
      });
    } catch (err) {
      const text = isBootrackError(err) ? `${err.message}\n${String(err.details.stderr ?? '')}` : String(err);
      // Vagrant 2.3.4: "Timed out while waiting for the machine to boot. … increase the timeout
      // ("config.vm.boot_timeout") value." — its own wait for the guest's SSH ran out.
      if (/Timed out while waiting for the machine to boot|config\.vm\.boot_timeout|waiting for .*IP address/i.test(text) || (isBootrackError(err, 'TIMEOUT') && sshSince !== undefined)) {
        throw new BootrackError('TIMEOUT', `SSH on ${names.join(', ')} did not come up: ${isBootrackError(err, 'TIMEOUT') ? err.message : 'Vagrant timed out waiting for the machine to boot (config.vm.boot_timeout)'}`, { machines: names, stderr: tail(text) }, { cause: err });
      }
      throw err;
    } finally {
      clearInterval(ticker);
    }
  }

  async readyMachine(ah: ActionHandler, spec: MachineSpec, options: VagrantMachineOptions): Promise<Machine> {
    const timeoutMs = options.readyTimeoutMs ?? DEFAULT_VAGRANT_READY_TIMEOUT_MS;
    const started = performance.now();
    const deadline = started + timeoutMs; // from THIS call (CP#269)
    const strategy = convergenceStrategyFor(options.convergenceOptions);
    const ref = this.#reference(spec);
    if (!ref) {
      if (!ah.shouldPerformActions) {
        await ah.performAction(`vagrant up ${spec.name} and wait for SSH (up to ${Math.round(timeoutMs / 1000)} s)`, () => undefined);
        return new PlannedMachine(spec, strategy);
      }
      throw new BootrackError('ENTRY_NOT_FOUND', `${spec.name} is not allocated (no Vagrantfile recorded); allocate it first`, { name: spec.name });
    }
    if ((await readOrUndefined(ref.vmFile)) === undefined) throw new BootrackError('ENTRY_NOT_FOUND', `${spec.name}: its Vagrantfile ${ref.vmFile} is gone; allocate it again`, { name: spec.name, vmFile: ref.vmFile });
    const state = (await this.status([ref.machineId], ref.provider)).get(ref.machineId)?.state ?? 'unknown';
    if (isRunningState(state)) ah.reportProgress(`${ref.machineId} is already running; not running vagrant up`);
    else {
      const budget = Math.min(options.upTimeoutMs ?? Infinity, Math.max(1, deadline - performance.now()));
      await ah.performAction(`power on ${ref.machineId} (${state}): vagrant up ${ref.machineId} --provider=${ref.provider}`, () => this.#up(ah, [ref.machineId], ref.provider, budget, { start: started, totalMs: timeoutMs }));
    }
    if (!ah.shouldPerformActions) return new PlannedMachine(spec, strategy);
    const transport = await this.#transport(ref, options);
    await waitForSsh(transport, { ah, timeoutMs: Math.max(1, deadline - performance.now()), intervalMs: 1000, attemptTimeoutMs: options.connectTimeoutMs ?? 10_000, progressBase: { start: started, totalMs: timeoutMs } });
    return new UnixMachine(spec, transport, strategy);
  }

  /**
   * Chef's ready_machines: ONE `vagrant up a b …` for every machine not yet running (vagrant-libvirt
   * brings them up in parallel), then each machine's own ready (which finds it running). If the
   * shared up fails, each machine's own ready retries alone and reports its own error.
   */
  override async readyMachines(ah: ActionHandler, items: readonly MachineBatchItem[], run: BatchRun<Machine> = {}): Promise<Machine[]> {
    const refs = items.map((i) => ({ item: i, ref: i.spec.reference as VagrantReference | undefined })).filter((x) => x.ref?.driverUrl === this.driverUrl);
    if (refs.length > 1 && ah.shouldPerformActions) {
      try {
        const states = await this.status(refs.map((r) => r.ref!.machineId), refs[0]!.ref!.provider);
        const byProvider = new Map<string, string[]>();
        for (const { ref } of refs) if (!isRunningState(states.get(ref!.machineId)?.state ?? '')) byProvider.set(ref!.provider, [...(byProvider.get(ref!.provider) ?? []), ref!.machineId]);
        const timeoutMs = Math.max(...items.map((i) => Number((i.options as VagrantMachineOptions).upTimeoutMs ?? i.options.readyTimeoutMs ?? DEFAULT_VAGRANT_READY_TIMEOUT_MS)));
        const start = performance.now();
        for (const [provider, names] of byProvider) {
          if (names.length < 2) continue;
          await ah.performAction(`power on ${names.join(', ')} in parallel: vagrant up ${names.join(' ')} --provider=${provider}`, () => this.#up(ah, names, provider, timeoutMs, { start, totalMs: timeoutMs }));
        }
      } catch (err) {
        ah.reportProgress(`the shared vagrant up failed (${(err as Error).message.split('\n')[0]}); each machine tries alone`);
      }
    }
    return super.readyMachines(ah, items, run);
  }

  async #transport(ref: VagrantReference, options: VagrantMachineOptions): Promise<SshTransport> {
    let result: VagrantResult;
    try {
      result = await this.#run(['ssh-config', ref.machineId], QUICK_MS, ref.provider);
    } catch (err) {
      if (!isBootrackError(err, 'VAGRANT_COMMAND_FAILED')) throw err;
      throw new BootrackError('SSH_CONNECT_FAILED', `vagrant has no SSH settings for ${ref.machineId} (is it running? ready it first): ${err.message}`, { machine: ref.machineId }, { cause: err });
    }
    const cfg = parseSshConfig(result.stdout).find((c) => c.host === ref.machineId) ?? parseSshConfig(result.stdout)[0];
    if (!cfg) throw new BootrackError('SSH_CONNECT_FAILED', `vagrant ssh-config ${ref.machineId} printed no Host block`, { machine: ref.machineId });
    let privateKey: string | undefined;
    for (const f of cfg.identityFiles) if ((privateKey = await readOrUndefined(f)) !== undefined) break;
    if (privateKey === undefined) throw new BootrackError('PRIVATE_KEY_NOT_FOUND', `none of the IdentityFiles vagrant names for ${ref.machineId} can be read: ${cfg.identityFiles.join(', ') || 'none'}`, { machine: ref.machineId });
    const username = options.sshUsername ?? cfg.user;
    const sudo = options.sudo ?? username !== 'root';
    return new SshTransport(
      { host: cfg.hostName, port: options.sshPort ?? cfg.port, username, privateKey, insecureAcceptAnyHostKey: true, ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}) },
      { ...(sudo ? { prefix: 'sudo ' } : {}), logger: this.logger },
    );
  }

  async connectToMachine(spec: MachineSpec, options: VagrantMachineOptions): Promise<Machine> {
    const ref = this.#reference(spec);
    if (!ref) throw new BootrackError('ENTRY_NOT_FOUND', `${spec.name} is not allocated`, { name: spec.name });
    return new UnixMachine(spec, await this.#transport(ref, options), convergenceStrategyFor(options.convergenceOptions));
  }

  async stopMachine(ah: ActionHandler, spec: MachineSpec, _options?: VagrantMachineOptions): Promise<void> {
    const ref = this.#reference(spec);
    if (!ref) return ah.reportProgress(`${spec.name} is not allocated; nothing to stop`);
    const state = (await this.status([ref.machineId], ref.provider)).get(ref.machineId)?.state ?? 'unknown';
    if (!isRunningState(state)) return ah.reportProgress(`${ref.machineId} is ${state}; nothing to stop`);
    await ah.performAction(`power off ${ref.machineId}: vagrant halt ${ref.machineId}`, () => this.#run(['halt', ref.machineId], QUICK_MS, ref.provider));
  }

  async destroyMachine(ah: ActionHandler, spec: MachineSpec, _options?: VagrantMachineOptions): Promise<void> {
    const ref = this.#reference(spec);
    if (!ref) return ah.reportProgress(`${spec.name} is not allocated; nothing to destroy`);
    const state = (await this.status([ref.machineId], ref.provider)).get(ref.machineId)?.state ?? 'unknown';
    const vm = isNotCreatedState(state) ? '' : `vagrant destroy -f ${ref.machineId}, `;
    await ah.performAction(`destroy ${ref.machineId}: ${vm}remove ${ref.vmFile}`, async () => {
      if (vm) await this.#run(['destroy', '-f', ref.machineId], QUICK_MS, ref.provider);
      await rm(ref.vmFile, { force: true });
      spec.reference = undefined;
    });
    if (!spec.reference) await spec.save(ah);
  }
}
