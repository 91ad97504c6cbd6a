import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import { RecordingActionHandler } from '../../src/provisioning/action-handler.js';
import { driverForUrl } from '../../src/provisioning/driver-url.js';
import type { PxeDriver, PxeMachineOptions, PxeReference } from '../../src/provisioning/drivers/pxe/driver.js';
import { FileEntryStore } from '../../src/provisioning/file-entry-store.js';
import type { Machine } from '../../src/provisioning/machine.js';
import type { MachineSpec } from '../../src/provisioning/managed-entry.js';
import { machineByMac, startBmcBox, timeline, type BmcBox, type MachineView } from '../helpers/e2e-boot.js';
import { API_PORT, requireTools, startLab, waitFor, type Lab } from '../helpers/e2e-lab.js';
import { ensureDiscoveryImage } from '../helpers/image-shared.js';

/**
 * Issue 8 end to end: the pxe: driver, run in THIS process through its driver URL, drives real QEMU
 * VMs whose power is an OpenIPMI ipmi_sim BMC each (chassis program test/helpers/e2e-chassis.sh
 * starts and stops QEMU on a tap of the lab bridge). bootrack serves DHCP, TFTP, HTTP and the API
 * in netns brke2-pxe and drives the BMCs with FreeIPMI; the test reaches the API and the VMs over the
 * lab's veth. ONE lab, ONE daemon for every case, ordered so boots are shared:
 *   beforeAll   both boxes commissioned at once (2 parallel boots)
 *   1 allocate  allocateMachines reserves both
 *   2 faults    wrong BMC password → prompt BMC_AUTH_FAILED (no boot)
 *   3 parallel  readyMachines([a, b]): both PXE-boot at once (2 parallel boots), SSH, execute; upload
 *   4 restart   stop a, ready a; the appliance restarts mid-boot; a second ready completes (1 boot)
 *   5 destroy   destroyMachines: both off, both ready again
 * "SSH never comes up → ready fails at its deadline" is shown with real peers (the real API and a
 * real sshd that never listens) by test/provisioning/contract-pxe-real-api.test.ts.
 */
const OCTET = 233;
const USER = 'admin';
const PASS = 'e2e-Bmc-pass-9d1c';
const BOOT_TIMEOUT_MS = 900_000;
const BOXES = [
  { idx: 1, mac: '52:54:00:e9:00:01', tap: 'brke2t233b1', bmcAddress: '127.0.0.1', bmcPort: 24623, qmpPort: 24625, user: USER, password: PASS },
  { idx: 2, mac: '52:54:00:e9:00:02', tap: 'brke2t233b2', bmcAddress: '127.0.0.2', bmcPort: 24633, qmpPort: 24635, user: USER, password: PASS },
];

let lab: Lab;
let boxes: BmcBox[];
const ids: string[] = [];
let driver: PxeDriver;
let store: FileEntryStore;
const opts = (o: PxeMachineOptions = {}): PxeMachineOptions => driver.machineOptionsFor(o);
const refOf = (spec: MachineSpec): PxeReference => spec.reference as PxeReference;
const boxOf = (spec: MachineSpec): BmcBox => boxes.find((b) => b.spec.mac === refOf(spec).mac)!;

function powerSettings(box: BmcBox, password: string): Record<string, unknown> {
  return { type: 'ipmi', address: box.spec.bmcAddress, options: { port: box.spec.bmcPort }, username: USER, password };
}

/** A failure message that says where things stood: the timelines, the serial tails, the daemon log. */
async function explain(err: unknown, ah?: RecordingActionHandler): Promise<Error> {
  const parts = [(err as Error).message];
  if (ah) parts.push(`--- progress ---\n${ah.texts('progress').slice(-40).join('\n')}`);
  for (const [i, box] of (boxes ?? []).entries()) {
    const tl = ids[i] ? await timeline(lab, ids[i]).catch(() => null) : null;
    parts.push(`--- box ${box.spec.idx} timeline ---\n${JSON.stringify(tl?.boots.slice(-2).map((b) => b.steps.map((s) => s.summary)))}\n--- box ${box.spec.idx} serial ---\n${box.serialTail()}`);
  }
  parts.push(`--- bootrack ---\n${lab.daemonLog().slice(-3000)}`);
  return new Error(parts.join('\n'));
}

