import { BootrackError } from '../../../common/errors.js';
import type { ActionHandler } from '../../action-handler.js';
import { runBatch } from '../../batch.js';
import { convergenceStrategyFor } from '../../convergence.js';
import { Driver, type BatchRun, type DriverConfig, type MachineBatchItem } from '../../driver.js';
import { PlannedMachine, type Machine } from '../../machine.js';
import type { MachineReference, MachineSpec } from '../../managed-entry.js';
import { SshTransport } from '../../transport/ssh.js';
import { waitForSsh } from '../../transport/wait.js';
import { UnixMachine } from '../../unix-machine.js';
import { canonicalizeEc2Url, openPort } from './canonical.js';
import { clientToken, hostKeyFromConsole, keyNameOf, launchDigest, launchParamsOf, machineTags, retryPolicyOf, type Ec2MachineOptions, type LaunchParams } from './launch.js';
import { withRetry, type Ec2Instance, type Ec2Port } from './port.js';

export const EC2_DRIVER_VERSION = '0.1.0';
export const DEFAULT_EC2_READY_TIMEOUT_MS = 15 * 60 * 1000;

/** What the ec2: driver saves. Never credentials: those are read from driverOptions / the AWS chain each run. */
export interface Ec2Reference extends MachineReference {
  /** The EC2 instance id. */
  machineId: string;
  region: string;
  /** EC2 key pair name = the private key name resolved by getPrivateKey. */
  keyName: string;
  /** The RunInstances idempotency token used (not a secret: it only makes a retried launch idempotent). */
  launchId: string;
  allocatedAt: string;
  /** The SSH host key pinned at the first ready (from the console), e.g. "ssh-ed25519 AAAA…". */
  hostKey?: string;
}

const ALIVE = new Set(['pending', 'running', 'stopping', 'stopped']);
const isAlive = (i: Ec2Instance | undefined): boolean => i !== undefined && ALIVE.has(i.state);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The cloud driver: EC2 through the official SDK (optional dependency, loaded on first use).
 * driverOptions: region, profile, accessKeyId/secretAccessKey/sessionToken (else the standard AWS
 * chain), endpoint, accountId (skips the canonicalisation call), requestTimeoutMs,
 * retry {maxAttempts, baseDelayMs, maxDelayMs}, sdkPackage. Machine options: see Ec2MachineOptions.
 */
export class Ec2Driver extends Driver {
  static readonly scheme = 'ec2';
  readonly region: string;
  #port: Promise<Ec2Port> | undefined;

  static async canonicalizeUrl(url: string, config: DriverConfig): Promise<{ url: string; config: DriverConfig }> {
    const { url: canonical, config: next } = await canonicalizeEc2Url(url, config);
    return { url: canonical, config: next };
  }

  static fromUrl(url: string, config: DriverConfig): Ec2Driver {
    return new Ec2Driver(url, config);
  }

  constructor(url: string, config: DriverConfig) {
    super(url, config);
    const m = /^ec2:(\d{12}):([a-z0-9-]+)$/.exec(url);
    if (!m) throw new BootrackError('INVALID_DRIVER_URL', `Ec2Driver needs a canonical ec2:<account>:<region> URL (use driverForUrl), got ${JSON.stringify(url)}`, { url });
    this.region = m[2]!;
  }

