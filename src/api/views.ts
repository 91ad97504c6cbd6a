import type { EventRecord, Machine, Registry } from '../registry/index.js';

export type MachineView = Machine & { ipAddresses: string[] };

/**
 * The registry Machine plus the addresses its MACs hold on active leases. `activeIps` (from
 * leases.activeIpsByMac) lets a list build every view from one pass over the leases.
 */
export function machineView(registry: Registry, machine: Machine, activeIps: Map<string, string[]> = registry.leases.activeIpsByMac()): MachineView {
  const ips = new Set<string>();
  for (const nic of machine.interfaces) for (const ip of activeIps.get(nic.mac) ?? []) ips.add(ip);
  return { ...machine, ipAddresses: [...ips].sort() };
}

/**
 * Events of a machine: its id OR any of its MACs (what happened before it was enlisted counts too).
 * The registry query takes one MAC, so each MAC is asked and the rows merged by id.
 */
export function machineEvents(registry: Registry, machine: Machine, options: { sinceId?: number; limit?: number } = {}): EventRecord[] {
  const limit = options.limit ?? 500;
  const byId = new Map<number, EventRecord>();
  const macs = machine.interfaces.map((i) => i.mac);
  const batches = macs.length
    ? macs.map((mac) => registry.events.list({ machineId: machine.id, mac, sinceId: options.sinceId, limit }))
    : [registry.events.list({ machineId: machine.id, sinceId: options.sinceId, limit })];
  for (const batch of batches) for (const e of batch) byId.set(e.id, e);
  return [...byId.values()].sort((a, b) => a.id - b.id).slice(-limit);
}
