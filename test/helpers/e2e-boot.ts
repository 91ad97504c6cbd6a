import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, type Lab, type Vm } from './e2e-lab.js';

/** The discovery agent's facts as the registry stores them (the API's FactsRequest.facts). */
export interface FactsView {
  cpu: { model: string; sockets: number; cores: number; threads: number };
  memoryMib: number;
  disks: Array<{ name: string; sizeBytes: number; model: string | null; serial: string | null; rotational: boolean }>;
  nics: Array<{ mac: string; driver: string | null; link: boolean; speedMbps: number | null }>;
  dmi: { vendor: string | null; product: string | null; serial: string | null; uuid: string | null };
  firmware: string;
  arch: string;
}

/** The parts of the API's MachineView these tests read. */
export interface MachineView {
  id: string;
  name: string;
  state: string;
  arch: string | null;
  firmware: string | null;
  cpuCount: number | null;
  memoryMib: number | null;
  diskGib: number | null;
  facts: FactsView;
  interfaces: Array<{ mac: string; boot: boolean }>;
  sshHostKey: string | null;
  ipAddresses: string[];
  power: { type: string | null; state: string };
  owner: string | null;
}

export interface TimelineView {
  machine: { id: string; macs: string[] };
  boots: Array<{ reached: string; stalledAt: string | null; verdict: string; startedAt: string; endedAt: string; steps: Array<{ at: string; kind: string; type: string; summary: string; data: Record<string, unknown> }> }>;
}

export async function machineByMac(lab: Lab, mac: string): Promise<MachineView | null> {
  const r = await lab.api<{ items: MachineView[] }>('GET', `/machines?mac=${encodeURIComponent(mac)}`);
  if (r.status !== 200) throw new Error(`GET /machines?mac=${mac}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.items[0] ?? null;
}

export async function timeline(lab: Lab, ref: string): Promise<TimelineView> {
  const r = await lab.api<TimelineView>('GET', `/machines/${encodeURIComponent(ref)}/timeline`);
  if (r.status !== 200) throw new Error(`timeline of ${ref}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A failure message that says where the boot stood: serial tail, timeline verdict, daemon log tail. */
async function diagnose(lab: Lab, vm: Vm, err: Error): Promise<Error> {
  let tl = '';
  try {
    const m = await machineByMac(lab, vm.mac);
    if (m) tl = JSON.stringify((await timeline(lab, m.id)).boots.map((b) => ({ reached: b.reached, verdict: b.verdict, steps: b.steps.map((s) => s.summary) })), null, 1);
  } catch (e) {
    tl = `(timeline unavailable: ${(e as Error).message})`;
  }
  const serial = vm.serialLog().replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  return new Error(`${vm.spec.name} (${vm.mac}): ${err.message}\n--- timeline ---\n${tl}\n--- serial tail ---\n${serial.slice(-2500)}\n--- bootrack log tail ---\n${lab.daemonLog().slice(-2500)}`);
}

/**
 * Waits until the VM's machine record says the discovery OS is up: facts stored, SSH host key
 * reported, a lease held. Returns the record and the seconds from QEMU start.
 */
export async function waitEnlisted(lab: Lab, vm: Vm, timeoutMs: number, want: (m: MachineView) => boolean = (m) => m.sshHostKey !== null && m.cpuCount !== null): Promise<{ machine: MachineView; seconds: number }> {
  try {
    const machine = await waitFor(
      `${vm.spec.name} to enlist and report ssh_ready`,
      async () => {
        if (vm.exited()) throw new Error('QEMU exited');
        const m = await machineByMac(lab, vm.mac);
        return m && m.ipAddresses.length > 0 && want(m) ? m : null;
      },
      timeoutMs,
      1000,
    );
    return { machine, seconds: (Date.now() - vm.startedAt) / 1000 };
  } catch (err) {
    throw await diagnose(lab, vm, err as Error);
  }
}

/** ssh root@ip with the operator key, trusting ONLY `hostKey` (the key the agent reported). */
export function sshPinned(lab: Lab, ip: string, hostKey: string, cmd: string, timeoutMs = 60_000): { status: number | null; stdout: string; stderr: string } {
  const knownHosts = join(lab.work, `known_hosts-${ip}`);
  writeFileSync(knownHosts, `${ip} ${hostKey}\n`);
  const r = spawnSync(
    'ssh',
    ['-i', lab.sshKey, '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=20', '-o', 'LogLevel=ERROR', `root@${ip}`, cmd],
    { encoding: 'utf8', timeout: timeoutMs },
  );
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Seconds from QEMU start to each first step of the newest boot, for the report. */
export function stepTimes(tl: TimelineView, vm: Vm): Record<string, number> {
  const boot = tl.boots.at(-1);
  const out: Record<string, number> = {};
  for (const s of boot?.steps ?? []) {
    const key = `${s.kind}:${s.type}`;
    if (!(key in out)) out[key] = Math.round((Date.parse(s.at) - vm.startedAt) / 100) / 10;
  }
  return out;
}