  /** The EC2 port, opened (and the SDK imported) on first use. */
  port(): Promise<Ec2Port> {
    this.#port ??= openPort(this.region, this.driverOptions).catch((err: unknown) => {
      this.#port = undefined;
      throw err;
    });
    return this.#port;
  }

  async close(): Promise<void> {
    const port = this.#port;
    this.#port = undefined;
    if (port) (await port.catch(() => undefined))?.close();
  }

  /** Every EC2 call goes through here: throttling is retried with backoff, reported as progress. */
  async #call<T>(ah: ActionHandler | undefined, what: string, fn: (port: Ec2Port) => Promise<T>): Promise<T> {
    const port = await this.port();
    return withRetry(what, () => fn(port), retryPolicyOf(this.driverOptions), (m) => ah?.reportProgress(m));
  }

  async #instance(ah: ActionHandler | undefined, id: string): Promise<Ec2Instance | undefined> {
    return (await this.#call(ah, 'DescribeInstances', (p) => p.describeInstances({ instanceIds: [id] }))).find((i) => i.instanceId === id);
  }

  #reference(spec: MachineSpec): Ec2Reference | undefined {
    const ref = spec.reference as Ec2Reference | undefined;
    if (ref && ref.driverUrl !== this.driverUrl) {
      throw new BootrackError('MACHINE_MOVE_UNSUPPORTED', `${spec.name} belongs to ${ref.driverUrl}, not ${this.driverUrl}; machine moving is not supported: destroy it there and recreate it here`, { name: spec.name, from: ref.driverUrl, to: this.driverUrl });
    }
    return ref;
  }

  #newReference(instance: Ec2Instance, keyName: string, token: string): Ec2Reference {
    return { driverUrl: this.driverUrl, driverVersion: EC2_DRIVER_VERSION, machineId: instance.instanceId, region: this.region, keyName, launchId: token, allocatedAt: new Date().toISOString() };
  }

  /** Drops a reference whose instance is gone; true when the machine is still there (nothing to do). */
  async #stillOurs(ah: ActionHandler, spec: MachineSpec): Promise<boolean> {
    const ref = this.#reference(spec);
    if (!ref) return false;
    const found = await this.#instance(ah, ref.machineId);
    if (found && isAlive(found)) {
      ah.reportProgress(`instance ${ref.machineId} is still ours (state ${found.state}); nothing to do`);
      return true;
    }
    await ah.performAction(`forget instance ${ref.machineId}, which ${found ? `is ${found.state}` : 'is gone'}, and allocate again`, () => {
      spec.reference = undefined;
    });
    return false;
  }

  async #checkKeyPair(ah: ActionHandler, keyName: string): Promise<void> {
    const key = await this.#call(ah, 'DescribeKeyPairs', (p) => p.describeKeyPair(keyName));
    if (!key) {
      throw new BootrackError('CLOUD_NOT_FOUND', `key pair "${keyName}" does not exist in ${this.region}; import the public half of the private key named "${keyName}" (aws ec2 import-key-pair --key-name ${keyName} …) or set machine option keyName`, { keyName, region: this.region });
    }
  }

  /**
   * Finds instances this launch already made: by the `bootrack:entry` tag (single machine), then by
   * the idempotency token. A token whose instances are all terminated is chained (salted) so a
   * re-created machine gets a new instance. Returns the instances to adopt, or the token to launch with.
   */
  async #resolve(ah: ActionHandler, specs: readonly MachineSpec[], params: LaunchParams): Promise<{ adopt: Ec2Instance[]; token: string }> {
    if (specs.length === 1) {
      const tagged = await this.#call(ah, 'DescribeInstances', (p) => p.describeInstances({ filters: { 'tag:bootrack:entry': [specs[0]!.id], 'instance-state-name': [...ALIVE] } }));
      if (tagged.length > 0) return { adopt: tagged, token: tagged[0]!.clientToken ?? '' };
    }
    const digest = launchDigest(params);
    let token = clientToken(this.driverUrl, specs.map((s) => s.id), digest);
    for (let hop = 0; hop < 10; hop++) {
      const used = await this.#call(ah, 'DescribeInstances', (p) => p.describeInstances({ filters: { 'client-token': [token] } }));
      if (used.length === 0) return { adopt: [], token };
      const alive = used.filter(isAlive);
      if (alive.length === used.length && alive.length === specs.length) return { adopt: alive.sort((a, b) => a.launchIndex - b.launchIndex), token };
      token = clientToken(this.driverUrl, specs.map((s) => s.id), digest, `${token}:${used.map((i) => i.instanceId).sort().join(',')}`);
    }
    throw new BootrackError('CLOUD_REQUEST_FAILED', `${specs.map((s) => s.name).join(', ')}: 10 idempotency tokens in a row are used by terminated instances; giving up`, { machines: specs.map((s) => s.name) });
  }

  async #adopt(ah: ActionHandler, spec: MachineSpec, instance: Ec2Instance, keyName: string, token: string): Promise<void> {
    await ah.performAction(`adopt instance ${instance.instanceId} (state ${instance.state}), launched for ${spec.name} earlier but never recorded`, () => {
      spec.reference = this.#newReference(instance, keyName, token);
    });
    if (spec.reference) await spec.save(ah);
  }

  async allocateMachine(ah: ActionHandler, spec: MachineSpec, options: Ec2MachineOptions): Promise<void> {
    if (await this.#stillOurs(ah, spec)) return;
    const params = launchParamsOf(options, spec.name);
    await this.#checkKeyPair(ah, params.keyName);
    const { adopt, token } = await this.#resolve(ah, [spec], params);
    if (adopt[0]) return this.#adopt(ah, spec, adopt[0], params.keyName, token);
    await ah.performAction(`allocate: launch a ${params.instanceType} instance of ${params.imageId} for ${spec.name} in ${this.region} (key pair ${params.keyName}, idempotency token ${token})`, async () => {
      const [instance] = await this.#call(ah, 'RunInstances', (p) => p.runInstances({ ...params, tags: { ...params.tags, ...machineTags(this.driverUrl, spec.name, spec.id) }, count: 1, clientToken: token }));
      if (!instance) throw new BootrackError('CLOUD_REQUEST_FAILED', `RunInstances for ${spec.name} returned no instance`, { machine: spec.name });
      spec.reference = this.#newReference(instance, params.keyName, token);
      ah.reportProgress(`launched instance ${instance.instanceId} (state ${instance.state})`);
    });
    // Saved BEFORE returning, by the driver itself: a crash after this must not leak the instance (CPA#158).
    if (spec.reference) await spec.save(ah);
  }

  /**
   * One RunInstances call per group of machines with identical launch parameters (CPA PR#41), the
   * instances mapped to machines by their launch index (in input order) and then tagged one by one
   * (the call can only tag all alike; CPA#436 mapped ids wrongly). Machines with a reference, or
   * alone in their group, take the single-machine path. onEach, order and BATCH_FAILED as runBatch.
   */
  override async allocateMachines(ah: ActionHandler, items: readonly MachineBatchItem[], run: BatchRun<MachineSpec> = {}): Promise<MachineSpec[]> {
    const groups = new Map<string, { params: LaunchParams; specs: MachineSpec[]; launch?: Promise<Map<string, Ec2Instance> | undefined> }>();
    const groupOf = new Map<MachineSpec, string>();
    for (const { spec, options } of items) {
      if (spec.reference) continue;
      let params: LaunchParams;
      try {
        params = launchParamsOf(options as Ec2MachineOptions, spec.name);
      } catch {
        continue; // the single-machine path reports it for this machine
      }
      const key = launchDigest(params);
      const g = groups.get(key) ?? { params, specs: [] };
      g.specs.push(spec);
      groups.set(key, g);
      groupOf.set(spec, key);
    }
    const worker = async (item: MachineBatchItem): Promise<MachineSpec> => {
      const { spec, options } = item;
      const pah = this.addPrefix(spec, ah);
      const g = groupOf.has(spec) ? groups.get(groupOf.get(spec)!) : undefined;
      if (!g || g.specs.length < 2) return (await this.allocateMachine(pah, spec, options), spec);
      g.launch ??= this.#launchGroup(ah, g.specs, g.params);
      const instance = (await g.launch)?.get(spec.id);
      if (!instance) return spec; // why-run: the launch was only reported
      await pah.performAction(`allocate: instance ${instance.instanceId} (launch index ${instance.launchIndex}) is ${spec.name}; tag it`, async () => {
        await this.#call(pah, 'CreateTags', (p) => p.createTags([instance.instanceId], machineTags(this.driverUrl, spec.name, spec.id)));
        spec.reference = this.#newReference(instance, g.params.keyName, instance.clientToken ?? '');
      });
      if (spec.reference) await spec.save(pah);
      return spec;
    };
    return runBatch(items, (i) => i.spec.name, worker, run);
  }

  async #launchGroup(ah: ActionHandler, specs: MachineSpec[], params: LaunchParams): Promise<Map<string, Ec2Instance> | undefined> {
    await this.#checkKeyPair(ah, params.keyName);
    const { adopt, token } = await this.#resolve(ah, specs, params);
    const names = specs.map((s) => s.name).join(', ');
    const instances = adopt.length === specs.length
      ? (ah.reportProgress(`instances ${adopt.map((i) => i.instanceId).join(', ')} of token ${token} already exist for ${names}; adopting them`), adopt)
      : await ah.performAction(`allocate: launch ${specs.length} ${params.instanceType} instances of ${params.imageId} for ${names} in ONE RunInstances call (idempotency token ${token})`, () =>
          this.#call(ah, 'RunInstances', (p) => p.runInstances({ ...params, tags: { ...params.tags, 'bootrack:driver': this.driverUrl, 'bootrack:batch': token }, count: specs.length, clientToken: token })),
        );
    if (!instances) return undefined;
    const sorted = [...instances].sort((a, b) => a.launchIndex - b.launchIndex);
    if (sorted.length !== specs.length) throw new BootrackError('CLOUD_REQUEST_FAILED', `RunInstances returned ${sorted.length} instances for ${specs.length} machines (${names})`, { machines: specs.map((s) => s.name) });
    return new Map(specs.map((s, i) => [s.id, sorted[i]!]));
  }

  async readyMachine(ah: ActionHandler, spec: MachineSpec, options: Ec2MachineOptions): Promise<Machine> {
    const timeoutMs = options.readyTimeoutMs ?? DEFAULT_EC2_READY_TIMEOUT_MS;
    const started = performance.now();
    const deadline = started + timeoutMs; // from THIS call, never from allocatedAt (CP#269)
    const strategy = convergenceStrategyFor(options.convergenceOptions);
    const ref = this.#reference(spec);
    if (!ref) {
      if (!ah.shouldPerformActions) {
        await ah.performAction(`start ${spec.name}, wait for it to run and for SSH (up to ${Math.round(timeoutMs / 1000)} s)`, () => undefined);
        return new PlannedMachine(spec, strategy);
      }
      throw new BootrackError('ENTRY_NOT_FOUND', `${spec.name} has no instance recorded; allocate it first`, { name: spec.name });
    }
    const pollMs = Math.max(10, options.pollIntervalMs ?? 5000);
    let inst = await this.#instance(ah, ref.machineId);
    for (let i = 0; inst?.state === 'stopping' && i < Math.ceil(timeoutMs / pollMs) && performance.now() < deadline; i++) {
      ah.reportProgress(`instance ${ref.machineId} is stopping; waiting to start it again`);
      await sleep(Math.min(pollMs, Math.max(0, deadline - performance.now())));
      inst = await this.#instance(ah, ref.machineId);
    }
    if (!inst || !isAlive(inst)) throw new BootrackError('CLOUD_NOT_FOUND', `${spec.name}: instance ${ref.machineId} ${inst ? `is ${inst.state}` : 'is gone'}; run allocate again`, { instanceId: ref.machineId, state: inst?.state });
    if (inst.state === 'stopped') await ah.performAction(`power on instance ${ref.machineId} (StartInstances)`, () => this.#call(ah, 'StartInstances', (p) => p.startInstances([ref.machineId])));
    else ah.reportProgress(`instance ${ref.machineId} is ${inst.state}; not starting it`);
    if (!ah.shouldPerformActions) return new PlannedMachine(spec, strategy);
    const running = await this.#waitRunning(ah, ref.machineId, options, started, timeoutMs, pollMs);
    const hostKey = ref.hostKey ?? (await this.#hostKey(ah, spec, ref, options, deadline, pollMs));
    const transport = this.#transport(running, await this.getPrivateKey(ref.keyName), hostKey, options);
    await waitForSsh(transport, { ah, timeoutMs: Math.max(1, deadline - performance.now()), intervalMs: Math.min(pollMs, 2000), attemptTimeoutMs: options.connectTimeoutMs ?? 10_000, progressBase: { start: started, totalMs: timeoutMs } });
    return new UnixMachine(spec, transport, strategy);
  }

  async #waitRunning(ah: ActionHandler, id: string, options: Ec2MachineOptions, started: number, timeoutMs: number, pollMs: number): Promise<Ec2Instance> {
    const deadline = started + timeoutMs;
    let last: Ec2Instance | undefined;
    let reported = -Infinity;
    for (let poll = 0; poll < Math.ceil(timeoutMs / pollMs) + 2 && performance.now() < deadline; poll++) {
      last = await this.#instance(ah, id);
      if (last?.state === 'running' && this.#address(last, options)) return last;
      if (!last || last.state === 'terminated' || last.state === 'shutting-down') throw new BootrackError('CLOUD_NOT_FOUND', `instance ${id} ${last ? `went to ${last.state}` : 'vanished'} while starting`, { instanceId: id, state: last?.state });
      if (performance.now() - reported >= 10_000) {
        reported = performance.now();
        ah.reportProgress(`waiting for instance ${id} to run (state ${last.state}) ${Math.round((reported - started) / 1000)} s / ${Math.round(timeoutMs / 1000)} s`);
      }
      await sleep(Math.max(0, Math.min(pollMs, deadline - performance.now())));
    }
    throw new BootrackError('TIMEOUT', `instance ${id} did not reach running with an address within ${Math.round(timeoutMs / 1000)} s (state ${last?.state ?? 'unknown'})`, { instanceId: id, state: last?.state });
  }

  /** Pins the host key cloud-init printed on the console (first ready), or none with hostKeySource "any". */
  async #hostKey(ah: ActionHandler, spec: MachineSpec, ref: Ec2Reference, options: Ec2MachineOptions, deadline: number, pollMs: number): Promise<string | undefined> {
    if (options.hostKeySource === 'any') {
      ah.reportProgress(`hostKeySource "any": the SSH host key of ${ref.machineId} is NOT verified`);
      return undefined;
    }
    for (let i = 0; i < 1000 && performance.now() < deadline; i++) {
      const key = hostKeyFromConsole(await this.#call(ah, 'GetConsoleOutput', (p) => p.consoleOutput(ref.machineId)));
      if (key) {
        spec.reference = { ...ref, hostKey: key };
        await spec.save(ah);
        return key;
      }
      if (i === 0) ah.reportProgress(`waiting for the SSH host key on the console of ${ref.machineId}`);
      await sleep(Math.max(0, Math.min(pollMs, deadline - performance.now())));
    }
    throw new BootrackError('TIMEOUT', `no SSH host key appeared on the console of ${ref.machineId} in time (cloud-init prints it at boot); for images without cloud-init set hostKeySource "any"`, { instanceId: ref.machineId });
  }

  #address(i: Ec2Instance, options: Ec2MachineOptions): string | undefined {
    return options.usePrivateIp ? i.privateIp : (i.publicIp ?? i.privateIp);
  }

  #transport(i: Ec2Instance, privateKey: string, hostKey: string | undefined, options: Ec2MachineOptions): SshTransport {
    const username = options.sshUsername ?? 'ec2-user';
    const sudo = options.sudo ?? username !== 'root';
    return new SshTransport(
      { host: this.#address(i, options)!, port: options.sshPort ?? 22, username, privateKey, ...(hostKey ? { hostKey } : { insecureAcceptAnyHostKey: true }), ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}) },
      { ...(sudo ? { prefix: 'sudo ' } : {}), logger: this.logger },
    );
  }

  async connectToMachine(spec: MachineSpec, options: Ec2MachineOptions): Promise<Machine> {
    const ref = this.#reference(spec);
    if (!ref) throw new BootrackError('ENTRY_NOT_FOUND', `${spec.name} has no instance recorded`, { name: spec.name });
    const inst = await this.#instance(undefined, ref.machineId);
    if (inst?.state !== 'running' || !this.#address(inst, options)) {
      throw new BootrackError('SSH_CONNECT_FAILED', `instance ${ref.machineId} is ${inst?.state ?? 'gone'}${inst?.state === 'running' ? ' without an address' : ''}; ready it first`, { instanceId: ref.machineId, state: inst?.state });
    }
    const hostKey = ref.hostKey ?? (options.hostKeySource === 'any' ? undefined : hostKeyFromConsole(await this.#call(undefined, 'GetConsoleOutput', (p) => p.consoleOutput(ref.machineId))));
    if (!hostKey && options.hostKeySource !== 'any') throw new BootrackError('SSH_CONNECT_FAILED', `no SSH host key is known for ${ref.machineId}; ready it first`, { instanceId: ref.machineId });
    return new UnixMachine(spec, this.#transport(inst, await this.getPrivateKey(ref.keyName), hostKey, options), convergenceStrategyFor(options.convergenceOptions));
  }

  async stopMachine(ah: ActionHandler, spec: MachineSpec, _options?: Ec2MachineOptions): Promise<void> {
    const ref = this.#reference(spec);
    if (!ref) return ah.reportProgress(`${spec.name} has no instance; nothing to stop`);
    const inst = await this.#instance(ah, ref.machineId);
    if (!inst || inst.state !== 'running' && inst.state !== 'pending') return ah.reportProgress(`instance ${ref.machineId} is ${inst?.state ?? 'gone'}; nothing to stop`);
    await ah.performAction(`stop instance ${ref.machineId}`, () => this.#call(ah, 'StopInstances', (p) => p.stopInstances([ref.machineId])));
  }

  async destroyMachine(ah: ActionHandler, spec: MachineSpec, _options?: Ec2MachineOptions): Promise<void> {
    const ref = this.#reference(spec);
    if (!ref) return ah.reportProgress(`${spec.name} has no instance; nothing to destroy`);
    const inst = await this.#instance(ah, ref.machineId);
    if (isAlive(inst)) {
      await ah.performAction(`terminate instance ${ref.machineId}`, async () => {
        await this.#call(ah, 'TerminateInstances', (p) => p.terminateInstances([ref.machineId]));
        spec.reference = undefined;
      });
    } else {
      await ah.performAction(`forget instance ${ref.machineId}, which is ${inst?.state ?? 'gone'} already`, () => {
        spec.reference = undefined;
      });
    }
    if (!spec.reference) await spec.save(ah);
  }
}

export { keyNameOf };
