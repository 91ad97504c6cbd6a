import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, run, waitFor, type Lab, type Vm } from './e2e-lab.js';

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

export interface BmcBoxSpec {
  /** 1..9: VM name brke2-bmcvm<idx>, SMBIOS serial BRKE2-BMC-<idx>. */
  idx: number;
  mac: string;
  /** Tap on the lab bridge (≤ 15 chars). */
  tap: string;
  /** Where ipmi_sim listens inside the namespace (any 127/8 address: each BMC its own, as on a real BMC network). */
  bmcAddress: string;
  bmcPort: number;
  qmpPort: number;
  user: string;
  password: string;
}

/** An OpenIPMI ipmi_sim BMC whose chassis program (e2e-chassis.sh) powers a PXE-bootable QEMU VM. */
export interface BmcBox {
  spec: BmcBoxSpec;
  dir: string;
  /** The VM's pid while it is powered on (and not being stopped), else null. */
  vmPid(): number | null;
  /** How many times the BMC powered the VM on. */
  powerOns(): number;
  /** Epoch seconds of each power on. */
  powerOnTimes(): number[];
  /** The boot device the BMC holds (pxe after a driver ready). */
  bootdev(): string;
  serialTail(): string;
}

/**
 * Starts the BMC for one box: a qcow2 disk, a tap on the lab bridge, vm.env for the chassis program,
 * lan.conf (MD5 auth, one admin user) and the emulator file; ipmi_sim runs in the lab namespace (the
 * lab stops it; the QEMU it starts is setsid'd and is killed with the namespace). The VM starts OFF.
 */
export async function startBmcBox(lab: Lab, spec: BmcBoxSpec): Promise<BmcBox> {
  const dir = join(lab.work, `bmc${spec.idx}`);
  const vmName = `brke2-bmcvm${spec.idx}`;
  mkdirSync(join(dir, 'state'), { recursive: true });
  run('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'disk.qcow2'), String(2 * 1024 ** 3)]);
  for (const args of [['ip', 'tuntap', 'add', 'dev', spec.tap, 'mode', 'tap'], ['ip', 'link', 'set', spec.tap, 'master', lab.bridge], ['ip', 'link', 'set', spec.tap, 'up']]) run('ip', ['netns', 'exec', lab.ns, ...args]);
  const uuid = `e2e0b3c0-0000-4000-8000-${spec.idx.toString(16).padStart(12, '0')}`;
  writeFileSync(join(dir, 'vm.env'), `VM_NAME=${vmName}\nQMPPORT=${spec.qmpPort}\nMEM=512\nCPUS=1\nTAP=${spec.tap}\nMAC=${spec.mac}\nDISK=${join(dir, 'disk.qcow2')}\nSMBIOS=type=1,manufacturer=BootrackE2E,product=BmcNode,serial=BRKE2-BMC-${spec.idx},uuid=${uuid}\n`);
  writeFileSync(
    join(dir, 'lan.conf'),
    [
      `name "brke2bmc${spec.idx}"`, 'set_working_mc 0x20', '  startlan 1', `    addr ${spec.bmcAddress} ${spec.bmcPort}`, '    priv_limit admin',
      '    allowed_auths_callback md5', '    allowed_auths_user md5', '    allowed_auths_operator md5', '    allowed_auths_admin md5',
      `    guid a1b2c3d4e5f60718293a4b5c6d7ee2e${spec.idx}`, '  endlan', `  chassis_control "${join(REPO, 'test/helpers/e2e-chassis.sh')} ${dir}"`,
      `  user 2 true "${spec.user}" "${spec.password}" admin 10 md5`, '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'bmc.emu'), ['mc_setbmc 0x20', 'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02', 'sel_enable 0x20 1000 0x0a', 'mc_enable 0x20', ''].join('\n'));
  lab.spawn(['ipmi_sim', '-c', join(dir, 'lan.conf'), '-f', join(dir, 'bmc.emu'), '-s', join(dir, 'state'), '-n'], `ipmi_sim${spec.idx}.log`);
  const bound = `${spec.bmcAddress}:${spec.bmcPort}`;
  await waitFor(`ipmi_sim ${spec.idx} to bind ${bound}`, () => run('ip', ['netns', 'exec', lab.ns, 'ss', '-Hlun', `sport = :${spec.bmcPort}`]).includes(bound), 15_000, 200);
  const read = (f: string): string => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').trim() : '');
  const powerOnTimes = (): number[] => read('power-on.log').split('\n').filter(Boolean).map(Number);
  return {
    spec,
    dir,
    vmPid: () => {
      try {
        const pid = Number(read('qemu.pid'));
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(`\0${vmName}\0`) && read('stopping') !== String(pid) ? pid : null;
      } catch {
        return null;
      }
    },
    powerOns: () => powerOnTimes().length,
    powerOnTimes,
    bootdev: () => read('bootdev'),
    serialTail: () => (existsSync(join(dir, 'serial.log')) ? readFileSync(join(dir, 'serial.log'), 'latin1').replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').slice(-2500) : ''),
  };
}
