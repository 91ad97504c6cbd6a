import type { Mac } from '../common/mac.js';
import type { MachineState } from './lifecycle.js';
import type { BootProfile, Firmware, Machine, PowerState } from './types.js';

export interface MachineRow {
  id: string;
  name: string;
  state: string;
  arch: string | null;
  firmware: string | null;
  tags: string;
  facts: string;
  cpu_count: number | null;
  memory_mib: number | null;
  disk_gib: number | null;
  power_type: string | null;
  power_address: string | null;
  power_options: string;
  power_secret: string | null;
  power_state: string;
  power_checked_at: number | null;
  owner: string | null;
  allocation_key: string | null;
  allocated_at: number | null;
  boot_profile: string | null;
  ssh_host_key: string | null;
  created_at: number;
  updated_at: number;
  state_changed_at: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Row → public record. power_secret is reduced to a boolean here, so no caller can leak it. */
export function toMachine(row: MachineRow, interfaces: Array<{ mac: string; name: string | null; boot: number }>): Machine {
  return {
    id: row.id,
    name: row.name,
    state: row.state as MachineState,
    arch: row.arch,
    firmware: row.firmware as Firmware | null,
    tags: JSON.parse(row.tags) as string[],
    facts: JSON.parse(row.facts) as Record<string, unknown>,
    cpuCount: row.cpu_count,
    memoryMib: row.memory_mib,
    diskGib: row.disk_gib,
    interfaces: interfaces.map((i) => ({ mac: i.mac as Mac, name: i.name, boot: i.boot === 1 })),
    power: {
      type: row.power_type,
      address: row.power_address,
      options: JSON.parse(row.power_options) as Record<string, unknown>,
      hasCredentials: row.power_secret !== null,
      state: row.power_state as PowerState,
      checkedAt: iso(row.power_checked_at),
    },
    owner: row.owner,
    allocationKey: row.allocation_key,
    allocatedAt: iso(row.allocated_at),
    bootProfile: row.boot_profile === null ? null : (JSON.parse(row.boot_profile) as BootProfile),
    sshHostKey: row.ssh_host_key,
    createdAt: iso(row.created_at)!,
    updatedAt: iso(row.updated_at)!,
    stateChangedAt: iso(row.state_changed_at)!,
  };
}