async function waitStates(want: (m: MachineView) => boolean, what: string): Promise<MachineView[]> {
  try {
    return await waitFor(what, async () => {
      const ms = await Promise.all(boxes.map((b) => machineByMac(lab, b.spec.mac)));
      return ms.every((m) => m && want(m)) ? (ms as MachineView[]) : null;
    }, BOOT_TIMEOUT_MS, 1000);
  } catch (err) {
    throw await explain(err);
  }
}

async function expectDeployedThroughPxe(machine: Machine, box: BmcBox, onsBefore: number, ah: RecordingActionHandler): Promise<void> {
  expect(box.powerOns()).toBe(onsBefore + 1);
  expect(box.bootdev()).toBe('pxe');
  expect(box.vmPid()).not.toBeNull();
  const m = (await machineByMac(lab, box.spec.mac))!;
  expect(m.state).toBe('deployed');
  const last = (await timeline(lab, m.id)).boots.at(-1)!;
  expect(last.reached).toBe('ssh_ready');
  expect(last.steps.find((s) => s.kind === 'http' && s.type === 'script_served')!.data).toMatchObject({ script: 'deploy' });
  const r = await machine.execute(ah, 'uname -a; hostname');
  expect(r?.stdout).toMatch(/^Linux \S+ 6\.\d+\.\d+-\d+-amd64 .* x86_64 GNU\/Linux\n/);
  expect(r?.stdout.split('\n')[1]).toBe(`bootrack-${box.spec.mac.replaceAll(':', '')}`);
}

beforeAll(async () => {
  requireTools(['ipmi_sim', 'ipmipower', 'flock']);
  const { dir } = await ensureDiscoveryImage();
  lab = await startLab({
    ns: 'brke2-pxe',
    octet: OCTET,
    imageDir: dir,
    // ipmi_sim needs FreeIPMI's opensesspriv workaround; generous timeouts: QEMU starts under TCG on a loaded box.
    config: { power: { commandTimeoutMs: 30_000, ipmi: { workarounds: ['opensesspriv'], sessionTimeoutMs: 15_000, retransmissionTimeoutMs: 3000 } } },
  });
  try {
    boxes = await Promise.all(BOXES.map((b) => startBmcBox(lab, b)));
    // Registered through the API with their BMC settings, then commissioned AT ONCE: bootrack
    // power-cycles each over IPMI into the discovery OS, which posts facts (auto-accept → ready).
    for (const box of boxes) {
      const created = await lab.api<MachineView>('POST', '/machines', { name: `bmc-box-${box.spec.idx}`, macs: [box.spec.mac], arch: 'amd64' });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      ids.push(created.body.id);
      const ps = await lab.api('PUT', `/machines/${created.body.id}/power-settings`, powerSettings(box, PASS));
      expect(ps.status, JSON.stringify(ps.body)).toBe(200);
    }
    const t0 = Date.now();
    const coms = await Promise.all(ids.map((id) => lab.api('POST', `/machines/${id}/commission`)));
    for (const com of coms) expect(com.status, JSON.stringify(com.body)).toBe(200);
    await waitStates((m) => m.state === 'ready' && m.cpuCount !== null, 'both boxes to commission through IPMI and reach ready');
    console.info(`commissioning both boxes at once took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const id of ids) {
      const off = await lab.api('POST', `/machines/${id}/power`, { action: 'off' });
      expect(off.status, JSON.stringify(off.body)).toBe(200);
    }
    await waitFor('the BMCs to power the VMs off', () => boxes.every((b) => b.vmPid() === null), 60_000, 500);

    const tok = await lab.api<{ token: string }>('POST', '/tokens', { name: 'e2e-chef', role: 'driver', owner: 'e2e' });
    expect(tok.status, JSON.stringify(tok.body)).toBe(201);
    driver = (await driverForUrl(`pxe:http://${lab.hostIp}:${API_PORT}`, {
      driverOptions: { token: tok.body.token },
      privateKeys: { bootstrap: lab.sshKey },
      machineOptions: { pollIntervalMs: 2000, readyTimeoutMs: BOOT_TIMEOUT_MS, connectTimeoutMs: 20_000 },
    })) as PxeDriver;
    store = new FileEntryStore(join(lab.work, 'chef-store'));
  } catch (err) {
    throw await explain(err);
  }
}, BOOT_TIMEOUT_MS + 300_000);

