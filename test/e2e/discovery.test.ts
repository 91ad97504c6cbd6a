import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { machineByMac, sshPinned, stepTimes, timeline, waitEnlisted, type MachineView } from '../helpers/e2e-boot.js';
import { startLab, type Lab, type Vm, type VmSpec } from '../helpers/e2e-lab.js';
import { requirePeerTools, startBmcSim, startLldpSwitch, type BmcSim, type LldpSwitch } from '../helpers/image-peers.js';
import { ensureDiscoveryImage } from '../helpers/image-shared.js';

/**
 * Issue 7 end to end, bootrack ALONE: unknown QEMU VMs PXE-boot from `bootrack serve` (DHCP full mode,
 * TFTP, boot HTTP, API) in netns brke2-disc (no dnsmasq, no busybox httpd), run the discovery OS, and
 * enlist themselves with their hardware facts. Three VMs boot at once, with both firmware paths:
 *  - SeaBIOS + QEMU's iPXE option ROM: DHCP → HTTP script → kernel + initrd → discovery OS;
 *  - OVMF's own PXE (no iPXE ROM): DHCP → TFTP ipxe.efi → iPXE DHCP → HTTP → discovery OS.
 * The same boot proves the LLDP and BMC facts with real peers: Debian's lldpd advertises on the lab
 * bridge (every VM hears it), and bios-a has a KCS BMC, QEMU's ipmi-bmc-extern wired to OpenIPMI's
 * ipmi_sim whose LAN address ipmitool set; the agent's bootrack-probe reads both.
 * TCG only (KVM does not work on this host); timeouts are generous, nothing asserts wall-clock time.
 */
const GiB = 1024 ** 3;
const SPECS: VmSpec[] = [
  { name: 'bios-a', idx: 1, firmware: 'bios', cpus: 2, memMib: 512, diskBytes: 2 * GiB, serial: 'BRKE2-BIOS-A', uuid: 'e2e0b105-0000-4000-8000-00000000000a' },
  { name: 'uefi-b', idx: 2, firmware: 'uefi-native', cpus: 1, memMib: 512, diskBytes: 1 * GiB, serial: 'BRKE2-UEFI-B', uuid: 'e2e0ef10-0000-4000-8000-00000000000b' },
  { name: 'bios-c', idx: 3, firmware: 'bios', cpus: 1, memMib: 512, diskBytes: 3 * GiB, serial: 'BRKE2-BIOS-C', uuid: 'e2e0b105-0000-4000-8000-00000000000c' },
];
const BOOT_TIMEOUT_MS = 900_000;

const SWITCH_NAME = 'brke2-disc-tor1';
const BMC = { lanPort: 16623, address: '10.231.0.77', mac: '02:42:e2:e0:07:77' };
const WITH_BMC = 'bios-a';

let lab: Lab;
let lldpSwitch: LldpSwitch;
let bmc: BmcSim;
const vms: Vm[] = [];
const enlisted = new Map<string, { machine: MachineView; seconds: number }>();

beforeAll(async () => {
  requirePeerTools();
  const { dir } = await ensureDiscoveryImage();
  lab = await startLab({ ns: 'brke2-disc', octet: 231, imageDir: dir });
  lldpSwitch = await startLldpSwitch(lab, lab.bridge, SWITCH_NAME);
  bmc = await startBmcSim(lab, BMC);
  for (const spec of SPECS) vms.push(lab.startVm(spec.name === WITH_BMC ? { ...spec, extraArgs: bmc.qemuArgs } : spec));
  const results = await Promise.all(vms.map((vm) => waitEnlisted(lab, vm, BOOT_TIMEOUT_MS)));
  results.forEach((r, i) => enlisted.set(vms[i]!.spec.name, r));
  console.info(`discovery e2e (TCG, 3 VMs at once): ${results.map((r, i) => `${vms[i]!.spec.name} ssh_ready after ${r.seconds.toFixed(1)} s`).join(', ')}`);
}, BOOT_TIMEOUT_MS + 300_000);

afterAll(async () => {
  await lab?.close();
  lldpSwitch?.remove();
}, 60_000);

