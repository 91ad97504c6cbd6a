import type { Mac } from '../common/mac.js';
import type { MachineState } from './lifecycle.js';

export type PowerState = 'on' | 'off' | 'unknown' | 'error';
export type Firmware = 'bios' | 'uefi';

export interface NetInterface {
  mac: Mac;
  name: string | null;
  /** The interface the machine PXE-boots from. */
  boot: boolean;
}

/** Power settings as anyone may see them: credentials never leave the registry except through getPowerCredentials. */
export interface PowerSettings {
  type: string | null;
  address: string | null;
  options: Record<string, unknown>;
  hasCredentials: boolean;
  state: PowerState;
  checkedAt: string | null;
}

export interface PowerCredentials {
  username?: string;
  password?: string;
}

/** What a deploy boots: kernel + initrd + cmdline today, an image-to-disk deploy fits beside it later. */
export interface BootProfile {
  kind: 'ephemeral' | 'image';
  sshPublicKeys: string[];
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  image?: string;
}

export interface Machine {
  id: string;
  name: string;
  state: MachineState;
  arch: string | null;
  firmware: Firmware | null;
  tags: string[];
  facts: Record<string, unknown>;
  cpuCount: number | null;
  memoryMib: number | null;
  diskGib: number | null;
  interfaces: NetInterface[];
  power: PowerSettings;
  owner: string | null;
  allocationKey: string | null;
  allocatedAt: string | null;
  bootProfile: BootProfile | null;
  sshHostKey: string | null;
  createdAt: string;
  updatedAt: string;
  stateChangedAt: string;
}

export interface MachineInput {
  name?: string;
  macs: string[];
  arch?: string | null;
  firmware?: Firmware | null;
  tags?: string[];
  state?: 'new' | 'ready';
}

export interface MachinePatch {
  name?: string;
  arch?: string | null;
  firmware?: Firmware | null;
  tags?: string[];
}

export interface MachineFilter {
  state?: MachineState;
  owner?: string;
  tag?: string;
  arch?: string;
  mac?: string;
  limit?: number;
}

/** Allocation constraints; every given one must hold (MAAS `machines allocate`). */
export interface Constraints {
  name?: string;
  mac?: string;
  arch?: string;
  minCpus?: number;
  minMemoryMib?: number;
  minDiskGib?: number;
  tags?: string[];
  notTags?: string[];
}

export type EventKind = 'state' | 'dhcp' | 'tftp' | 'http' | 'agent' | 'power' | 'audit';

export interface EventInput {
  machineId?: string | null;
  mac?: string | null;
  kind: EventKind;
  type: string;
  actor: string;
  fromState?: string | null;
  toState?: string | null;
  reason?: string | null;
  data?: Record<string, unknown>;
}

export interface EventRecord {
  id: number;
  at: string;
  machineId: string | null;
  mac: string | null;
  kind: EventKind;
  type: string;
  actor: string;
  fromState: string | null;
  toState: string | null;
  reason: string | null;
  data: Record<string, unknown>;
}

export interface Actor {
  /** Who did it: `admin:<token name>`, `driver:<owner>`, `dhcp`, `agent:<machine>`, `system`. */
  actor: string;
  reason?: string;
}
