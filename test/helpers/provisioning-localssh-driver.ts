/**
 * TEST DOUBLE driver `localssh:<state dir>`: a "machine warehouse" that is a directory of JSON
 * files (one per allocated machine, with its power state), whose machines are all the REAL sshd the
 * test started on 127.0.0.1. It exists to prove the driver contract suite itself and the core
 * (orchestrator, batches, why-run, saves) against real SSH; it is not a product driver.
 *
 * driverOptions: { port, hostKey } (the test sshd's port and host public key).
 * machineOptions: sshPort (overrides port, e.g. a closed one), readyTimeoutMs, bootstrapKey,
 * failAfterAllocate (throw after the reference was saved: fault injection).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BootrackError } from '../../src/common/errors.js';
import type { ActionHandler } from '../../src/provisioning/action-handler.js';
import { convergenceStrategyFor } from '../../src/provisioning/convergence.js';
import { Driver, type DriverConfig, type MachineOptions } from '../../src/provisioning/driver.js';
import { PlannedMachine, type Machine } from '../../src/provisioning/machine.js';
import type { MachineReference, MachineSpec } from '../../src/provisioning/managed-entry.js';
import { SshTransport } from '../../src/provisioning/transport/ssh.js';
import { waitForSsh } from '../../src/provisioning/transport/wait.js';
import { UnixMachine } from '../../src/provisioning/unix-machine.js';

interface LocalRef extends MachineReference {
  machineId: string;
  allocatedAt: string;
  bootstrapKey: string;
}

interface BoxState {
  name: string;
  power: 'on' | 'off';
}

export class LocalSshDriver extends Driver {
  static readonly scheme = 'localssh';

  static canonicalizeUrl(url: string, config: DriverConfig): { url: string; config: DriverConfig } {
    const dir = url.replace(/^localssh:/i, '');
    if (!dir) throw new BootrackError('INVALID_DRIVER_URL', 'localssh: needs a state directory, e.g. localssh:/tmp/boxes');
    return { url: `localssh:${resolve(dir).replace(/\/+$/, '')}`, config };
  }

  static fromUrl(url: string, config: DriverConfig): LocalSshDriver {
    return new LocalSshDriver(url, config);
  }

  get stateDir(): string {
    return this.driverUrl.slice('localssh:'.length);
  }

  #file(id: string): string {
    return join(this.stateDir, `${id}.json`);
  }

  async box(id: string): Promise<BoxState | undefined> {
    return readFile(this.#file(id), 'utf8').then((t) => JSON.parse(t) as BoxState, () => undefined);
  }

  async #setBox(id: string, state: BoxState): Promise<void> {
    await mkdir(this.stateDir, { recursive: true });
    await writeFile(this.#file(id), JSON.stringify(state));
  }

  async allocateMachine(ah: ActionHandler, spec: MachineSpec, options: MachineOptions): Promise<void> {
    const ref = spec.reference as LocalRef | undefined;
    if (ref && (await this.box(ref.machineId))) {
      ah.reportProgress(`box ${ref.machineId} is still ours; nothing to do`);
      return;
    }
    if (ref) await ah.performAction(`forget ${ref.machineId}, which is gone, and allocate again`, () => (spec.reference = undefined));
    await ah.performAction(`allocate a local box for ${spec.name}`, async () => {
      const machineId = `local-${spec.name}-${randomBytes(3).toString('hex')}`;
      await this.#setBox(machineId, { name: spec.name, power: 'off' });
      spec.reference = { driverUrl: this.driverUrl, driverVersion: '0.0.0-test', machineId, allocatedAt: new Date().toISOString(), bootstrapKey: String(options.bootstrapKey ?? 'bootstrap') } satisfies LocalRef;
      await spec.save(ah);
    });
    if (options.failAfterAllocate) throw new BootrackError('INTERNAL', `injected failure after allocating ${spec.name}`);
  }

  #transport(privateKey: string, options: MachineOptions): SshTransport {
    const port = Number(options.sshPort ?? this.driverOptions.port);
    return new SshTransport({ host: '127.0.0.1', port, username: 'root', privateKey, hostKey: String(this.driverOptions.hostKey), connectTimeoutMs: 5000 }, { logger: this.logger });
  }

  async readyMachine(ah: ActionHandler, spec: MachineSpec, options: MachineOptions): Promise<Machine> {
    const timeoutMs = options.readyTimeoutMs ?? 30_000; // from this call
    const strategy = convergenceStrategyFor(options.convergenceOptions);
    const ref = spec.reference as LocalRef | undefined;
    if (!ref) {
      if (!ah.shouldPerformActions) {
        await ah.performAction(`power on ${spec.name} and wait for SSH`, () => undefined);
        return new PlannedMachine(spec, strategy);
      }
      throw new BootrackError('ENTRY_NOT_FOUND', `${spec.name} is not allocated`);
    }
    const box = await this.box(ref.machineId);
    if (!box) throw new BootrackError('MACHINE_NOT_FOUND', `box ${ref.machineId} is gone; allocate again`);
    if (box.power === 'off') await ah.performAction(`power on ${ref.machineId}`, () => this.#setBox(ref.machineId, { ...box, power: 'on' }));
    if (!ah.shouldPerformActions) return new PlannedMachine(spec, strategy);
    const transport = this.#transport(await this.getPrivateKey(ref.bootstrapKey), options);
    await waitForSsh(transport, { ah, timeoutMs, intervalMs: 200, attemptTimeoutMs: 5000 });
    return new UnixMachine(spec, transport, strategy);
  }

  async connectToMachine(spec: MachineSpec, options: MachineOptions): Promise<Machine> {
    const ref = spec.reference as LocalRef | undefined;
    if (!ref) throw new BootrackError('ENTRY_NOT_FOUND', `${spec.name} is not allocated`);
    return new UnixMachine(spec, this.#transport(await this.getPrivateKey(ref.bootstrapKey), options), convergenceStrategyFor(options.convergenceOptions));
  }

  async stopMachine(ah: ActionHandler, spec: MachineSpec): Promise<void> {
    const ref = spec.reference as LocalRef | undefined;
    const box = ref ? await this.box(ref.machineId) : undefined;
    if (!ref || !box || box.power === 'off') return ah.reportProgress(`${spec.name} is not running; nothing to stop`);
    await ah.performAction(`power off ${ref.machineId}`, () => this.#setBox(ref.machineId, { ...box, power: 'off' }));
  }

  async destroyMachine(ah: ActionHandler, spec: MachineSpec): Promise<void> {
    const ref = spec.reference as LocalRef | undefined;
    if (!ref) return ah.reportProgress(`${spec.name} is not allocated; nothing to destroy`);
    await ah.performAction(`destroy ${ref.machineId}`, async () => {
      await rm(this.#file(ref.machineId), { force: true });
      spec.reference = undefined;
      await spec.save(ah);
    });
  }
}