describe('unknown machines PXE-boot from bootrack alone and enlist (SeaBIOS+iPXE, OVMF native PXE)', () => {
  it('three VMs booted at once enlist as three distinct machines with distinct leases', async () => {
    const list = await lab.api<{ items: MachineView[] }>('GET', '/machines');
    expect(list.status).toBe(200);
    const ours = list.body.items.filter((m) => m.interfaces.some((i) => vms.some((v) => v.mac === i.mac)));
    expect(ours).toHaveLength(3);
    expect(new Set(ours.map((m) => m.id)).size).toBe(3);
    expect(new Set(ours.map((m) => m.name)).size).toBe(3);
    const ips = ours.flatMap((m) => m.ipAddresses);
    expect(new Set(ips).size).toBe(3);
    for (const ip of ips) expect(ip).toMatch(/^10\.231\.0\.1\d\d$/);
    const leases = await lab.api<{ items: Array<{ mac: string; ip: string }> }>('GET', '/leases');
    expect(leases.status).toBe(200);
    for (const vm of vms) expect(leases.body.items.some((l) => l.mac === vm.mac)).toBe(true);
  });

  it.each(SPECS.map((s) => [s.name, s] as const))('%s: the registry facts equal what QEMU was given', async (name, spec) => {
    const vm = vms.find((v) => v.spec.name === name)!;
    const m = (await machineByMac(lab, vm.mac))!;
    expect(m.state).toBe('ready');
    expect(m.interfaces).toEqual([{ mac: vm.mac, name: null, boot: true }]);
    expect({ cpuCount: m.cpuCount, memoryMib: m.memoryMib, diskGib: m.diskGib, arch: m.arch, firmware: m.firmware }).toEqual({
      cpuCount: spec.cpus,
      memoryMib: spec.memMib,
      diskGib: spec.diskBytes! / GiB,
      arch: 'amd64',
      firmware: spec.firmware === 'bios' ? 'bios' : 'uefi',
    });
    expect(m.facts.cpu.threads).toBe(spec.cpus);
    expect(m.facts.memoryMib).toBe(spec.memMib);
    expect(m.facts.disks).toEqual([expect.objectContaining({ name: 'vda', sizeBytes: spec.diskBytes })]);
    expect(m.facts.nics).toEqual([expect.objectContaining({ mac: vm.mac, driver: 'virtio_net', link: true })]);
    expect(m.facts.dmi).toEqual({ vendor: 'BootrackE2E', product: 'LabNode', serial: spec.serial, uuid: spec.uuid });
    expect(m.facts.firmware).toBe(spec.firmware === 'bios' ? 'bios' : 'uefi');
    expect(m.sshHostKey).toMatch(/^ssh-ed25519 AAAA[0-9A-Za-z+/=]+$/);
  });

  it.each(SPECS.map((s) => [s.name] as const))('%s: SSH into the discovery OS with the operator key, host key pinned to the one the agent reported', async (name) => {
    const vm = vms.find((v) => v.spec.name === name)!;
    const m = (await machineByMac(lab, vm.mac))!;
    const ip = m.ipAddresses[0]!;
    const ok = sshPinned(lab, ip, m.sshHostKey!, 'uname -sm; cat /sys/class/dmi/id/product_serial; cat /sys/class/net/*/address');
    expect(ok.status, ok.stderr).toBe(0);
    const lines = ok.stdout.trim().split('\n');
    expect(lines[0]).toBe('Linux x86_64');
    expect(lines[1]).toBe(vm.spec.serial);
    expect(lines).toContain(vm.mac);
    // Pinning is real: another host key for the same address is refused.
    const wrong = sshPinned(lab, ip, 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHF0YTjwk4+h1V0p4tFtqA6jPhfbHc3KkR3s9Q6D5m7n', 'true');
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toMatch(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  });

  it.each(SPECS.map((s) => [s.name, s.firmware] as const))('%s: the timeline shows every step of the boot, in order', async (name, firmware) => {
    const vm = vms.find((v) => v.spec.name === name)!;
    const m = (await machineByMac(lab, vm.mac))!;
    const tl = await timeline(lab, m.id);
    const boot = tl.boots.at(-1)!;
    expect(boot.reached).toBe('ssh_ready');
    expect(boot.stalledAt).toBeNull();
    console.info(`${name} timeline (s after QEMU start): ${JSON.stringify(stepTimes(tl, vm))}`);
    const keys = boot.steps.map((s) => `${s.kind}:${s.type}`);
    const firstIndex = (pred: (s: (typeof boot.steps)[number]) => boolean, what: string): number => {
      const i = boot.steps.findIndex(pred);
      expect(i, `${what} on the timeline of ${name}: ${keys.join(' ')}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    const is = (kind: string, type: string) => (s: (typeof boot.steps)[number]) => s.kind === kind && s.type === type;
    const asset = (file: string) => (s: (typeof boot.steps)[number]) => s.kind === 'http' && s.type === 'asset_completed' && String(s.data.asset ?? s.data.path ?? '').endsWith(file);
    const order = [
      firstIndex(is('dhcp', 'discover'), 'DHCP discover'),
      firstIndex(is('dhcp', 'offer'), 'DHCP offer'),
      firstIndex(is('dhcp', 'request'), 'DHCP request'),
      firstIndex(is('dhcp', 'ack'), 'DHCP ack'),
      ...(firmware === 'uefi-native'
        ? [firstIndex((s) => s.kind === 'tftp' && /ipxe\.efi/.test(JSON.stringify(s.data)) && /complete|transfer_completed/.test(`${s.type} ${String(s.data.outcome ?? '')}`), 'TFTP ipxe.efi delivered')]
        : []),
      firstIndex(is('http', 'script_served'), 'iPXE script served'),
      firstIndex(asset('vmlinuz'), 'kernel download'),
      firstIndex(asset('initrd.img'), 'initrd download'),
      firstIndex(is('agent', 'booted'), 'agent booted'),
      firstIndex(is('agent', 'facts_stored'), 'facts stored'),
      firstIndex(is('agent', 'ssh_ready'), 'ssh_ready'),
    ];
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(boot.steps.find(is('http', 'script_served'))!.data).toMatchObject({ script: 'discovery' });
  });
});

describe('LLDP neighbours and the BMC address, from real peers (lldpd, ipmi_sim)', () => {
  it.each(SPECS.map((s) => [s.name] as const))('%s: facts.lldp holds the lab switch exactly as lldpd advertises it', async (name) => {
    const vm = vms.find((v) => v.spec.name === name)!;
    const m = (await machineByMac(lab, vm.mac))!;
    const facts = m.facts as typeof m.facts & { lldp: Array<Record<string, unknown>>; lldpFrames: Record<string, string[]> };
    const lldp = facts.lldp;
    expect(lldp, `serial log tail:\n${vm.serialLog().slice(-2000)}`).toHaveLength(1);
    // lldpd's view now: its port ID is the bridge's MAC, which changed as the VMs' taps joined it
    const now = lldpSwitch.view();
    expect([now.chassisIdType, now.portIdType]).toEqual(['mac', 'mac']);
    expect(lldp[0]).toEqual({
      interface: expect.stringMatching(/^(eth|en)/),
      chassisId: now.chassisId,
      chassisIdSubtype: 'macAddress',
      portId: now.portId,
      portIdSubtype: 'macAddress',
      ttl: 4, // tx-interval 1 s × lldpd's hold multiplier 4
      portDescription: lab.bridge,
      systemName: SWITCH_NAME,
      systemDescription: now.systemDescription,
      capabilities: now.capabilities, // bridge, and router: the lab namespace forwards IPv4
      managementAddresses: expect.arrayContaining([lab.hostIp]),
    });
    // the raw LLDPDUs are kept next to the decoded neighbours
    expect(Object.values(facts.lldpFrames).flat().length).toBeGreaterThanOrEqual(1);
  });

  it(`${WITH_BMC}: facts.bmc is the LAN address and MAC set in ipmi_sim; the VMs without a BMC report null`, async () => {
    for (const vm of vms) {
      const m = (await machineByMac(lab, vm.mac))!;
      const facts = m.facts as typeof m.facts & { bmc: { address: string; mac?: string } | null };
      if (vm.spec.name === WITH_BMC) expect(facts.bmc, `serial log tail:\n${vm.serialLog().slice(-2000)}`).toEqual({ address: bmc.address, mac: bmc.mac });
      else expect(facts.bmc).toBeNull();
    }
    // the agent logs what it found on the console
    expect(vms.find((v) => v.spec.name === WITH_BMC)!.serialLog()).toMatch(new RegExp(`BMC detected \\(smbios-type-38\\): LAN channel 1 address ${bmc.address.replaceAll('.', '\\.')}`));
  });
});

describe('agent endpoint bad input: refused, logged, nothing written', () => {
  /** A synthetic discovery boot: fetch the iPXE script for a MAC (as iPXE would) and take its agent token. */
  async function scriptToken(mac: string): Promise<string> {
    const r = await fetch(`${lab.httpBase}/boot/${mac.replaceAll(':', '-')}.ipxe`, { signal: AbortSignal.timeout(10_000) });
    expect(r.status).toBe(200);
    const token = /bootrack\.token=(\S+)/.exec(await r.text())?.[1];
    expect(token).toBeTruthy();
    return token!;
  }
  const facts = (mac: string, threads = 4) => ({
    mac,
    facts: {
      cpu: { model: 'Synthetic', sockets: 1, cores: threads, threads },
      memoryMib: 2048,
      disks: [{ name: 'sda', sizeBytes: 10 * GiB, model: null, serial: null, rotational: false }],
      nics: [{ mac, driver: 'e1000e', link: true, speedMbps: 1000 }],
      lldp: [],
      dmi: { vendor: 'V', product: 'P', serial: 'S', uuid: null },
      bmc: null,
      firmware: 'bios',
      arch: 'amd64',
    },
  });
  const post = async (token: string | null, body: unknown): Promise<{ status: number; body: { code?: string } }> => {
    const r = await fetch(`${lab.httpBase}/api/v1/agent/facts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: r.status, body: (await r.json()) as { code?: string } };
  };
  const factsOf = async (mac: string) => {
    const m = (await machineByMac(lab, mac))!;
    return { state: m.state, facts: m.facts, cpuCount: m.cpuCount };
  };

  it('a wrong token, another machine\'s token, a garbage body and a replayed token are refused; only the one valid POST is stored', async () => {
    const X = '52:54:00:e7:0a:01';
    const Y = '52:54:00:e7:0a:02';
    const tokenX = await scriptToken(X);
    const tokenY = await scriptToken(Y);
    const before = { x: await factsOf(X), y: await factsOf(Y) };
    expect(before.x).toEqual({ state: 'commissioning', facts: {}, cpuCount: null });

    expect(await post(null, facts(X))).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED' } });
    expect(await post('not-a-real-token', facts(X))).toMatchObject({ status: 401, body: { code: 'UNAUTHENTICATED' } });
    expect(await post(lab.adminToken, facts(X))).toMatchObject({ status: 403 });
    // Y's token speaking for X: refused.
    expect(await post(tokenY, facts(X))).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
    // Garbage: not JSON, JSON of the wrong shape, an unknown field.
    expect(await post(tokenX, '{"facts": nope')).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    expect(await post(tokenX, { facts: { cpu: 'many' } })).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    expect(await post(tokenX, { ...facts(X), extra: true })).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    expect(await factsOf(X)).toEqual(before.x);
    expect(await factsOf(Y)).toEqual(before.y);

    // The one valid POST is stored; replaying the same token is refused and changes nothing.
    expect(await post(tokenX, facts(X, 4))).toMatchObject({ status: 200 });
    const stored = await factsOf(X);
    expect(stored).toMatchObject({ state: 'ready', cpuCount: 4 });
    const replay = await post(tokenX, facts(X, 64));
    expect(replay.status).toBeGreaterThanOrEqual(400);
    expect(replay.body.code).toBe('AGENT_TOKEN_REPLAYED');
    expect(await factsOf(X)).toEqual(stored);
    expect(await factsOf(Y)).toEqual(before.y);

    // Logged: the daemon's log names the refusals, and the replay is an audit event on X.
    const log = lab.daemonLog();
    expect(log).toMatch(/agent token replayed/);
    expect(log).toMatch(/agent facts for another machine refused/);
    expect(log).toMatch(/bearer token refused/);
    const xm = (await machineByMac(lab, X))!;
    const events = await lab.api<{ items: Array<{ kind: string; type: string }> }>('GET', `/machines/${xm.id}/events`);
    expect(events.body.items.filter((e) => e.kind === 'audit' && e.type === 'agent_token_replayed')).toHaveLength(1);
    expect(events.body.items.filter((e) => e.kind === 'agent' && e.type === 'facts_stored')).toHaveLength(1);
  });
});