afterAll(async () => {
  await lab?.close();
}, 90_000);

describe('pxe: driver end to end: ipmi_sim-powered QEMU VMs, bootrack alone on the wire', () => {
  let specs: MachineSpec[] = [];
  let machines: Machine[] = [];

  it('allocateMachines reserves both registered boxes; each reference saved by allocate itself', async () => {
    specs = await Promise.all(['e2e-a', 'e2e-b'].map((n) => store.getMachine(n)));
    const got = await driver.allocateMachines(new RecordingActionHandler(), specs.map((spec) => ({ spec, options: opts({ arch: 'amd64', minCpus: 1 }) })));
    expect(got.map((s) => s.name)).toEqual(['e2e-a', 'e2e-b']);
    expect(specs.map((s) => refOf(s).machineId).sort()).toEqual([...ids].sort());
    for (const spec of specs) {
      expect(refOf(await store.getMachine(spec.name))).toEqual(refOf(spec));
      expect((await machineByMac(lab, refOf(spec).mac!))!).toMatchObject({ state: 'allocated', owner: 'e2e' });
    }
  });

  it('wrong BMC password → ready fails promptly with BMC_AUTH_FAILED naming the BMC, nothing changed, the daemon still serving', async () => {
    const spec = specs[0]!;
    const box = boxOf(spec);
    const id = refOf(spec).machineId;
    const savedRef = structuredClone(refOf(spec));
    const ons = box.powerOns();
    const set = await lab.api('PUT', `/machines/${id}/power-settings`, powerSettings(box, 'not-the-password'));
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    try {
      // What the API itself answers: the catalog code and the BMC's own words.
      const direct = await lab.api<{ code: string; message: string }>('GET', `/machines/${id}/power`);
      expect(direct.status).toBe(502);
      expect(direct.body.code).toBe('BMC_AUTH_FAILED');
      const ah = new RecordingActionHandler();
      const t0 = Date.now();
      const err = await driver.readyMachine(ah, spec, opts()).then(
        () => new Error('ready succeeded with a wrong BMC password'),
        (e: unknown) => e as Error,
      );
      const seconds = (Date.now() - t0) / 1000;
      console.info(`wrong BMC password: ready failed after ${seconds.toFixed(1)} s: ${err.message}`);
      expect(isBootrackError(err, 'BMC_AUTH_FAILED'), err.message).toBe(true);
      expect(err.message).toMatch(/e2e-a: could not read the power state .* BMC refused the credentials; fix its power settings/);
      expect(err.message).toMatch(/password invalid/);
      // Promptly: a BMC refusal, not a boot wait running into the ready deadline.
      expect(seconds).toBeLessThan(BOOT_TIMEOUT_MS / 1000 / 10);
      expect(refOf(spec)).toEqual(savedRef);
      expect(refOf(await store.getMachine(spec.name))).toEqual(savedRef);
      expect((await machineByMac(lab, box.spec.mac))!.state).toBe('allocated');
      expect(box.powerOns()).toBe(ons);
      expect(ah.texts('action')).toEqual([]);
      expect((await fetch(`${lab.apiBase}/healthz`)).status).toBe(200);
      expect((await lab.api('GET', `/machines/${id}`)).status).toBe(200);
    } finally {
      const restore = await lab.api('PUT', `/machines/${id}/power-settings`, powerSettings(box, PASS));
      expect(restore.status, JSON.stringify(restore.body)).toBe(200);
    }
    expect((await lab.api<{ state: string }>('GET', `/machines/${id}/power`)).body.state).toBe('off');
  }, 120_000);

  it('readyMachines readies both at once: both PXE-boot through IPMI, reach SSH, execute on each; input order; each spec saved as it finishes', async () => {
    const ah = new RecordingActionHandler();
    const onsBefore = specs.map((s) => boxOf(s).powerOns());
    const finished: Array<{ name: string; ok: boolean; at: number; savedId: unknown }> = [];
    const t0 = Date.now();
    try {
      machines = await driver.readyMachines(ah, specs.map((spec) => ({ spec, options: opts() })), {
        onEach: async (item, outcome) => {
          await item.spec.save(ah);
          finished.push({ name: item.spec.name, ok: outcome.ok, at: Date.now() / 1000, savedId: (await store.getMachine(item.spec.name)).reference?.machineId });
        },
      });
    } catch (err) {
      throw await explain(err, ah);
    }
    console.info(`readyMachines (2 boxes, IPMI → PXE → SSH in parallel) took ${((Date.now() - t0) / 1000).toFixed(1)} s; finished ${JSON.stringify(finished)}`);
    expect(machines.map((m) => m.name)).toEqual(['e2e-a', 'e2e-b']);
    expect(finished.map((f) => f.name).sort()).toEqual(['e2e-a', 'e2e-b']);
    for (const f of finished) expect(f).toMatchObject({ ok: true, savedId: refOf(specs.find((s) => s.name === f.name)!).machineId });
    // In parallel: the second box was powered on before the first one finished.
    const lastPowerOn = Math.max(...specs.map((s) => boxOf(s).powerOnTimes().at(-1)!));
    expect(lastPowerOn).toBeLessThan(Math.min(...finished.map((f) => f.at)));
    for (const [i, spec] of specs.entries()) await expectDeployedThroughPxe(machines[i]!, boxOf(spec), onsBefore[i]!, ah);
    // Each machine's progress is prefixed with its name (the batch's prefixing handler).
    expect(ah.texts('progress').some((t) => t.startsWith('e2e-a: '))).toBe(true);
    expect(ah.texts('progress').some((t) => t.startsWith('e2e-b: '))).toBe(true);
  }, BOOT_TIMEOUT_MS);

  it('uploadFile round-trips a file', async () => {
    expect(machines).toHaveLength(2);
    const ah = new RecordingActionHandler();
    const local = join(lab.work, 'upload.bin');
    const back = join(lab.work, 'download.bin');
    const content = randomBytes(256 * 1024);
    writeFileSync(local, content);
    await machines[0]!.uploadFile(ah, local, '/tmp/e2e-upload.bin');
    expect((await machines[0]!.execute(ah, 'sha256sum /tmp/e2e-upload.bin'))?.stdout.split(' ')[0]).toBe(createHash('sha256').update(content).digest('hex'));
    await machines[0]!.downloadFile(ah, '/tmp/e2e-upload.bin', back);
    expect(readFileSync(back).equals(content)).toBe(true);
    await Promise.all(machines.map((m) => m.disconnect()));
  });

  it('the appliance restarted during ready (its VM mid-boot) → the first ready survives or fails clearly; a second ready completes', async () => {
    const spec = specs[0]!;
    const box = boxOf(spec);
    const id = refOf(spec).machineId;
    const savedRef = structuredClone(refOf(spec));
    await driver.stopMachine(new RecordingActionHandler(), spec, opts());
    await waitFor('the BMC to power the VM off', () => box.vmPid() === null, 60_000, 500);
    const sinceId = (await lab.api<{ items: Array<{ id: number }> }>('GET', `/machines/${id}/events?limit=1`)).body.items.at(-1)?.id ?? 0;

    const ah1 = new RecordingActionHandler();
    let settled = false;
    const first = driver.readyMachine(ah1, spec, opts({ readyTimeoutMs: 300_000 })).then(
      (m) => ({ ok: true as const, m }),
      (e: unknown) => ({ ok: false as const, e: e as Error }),
    ).finally(() => (settled = true));
    // Follow the timeline: once the deploy boot's agent checked in (kernel and initrd loaded, the
    // discovery OS up, SSH not yet reported), restart the appliance under it.
    let stage = '';
    try {
      stage = await waitFor('the deploy boot to reach the agent check-in', async () => {
        if (settled) return 'settled';
        const ev = (await lab.api<{ items: Array<{ kind: string; type: string }> }>('GET', `/machines/${id}/events?since=${sinceId}`)).body.items;
        if (ev.some((e) => e.kind === 'agent' && e.type === 'ssh_ready')) return 'ssh_ready';
        return ev.some((e) => e.kind === 'agent' && e.type === 'booted') ? 'agent_booted' : null;
      }, BOOT_TIMEOUT_MS / 3, 250);
    } catch (err) {
      throw await explain(err, ah1);
    }
    if (stage === 'settled') {
      const o = await first;
      throw await explain(new Error(`the first ready ended before the boot got going: ${o.ok ? 'it succeeded' : o.e.message}`), ah1);
    }
    const { downMs } = await lab.restart();
    const outcome = await first;
    console.info(`appliance restarted at ${stage} (down ${(downMs / 1000).toFixed(1)} s); first ready ${outcome.ok ? 'survived' : `failed: ${outcome.e.message}`}; outage seen: ${ah1.texts('progress').filter((t) => /appliance/.test(t)).join(' | ')}`);
    if (outcome.ok) await outcome.m.disconnect();
    else {
      // Failing is allowed, but clearly: a typed error saying what happened, never INTERNAL.
      expect(isBootrackError(outcome.e), outcome.e.message).toBe(true);
      expect(outcome.e.message).toMatch(/appliance|ECONNREFUSED|SSH/i);
    }
    expect(refOf(await store.getMachine(spec.name))).toEqual(savedRef);

    const ah2 = new RecordingActionHandler();
    let again: Machine;
    try {
      again = await driver.readyMachine(ah2, spec, opts());
    } catch (err) {
      throw await explain(err, ah2);
    }
    try {
      const m = (await machineByMac(lab, box.spec.mac))!;
      expect(m.state).toBe('deployed');
      // Idempotent when the box made it (deployed, power on: nothing done); otherwise redeployed.
      if (outcome.ok) expect(ah2.texts('action')).toEqual([]);
      const r = await again.execute(ah2, 'uname -r; hostname');
      expect(r?.stdout).toMatch(new RegExp(`^6\\.\\d+\\.\\d+-\\d+-amd64\\nbootrack-${box.spec.mac.replaceAll(':', '')}\\n$`));
    } finally {
      await again.disconnect();
    }
  }, BOOT_TIMEOUT_MS);

  it('destroyMachines powers both off through IPMI, releases them, clears the references; both ready again', async () => {
    const ah = new RecordingActionHandler();
    await driver.destroyMachines(ah, specs.map((spec) => ({ spec, options: opts() })), { onEach: (item) => item.spec.save(ah) });
    for (const spec of specs) {
      expect(spec.reference).toBeUndefined();
      expect((await store.getMachine(spec.name)).reference).toBeUndefined();
    }
    await waitFor('the BMCs to power the VMs off', () => boxes.every((b) => b.vmPid() === null), 60_000, 500);
    const ms = await waitStates((x) => x.state === 'ready', 'both machines to be ready again');
    for (const [i, m] of ms.entries()) {
      expect(m.owner ?? null).toBeNull();
      expect((await lab.api<{ state: string }>('GET', `/machines/${ids[i]}/power`)).body.state).toBe('off');
    }
  }, 180_000);
});
