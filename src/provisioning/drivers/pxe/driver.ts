import { createHash } from 'node:crypto';
import { BootrackError, isBootrackError } from '../../../common/errors.js';
import type { ActionHandler } from '../../action-handler.js';
import { convergenceStrategyFor } from '../../convergence.js';
import { Driver, type DriverConfig, type MachineOptions } from '../../driver.js';
import { PlannedMachine, type Machine } from '../../machine.js';
import type { MachineReference, MachineSpec } from '../../managed-entry.js';
import { publicKeyLine, SshTransport } from '../../transport/ssh.js';
import { waitForSsh } from '../../transport/wait.js';
import { UnixMachine } from '../../unix-machine.js';
import { ApplianceClient, type MachineEvent, type MachineView } from './api-client.js';
import { canonicalizePxeUrl } from './url.js';

export const PXE_DRIVER_VERSION = '0.1.0';

/** What the pxe: driver saves: enough to find the box again, nothing secret. */
export interface PxeReference extends MachineReference {
  machineId: string;
  mac: string | null;
  allocatedAt: string;
  requestKey: string;
  /** The NAME of the bootstrap key (resolved by getPrivateKey each run). */
  bootstrapKey: string;
}

/**
 * pxe: machine options (beside CommonMachineOptions). Allocation constraints may be given at the
 * top level or under `constraints` (which wins): arch, minCpus, minMemoryMib, minDiskGib, tags,
 * notTags, mac, and `machineName` (→ constraints.name: a specific box).
 */
export interface PxeMachineOptions extends MachineOptions {
  constraints?: Record<string, unknown>;
  requestKey?: string;
  profile?: Record<string, unknown>;
  /** How often readyMachine polls the appliance (default 5 s). */
  pollIntervalMs?: number;
}

const CONSTRAINT_KEYS = ['arch', 'minCpus', 'minMemoryMib', 'minDiskGib', 'tags', 'notTags', 'mac'] as const;
const OWNED = new Set(['allocated', 'deploying', 'deployed', 'failed_deployment']);
export const DEFAULT_READY_TIMEOUT_MS = 30 * 60 * 1000;
/** Long waits report at most this often (the first report is immediate). */
const PROGRESS_EVERY_MS = 10_000;

function constraintsOf(options: PxeMachineOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of CONSTRAINT_KEYS) if (options[key] !== undefined) out[key] = options[key];
  if (typeof options.machineName === 'string') out.name = options.machineName;
  return { ...out, ...(options.constraints ?? {}) };
}

function bootMac(view: MachineView): string | null {
  return (view.interfaces.find((i) => i.boot) ?? view.interfaces[0])?.mac ?? null;
}

/** The agent's ssh_ready status event (kind agent, type ssh_ready). */
function isSshReadyEvent(e: MachineEvent): boolean {
  return e.type === 'ssh_ready' || (e.kind === 'agent' && e.data?.status === 'ssh_ready');
}

/**
 * The allocation's idempotency key, from the machine's NAME (so a lost local state, or another
 * workstation, re-adopts the same box instead of leaking a second one). The API caps keys at 128.
 */
export function requestKeyFor(name: string): string {
  const plain = `machine:${name}`;
  return plain.length <= 128 ? plain : `machine:sha256:${createHash('sha256').update(name).digest('hex')}`;
}

/** A boot event as a progress line; audit records are the appliance's business, not progress. */
function describeEvent(e: MachineEvent): string | undefined {
  if (e.kind === 'audit') return undefined;
  if (e.kind === 'state' && e.toState) return `state ${e.fromState ?? '?'} → ${e.toState}`;
  return `${e.kind} ${e.type}`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What to tell the user per power failure code (the code itself is kept). */
const POWER_ADVICE: Partial<Record<string, string>> = {
  BMC_AUTH_FAILED: "the machine's BMC refused the credentials; fix its power settings (PUT /api/v1/machines/<id>/power-settings) and run ready again",
  BMC_UNREACHABLE: "the machine's BMC did not answer; check its address and that the appliance can reach it",
  BMC_BUSY: "the machine's BMC is busy; retry shortly",
  BMC_UNSUPPORTED: "the machine's BMC does not support the operation; check its power type and options",
  BMC_ERROR: "the machine's BMC returned an error",
  POWER_NOT_CONFIGURED: 'the machine has no power control configured on the appliance',
};

/** The appliance did not answer at all (refused, reset, timed out, or a proxy's 502/503/504 without our error body). */
function isApplianceUnreachable(err: unknown): err is BootrackError {
  if (isBootrackError(err, 'TIMEOUT')) return true;
  if (!isBootrackError(err, 'DRIVER_API_ERROR')) return false;
  const d = (err.details ?? {}) as { cause?: unknown; status?: unknown; apiCode?: unknown };
  if (typeof d.cause === 'string' && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN)$/.test(d.cause)) return true;
  return d.apiCode === undefined && (d.status === 502 || d.status === 503 || d.status === 504);
}

