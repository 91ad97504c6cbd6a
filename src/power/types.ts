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
}

/**
 * The contract every power driver keeps:
 * - each call settles within the driver's configured bound (never hangs);
 * - failures reject with a BootrackError whose code is one of BMC_AUTH_FAILED, BMC_UNREACHABLE,
 *   BMC_BUSY, BMC_UNSUPPORTED, BMC_ERROR — including failures a tool reports with exit code 0;
 * - `status` returns 'unknown' only when the method cannot observe power (Wake-on-LAN, manual);
 * - `on` on a machine that is on, and `off` on one that is off, succeed without effect;
 * - `setNextBoot` with persistent=false applies to the next boot only.
 */
export interface PowerDriver {
  readonly type: string;
  status(target: PowerTarget): Promise<PowerState>;
  act(target: PowerTarget, action: PowerAction): Promise<void>;
  setNextBoot(target: PowerTarget, device: BootDevice, options: { persistent: boolean }): Promise<void>;
}

/** What the API and the provisioning flow use: machine references in, registry events written. */
export interface PowerControl {
  status(machineRef: string, actor: string): Promise<PowerState>;
  act(machineRef: string, action: PowerAction, actor: string): Promise<void>;
  setNextBoot(machineRef: string, device: BootDevice, persistent: boolean, actor: string): Promise<void>;
}
