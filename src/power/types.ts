import type { BootrackError } from '../common/errors.js';
import type { PowerCredentials, PowerState } from '../registry/index.js';

export type BootDevice = 'pxe' | 'disk';
export type PowerAction = 'on' | 'off' | 'cycle' | 'reset' | 'soft_off';

/** What a driver needs to reach one BMC. Credentials arrive decrypted and must never be logged. */
export interface PowerTarget {
  /** Machine id, for logs and events only. */
  machineId: string;
  address: string | null;
  credentials: PowerCredentials | null;
  options: Record<string, unknown>;
  /** The machine's MACs, boot interface first (Wake-on-LAN needs them). */
  macs?: readonly string[];
}

/** Per machine id: the observed state, or the typed error that prevented observing it. */
export type StatusBatch = Map<string, PowerState | BootrackError>;

/**
 * The contract every power driver keeps:
 * - each call settles within the driver's configured bound (never hangs);
 * - failures reject with a BootrackError whose code is one of BMC_AUTH_FAILED, BMC_UNREACHABLE,
 *   BMC_BUSY, BMC_UNSUPPORTED, BMC_ERROR — including failures a tool reports with exit code 0;
 * - `status` returns 'unknown' only when the method cannot observe power (Wake-on-LAN, manual);
 * - `on` on a machine that is on, and `off` on one that is off, succeed without effect;
 * - `setNextBoot` with persistent=false applies to the next boot only;
 * - `cycle`/`reset` of a machine that is off powers it on (ipmipower --on-if-off semantics);
 * - a method the driver cannot perform (WoL off, manual boot device) rejects BMC_UNSUPPORTED;
 * - no driver serializes or retries: the PowerControl service holds one command per BMC at a time
 *   and retries BMC_BUSY with backoff.
 */
export interface PowerDriver {
  readonly type: string;
  status(target: PowerTarget): Promise<PowerState>;
  act(target: PowerTarget, action: PowerAction): Promise<void>;
  setNextBoot(target: PowerTarget, device: BootDevice, options: { persistent: boolean }): Promise<void>;
  /**
   * Optional: the status of many targets in as few BMC round trips/processes as the method allows
   * (ipmipower takes a host list). Never rejects; each target gets its state or its error.
   */
  statusMany?(targets: readonly PowerTarget[]): Promise<StatusBatch>;
}

/** What the API and the provisioning flow use: machine references in, registry events written. */
export interface PowerControl {
  status(machineRef: string, actor: string): Promise<PowerState>;
  act(machineRef: string, action: PowerAction, actor: string): Promise<void>;
  setNextBoot(machineRef: string, device: BootDevice, persistent: boolean, actor: string): Promise<void>;
}