/**
 * The bare-metal driver: an HTTP client of the appliance API only. driverOptions: `token` (API
 * bearer token), `ca` (PEM or path, for https). Never imports the registry: it runs in remote programs.
 */
export class PxeDriver extends Driver {
  static readonly scheme = 'pxe';
  readonly api: ApplianceClient;

  static canonicalizeUrl(url: string, config: DriverConfig): { url: string; config: DriverConfig } {
    return { url: canonicalizePxeUrl(url), config };
  }

  static fromUrl(url: string, config: DriverConfig): PxeDriver {
    return new PxeDriver(canonicalizePxeUrl(url), config);
  }

  constructor(url: string, config: DriverConfig) {
    super(url, config);
    const o = this.driverOptions;
    this.api = new ApplianceClient(url.slice('pxe:'.length), {
      ...(typeof o.token === 'string' ? { token: o.token } : {}),
      ...(typeof o.ca === 'string' ? { ca: o.ca } : {}),
    });
  }

  #reference(spec: MachineSpec): PxeReference | undefined {
    const ref = spec.reference as PxeReference | undefined;
    if (ref && ref.driverUrl !== this.driverUrl) {
      throw new BootrackError('MACHINE_MOVE_UNSUPPORTED', `${spec.name} belongs to ${ref.driverUrl}, not ${this.driverUrl}; machine moving is not supported: destroy it there and recreate it here`, { name: spec.name, from: ref.driverUrl, to: this.driverUrl });
    }
    return ref;
  }

  async #find(machineId: string): Promise<MachineView | undefined> {
    try {
      return await this.api.getMachine(machineId);
    } catch (err) {
      if (isBootrackError(err, 'MACHINE_NOT_FOUND')) return undefined;
      throw err;
    }
  }

  async allocateMachine(ah: ActionHandler, spec: MachineSpec, options: PxeMachineOptions): Promise<void> {
    const requestKey = options.requestKey ?? requestKeyFor(spec.name);
    const ref = this.#reference(spec);
    if (ref) {
      const view = await this.#find(ref.machineId);
      if (view && OWNED.has(view.state) && (view.allocationKey === null || view.allocationKey === ref.requestKey)) {
        ah.reportProgress(`allocation ${ref.machineId} (${ref.mac ?? 'no MAC'}) is still ours (state ${view.state}); nothing to do`);
        return;
      }
      const why = view ? `is no longer ours (state ${view.state})` : 'is gone from the appliance';
      await ah.performAction(`forget machine ${ref.machineId}, which ${why}, and allocate again`, () => {
        spec.reference = undefined;
      });
    }
    const constraints = constraintsOf(options);
    const keyName = options.bootstrapKey ?? 'bootstrap';
    const created = await ah.performAction(`allocate a machine for ${spec.name} from ${this.driverUrl} (constraints ${JSON.stringify(constraints)})`, async () => {
      const result = await this.api.allocate(constraints, requestKey);
      const reference: PxeReference = {
        driverUrl: this.driverUrl,
        driverVersion: PXE_DRIVER_VERSION,
        machineId: result.machine.id,
        mac: bootMac(result.machine),
        allocatedAt: result.machine.allocatedAt ?? new Date().toISOString(),
        requestKey,
        bootstrapKey: keyName,
      };
      spec.reference = reference;
      return result.created;
    });
    // Saved BEFORE returning, by the driver itself: a crash after this must not leak the box (CPA#158).
    if (spec.reference) await spec.save(ah);
    if (created === false) ah.reportProgress(`the appliance already held an allocation under request key ${requestKey}; adopted it`);
  }

  async readyMachine(ah: ActionHandler, spec: MachineSpec, options: PxeMachineOptions): Promise<Machine> {
    const timeoutMs = options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    const started = performance.now();
    const deadline = started + timeoutMs; // counted from THIS call (CP#269)
    const strategy = convergenceStrategyFor(options.convergenceOptions);
    const ref = this.#reference(spec);
    if (!ref) {
      if (!ah.shouldPerformActions) {
        // CP#143: in why-run, allocate was only planned; say what ready would do instead of crashing.
        await ah.performAction(`deploy ${spec.name}, PXE-boot it and wait for SSH (up to ${Math.round(timeoutMs / 1000)} s)`, () => undefined);
        return new PlannedMachine(spec, strategy);
      }
      throw new BootrackError('ENTRY_NOT_FOUND', `${spec.name} has no allocation recorded; allocate it first`, { name: spec.name });
    }
    const view = await this.#find(ref.machineId);
    if (!view || !OWNED.has(view.state)) {
      throw new BootrackError('NOT_OWNER', `${spec.name}: machine ${ref.machineId} ${view ? `is ${view.state}, no longer allocated to us` : 'is gone'}; run allocate again`, { machineId: ref.machineId, state: view?.state });
    }
    const privateKey = await this.getPrivateKey(ref.bootstrapKey);
    const sinceId = (await this.api.events(ref.machineId, { limit: 1 })).at(-1)?.id ?? 0;
    // Pre-flight: ask the BMC first. A refused login or a dead BMC fails HERE, promptly and with the
    // BMC's own code, before the machine changes state (not 30 minutes later as a generic timeout).
    const power = await this.#powerCall(spec, ref, 'read the power state', () => this.api.powerState(ref.machineId)).catch((err: unknown) => {
      if (isBootrackError(err, 'POWER_NOT_CONFIGURED')) return 'unknown' as const;
      throw err;
    });
    const deployed = view.state === 'deployed' && view.sshHostKey !== null && view.ipAddresses.length > 0;
    let upAlready = false;
    let requireFresh = false;
    if (deployed && power !== 'off') {
      upAlready = true;
      ah.reportProgress(`machine ${ref.machineId} is already deployed (power ${power}); not rebooting it`);
    } else if (deployed && view.bootProfile?.kind === 'image') {
      // Stopped (stopMachine) with its OS on disk: power it on; netboot sends a deployed box to its
      // disk. Its host key may change, so only a NEW ssh_ready counts.
      requireFresh = true;
      await ah.performAction(`power on ${ref.machineId} (deployed but off) and PXE-boot it`, () =>
        this.#powerCall(spec, ref, 'power it on into PXE', async () => {
          await this.api.setBootDevice(ref.machineId, 'pxe', false);
          await this.api.power(ref.machineId, 'on');
        }),
      );
    } else {
      // allocated / failed_deployment: a first deploy or a retry.
      // deployed but off, ephemeral profile: the OS lived in RAM and went with the power, and
      // netboot sends a `deployed` box to its (empty) disk — so powering on alone would hang in
      // firmware (seen in the lab). Deploy again (deployed → deploying) and PXE-boot it.
      // deploying: an EARLIER ready started a deploy and did not see it through (its caller failed
      // or was killed, the BMC refused the cycle, the appliance restarted mid-boot). Nothing tells us
      // whether that boot is still alive: it may sit in firmware after a failed PXE, or never have
      // started. Waiting on it could burn the whole deadline, so we deploy again (the API accepts
      // deploying → deploying: it stores this call's profile and clears any host key) and
      // power-cycle: one extra boot at most, and the result is always a box booted from THIS call's
      // profile and key. After a redeploy only an ssh_ready reported from now on counts
      // (requireFresh), so a late report from an abandoned boot cannot pass for this one.
      requireFresh = view.state !== 'allocated';
      const why = view.state === 'deploying' ? ' (an earlier deploy was left unfinished; starting it over)' : deployed ? ' (it was deployed in memory but is powered off: that OS is gone)' : '';
      const how = power === 'off' ? 'power on' : 'power cycle';
      await ah.performAction(`deploy ${ref.machineId} with bootstrap key "${ref.bootstrapKey}", set boot device pxe, ${how}${why}`, async () => {
        await this.api.deploy(ref.machineId, [publicKeyLine(privateKey)], options.profile);
        await this.#powerCall(spec, ref, `${how} it into PXE`, async () => {
          await this.api.setBootDevice(ref.machineId, 'pxe', false);
          await this.api.power(ref.machineId, power === 'off' ? 'on' : 'cycle');
        });
      });
    }
    if (!ah.shouldPerformActions) return new PlannedMachine(spec, strategy);
    const up = upAlready ? view : await this.#waitForSshReady(ah, ref, { sinceId, requireFresh, deadline, timeoutMs, pollMs: options.pollIntervalMs ?? 5000 });
    const transport = this.#transport(up, privateKey, options);
    await waitForSsh(transport, { ah, timeoutMs: Math.max(1, deadline - performance.now()), intervalMs: Math.min(options.pollIntervalMs ?? 2000, 2000), attemptTimeoutMs: options.connectTimeoutMs ?? 10_000, progressBase: { start: started, totalMs: timeoutMs } });
    return new UnixMachine(spec, transport, strategy);
  }

  /**
   * Polls the boot timeline (its verdict), the events since our deploy and the machine, until the
   * agent reported SSH ready (the machine is `deployed`, or an ssh_ready event arrived; only the
   * event when `requireFresh`) with a host key and the machine has an IP. Bounded by the deadline of
   * the ready call and a poll count. The appliance going away meanwhile (a restart, an upgrade, a
   * proxy hiccup) is not the machine failing: the box keeps booting and its agent retries its
   * reports, so unreachable-appliance errors are reported as progress and polling goes on until the
   * deadline, whose error then names the outage.
   */
  async #waitForSshReady(ah: ActionHandler, ref: PxeReference, w: { sinceId: number; requireFresh: boolean; deadline: number; timeoutMs: number; pollMs: number }): Promise<MachineView> {
    const { sinceId, deadline, timeoutMs, pollMs } = w;
    const start = performance.now();
    let seen = sinceId;
    let sawReady = false;
    let verdict = '';
    let last: MachineView | undefined;
    let lastReport = start;
    let outage: { since: number; error: Error } | undefined;
    const drainEvents = async (): Promise<void> => {
      for (const event of await this.api.events(ref.machineId, { since: seen })) {
        if (event.id <= seen) continue;
        seen = event.id;
        if (isSshReadyEvent(event)) sawReady = true;
        const line = describeEvent(event);
        if (line) ah.reportProgress(line);
      }
    };
    const pollOnce = async (): Promise<MachineView | undefined> => {
      const boot = (await this.api.timeline(ref.machineId)).boots.at(-1);
      if (boot && boot.verdict !== verdict) {
        verdict = boot.verdict;
        ah.reportProgress(`boot: ${verdict}`);
      }
      await drainEvents();
      last = await this.api.getMachine(ref.machineId);
      if ((sawReady || (!w.requireFresh && last.state === 'deployed')) && last.sshHostKey && last.ipAddresses.length > 0) {
        await drainEvents(); // report what happened between the two reads, ssh_ready included
        return last;
      }
      if (last.state === 'failed_deployment' || last.state === 'broken') {
        throw new BootrackError('DRIVER_API_ERROR', `machine ${ref.machineId} went to ${last.state} while deploying${verdict ? ` (boot: ${verdict})` : ''}`, { machineId: ref.machineId, state: last.state });
      }
      return undefined;
    };
    const maxPolls = Math.ceil(timeoutMs / Math.max(10, pollMs)) + 2;
    for (let poll = 0; poll < maxPolls && performance.now() < deadline; poll++) {
      let up: MachineView | undefined;
      try {
        up = await pollOnce();
      } catch (err) {
        if (!isApplianceUnreachable(err)) throw err;
        if (!outage) ah.reportProgress(`the appliance is not answering (${err.message}); the machine keeps booting, still waiting`);
        outage = { since: outage?.since ?? performance.now(), error: err };
        await sleep(Math.max(0, Math.min(pollMs, deadline - performance.now())));
        continue;
      }
      if (outage) {
        ah.reportProgress(`the appliance answers again after ${Math.round((performance.now() - outage.since) / 1000)} s`);
        outage = undefined;
      }
      if (up) return up;
      if (poll === 0 || performance.now() - lastReport >= PROGRESS_EVERY_MS) {
        lastReport = performance.now();
        ah.reportProgress(`waiting for the agent to report SSH ready ${Math.round((lastReport - start) / 1000)} s / ${Math.round(timeoutMs / 1000)} s`);
      }
      await sleep(Math.max(0, Math.min(pollMs, deadline - performance.now())));
    }
    const down = outage ? `; the appliance has not answered for the last ${Math.round((performance.now() - outage.since) / 1000)} s: ${outage.error.message}` : '';
    throw new BootrackError(
      'TIMEOUT',
      `machine ${ref.machineId} did not report SSH ready with a host key and an IP within ${Math.round(timeoutMs / 1000)} s (state ${last?.state ?? 'unknown'}, IPs ${last?.ipAddresses.join(',') || 'none'}${verdict ? `, boot: ${verdict}` : ''})${down}`,
      { machineId: ref.machineId, state: last?.state, verdict, ...(outage ? { applianceUnreachable: true } : {}) },
    );
  }

  /**
   * Runs a power call through the API; a BMC or power failure is rethrown with ITS code (the API's
   * BMC_AUTH_FAILED, BMC_UNREACHABLE, …) and a message that says which machine, what we tried, what
   * the BMC said and what to fix, instead of a bare "PUT …/boot-device → 502".
   */
  async #powerCall<T>(spec: MachineSpec, ref: PxeReference, what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!isBootrackError(err) || !POWER_ADVICE[err.code]) throw err;
      const bmc = err.message.replace(/^\S+ \S+ → \d+: /, '');
      throw new BootrackError(err.code, `${spec.name}: could not ${what} (machine ${ref.machineId}): ${POWER_ADVICE[err.code]!.replace('<id>', ref.machineId)} — ${bmc}`, { ...err.details, machineId: ref.machineId, name: spec.name }, { cause: err });
    }
  }

  #transport(view: MachineView, privateKey: string, options: PxeMachineOptions): SshTransport {
    const username = options.sshUsername ?? 'root';
    const sudo = options.sudo ?? username !== 'root';
    return new SshTransport(
      { host: view.ipAddresses[0]!, port: options.sshPort ?? 22, username, privateKey, hostKey: view.sshHostKey ?? '', ...(options.connectTimeoutMs ? { connectTimeoutMs: options.connectTimeoutMs } : {}) },
      { ...(sudo ? { prefix: 'sudo ' } : {}), logger: this.logger },
    );
  }

  async connectToMachine(spec: MachineSpec, options: PxeMachineOptions): Promise<Machine> {
    const ref = this.#reference(spec);
    if (!ref) throw new BootrackError('ENTRY_NOT_FOUND', `${spec.name} has no allocation recorded`, { name: spec.name });
    const view = await this.api.getMachine(ref.machineId);
    if (!view.sshHostKey || view.ipAddresses.length === 0) {
      throw new BootrackError('SSH_CONNECT_FAILED', `machine ${ref.machineId} has no ${view.sshHostKey ? 'IP address' : 'reported SSH host key'} yet (state ${view.state}); ready it first`, { machineId: ref.machineId, state: view.state });
    }
    return new UnixMachine(spec, this.#transport(view, await this.getPrivateKey(ref.bootstrapKey), options), convergenceStrategyFor(options.convergenceOptions));
  }

  async stopMachine(ah: ActionHandler, spec: MachineSpec, _options?: PxeMachineOptions): Promise<void> {
    const ref = this.#reference(spec);
    if (!ref) return ah.reportProgress(`${spec.name} is not allocated; nothing to stop`);
    const power = await this.api.powerState(ref.machineId).catch(() => 'unknown' as const);
    if (power === 'off') return ah.reportProgress(`machine ${ref.machineId} is already off; nothing to do`);
    await ah.performAction(`power off machine ${ref.machineId}`, () => this.api.power(ref.machineId, 'off'));
  }

  async destroyMachine(ah: ActionHandler, spec: MachineSpec, _options?: PxeMachineOptions): Promise<void> {
    const ref = this.#reference(spec);
    if (!ref) return ah.reportProgress(`${spec.name} is not allocated; nothing to destroy`);
    await ah.performAction(`power off and release machine ${ref.machineId}`, async () => {
      try {
        await this.api.power(ref.machineId, 'off');
      } catch (err) {
        if (!isBootrackError(err, 'MACHINE_NOT_FOUND') && !isBootrackError(err, 'POWER_NOT_CONFIGURED')) throw err;
        ah.reportProgress(`power off skipped: ${(err as Error).message}`);
      }
      try {
        await this.api.release(ref.machineId);
      } catch (err) {
        if (!isBootrackError(err, 'MACHINE_NOT_FOUND') && !isBootrackError(err, 'NOT_OWNER')) throw err;
        ah.reportProgress(`release skipped: ${(err as Error).message}`);
      }
      spec.reference = undefined;
    });
    if (!spec.reference) await spec.save(ah);
  }
}
