import type { PowerState } from '../../registry/index.js';
import type { BootDevice, PowerAction, PowerDriver, PowerTarget } from '../types.js';

/** Where the manual driver records what it asks a human to do. */
export type ManualRequestSink = (request: { machineId: string; what: 'power'; action: PowerAction } | { machineId: string; what: 'boot_device'; device: BootDevice; persistent: boolean }) => void;

/**
 * No power control at all: each request is recorded as an event (kind 'power', type
 * 'manual_request') for the operator, and the request is satisfied when the operator acts or the
 * machine checks in over DHCP/agent. Status is 'unknown'.
 */
export class ManualDriver implements PowerDriver {
  readonly type = 'manual';
  readonly #record: ManualRequestSink;

  constructor(record: ManualRequestSink) {
    this.#record = record;
  }

  async status(): Promise<PowerState> {
    return 'unknown';
  }

  async act(target: PowerTarget, action: PowerAction): Promise<void> {
    this.#record({ machineId: target.machineId, what: 'power', action });
  }

  async setNextBoot(target: PowerTarget, device: BootDevice, options: { persistent: boolean }): Promise<void> {
    this.#record({ machineId: target.machineId, what: 'boot_device', device, persistent: options.persistent });
  }
}
