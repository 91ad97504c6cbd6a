import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordingActionHandler } from '../../src/provisioning/action-handler.js';
import { driverForUrl } from '../../src/provisioning/driver-url.js';
import type { PxeDriver, PxeReference } from '../../src/provisioning/drivers/pxe/driver.js';
import { FileEntryStore } from '../../src/provisioning/file-entry-store.js';
import type { Machine } from '../../src/provisioning/machine.js';
import { machineByMac, timeline, type MachineView } from '../helpers/e2e-boot.js';
import { API_PORT, REPO, requireTools, run, startLab, waitFor, type Lab } from '../helpers/e2e-lab.js';
import { ensureDiscoveryImage } from '../helpers/image-shared.js';

/**
 * Issue 8 end to end: the pxe: driver, run in THIS process through its driver URL, drives a real
 * QEMU VM whose power is an OpenIPMI ipmi_sim BMC (chassis program test/helpers/e2e-chassis.sh starts
 * and stops QEMU on a tap of the lab bridge). bootrack serves DHCP, TFTP, HTTP and the API in netns
 * brke2-pxe and drives the BMC with FreeIPMI ipmipower; the test reaches the API and the VM over
 * the lab's veth. Two boots: commissioning (registered box → ready), then the driver's deploy.
 */
const OCTET = 233;
const MAC = '52:54:00:e9:00:01';
const TAP = 'brke2t233b1';
const BMC_PORT = 24623;
const QMP_PORT = 24625;
const BMC_USER = 'admin';
const BMC_PASS = 'e2e-Bmc-pass-9d1c';
const BOOT_TIMEOUT_MS = 900_000;

let lab: Lab;
let bmcDir: string;
let driver: PxeDriver;
let machineId: string;
let store: FileEntryStore;

function bmcVmPid(): number | null {
  try {
    const pid = Number(readFileSync(join(bmcDir, 'qemu.pid'), 'utf8').trim());
    const stopping = existsSync(join(bmcDir, 'stopping')) ? readFileSync(join(bmcDir, 'stopping'), 'utf8').trim() : '';
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('brke2-bmcvm') && stopping !== String(pid) ? pid : null;
  } catch {
    return null;
  }
}
const powerOns = (): number => (existsSync(join(bmcDir, 'power-on.log')) ? readFileSync(join(bmcDir, 'power-on.log'), 'utf8').trim().split('\n').length : 0);
const serialTail = (): string => (existsSync(join(bmcDir, 'serial.log')) ? readFileSync(join(bmcDir, 'serial.log'), 'latin1').replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').slice(-2500) : '');

async function waitState(want: (m: MachineView) => boolean, what: string): Promise<MachineView> {
  try {
    return await waitFor(what, async () => {
      const m = await machineByMac(lab, MAC);
      return m && want(m) ? m : null;
    }, BOOT_TIMEOUT_MS, 1000);
  } catch (err) {
    const tl = await timeline(lab, machineId).catch(() => null);
    throw new Error(`${(err as Error).message}\n--- timeline ---\n${JSON.stringify(tl?.boots.map((b) => b.steps.map((s) => s.summary)))}\n--- serial ---\n${serialTail()}\n--- bootrack ---\n${lab.daemonLog().slice(-2500)}`);
  }
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
  // The BMC: ipmi_sim on the namespace's loopback, its chassis program powering the VM on TAP.
  bmcDir = join(lab.work, 'bmc');
  mkdirSync(join(bmcDir, 'state'), { recursive: true });
  run('qemu-img', ['create', '-q', '-f', 'qcow2', join(bmcDir, 'disk.qcow2'), String(2 * 1024 ** 3)]);
  run('ip', ['netns', 'exec', lab.ns, 'ip', 'tuntap', 'add', 'dev', TAP, 'mode', 'tap']);
  run('ip', ['netns', 'exec', lab.ns, 'ip', 'link', 'set', TAP, 'master', lab.bridge]);
  run('ip', ['netns', 'exec', lab.ns, 'ip', 'link', 'set', TAP, 'up']);
  writeFileSync(
    join(bmcDir, 'vm.env'),
    `VM_NAME=brke2-bmcvm\nQMPPORT=${QMP_PORT}\nMEM=512\nCPUS=1\nTAP=${TAP}\nMAC=${MAC}\nDISK=${join(bmcDir, 'disk.qcow2')}\nSMBIOS=type=1,manufacturer=BootrackE2E,product=BmcNode,serial=BRKE2-BMC-1,uuid=e2e0b3c0-0000-4000-8000-000000000001\n`,
  );
  writeFileSync(
    join(bmcDir, 'lan.conf'),
    [
      'name "brke2bmc"', 'set_working_mc 0x20', '  startlan 1', `    addr 127.0.0.1 ${BMC_PORT}`, '    priv_limit admin',
      '    allowed_auths_callback md5', '    allowed_auths_user md5', '    allowed_auths_operator md5', '    allowed_auths_admin md5',
      '    guid a1b2c3d4e5f60718293a4b5c6d7ee2e0', '  endlan', `  chassis_control "${join(REPO, 'test/helpers/e2e-chassis.sh')} ${bmcDir}"`,
      `  user 2 true "${BMC_USER}" "${BMC_PASS}" admin 10 md5`, '',
    ].join('\n'),
  );
  writeFileSync(join(bmcDir, 'bmc.emu'), ['mc_setbmc 0x20', 'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02', 'sel_enable 0x20 1000 0x0a', 'mc_enable 0x20', ''].join('\n'));
  lab.spawn(['ipmi_sim', '-c', join(bmcDir, 'lan.conf'), '-f', join(bmcDir, 'bmc.emu'), '-s', join(bmcDir, 'state'), '-n'], 'ipmi_sim.log');
  await waitFor('ipmi_sim to bind', () => run('ip', ['netns', 'exec', lab.ns, 'ss', '-Hlun', `sport = :${BMC_PORT}`]).includes(`127.0.0.1:${BMC_PORT}`), 15_000, 200);

  // Registered through the API with its BMC settings, then commissioned: bootrack power-cycles it over
  // IPMI into the discovery OS, which posts its facts (auto-accept → ready); then it is powered off.
  const created = await lab.api<MachineView>('POST', '/machines', { name: 'bmc-box', macs: [MAC], arch: 'amd64' });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  machineId = created.body.id;
  const ps = await lab.api('PUT', `/machines/${machineId}/power-settings`, { type: 'ipmi', address: '127.0.0.1', options: { port: BMC_PORT }, username: BMC_USER, password: BMC_PASS });
  expect(ps.status, JSON.stringify(ps.body)).toBe(200);
  const com = await lab.api('POST', `/machines/${machineId}/commission`);
  expect(com.status, JSON.stringify(com.body)).toBe(200);
  await waitState((m) => m.state === 'ready' && m.cpuCount !== null, 'commissioning through IPMI to reach ready');
  const off = await lab.api('POST', `/machines/${machineId}/power`, { action: 'off' });
  expect(off.status, JSON.stringify(off.body)).toBe(200);
  await waitFor('the BMC to power the VM off', () => bmcVmPid() === null, 60_000, 500);

  const tok = await lab.api<{ token: string }>('POST', '/tokens', { name: 'e2e-chef', role: 'driver', owner: 'e2e' });
  expect(tok.status, JSON.stringify(tok.body)).toBe(201);
  driver = (await driverForUrl(`pxe:http://${lab.hostIp}:${API_PORT}`, {
    driverOptions: { token: tok.body.token },
    privateKeys: { bootstrap: lab.sshKey },
    machineOptions: { pollIntervalMs: 2000, readyTimeoutMs: BOOT_TIMEOUT_MS, connectTimeoutMs: 20_000 },
  })) as PxeDriver;
  store = new FileEntryStore(join(lab.work, 'chef-store'));
}, BOOT_TIMEOUT_MS + 300_000);

afterAll(async () => {
  await lab?.close();
}, 60_000);

describe('pxe: driver end to end: ipmi_sim-powered QEMU VM, bootrack alone on the wire', () => {
  let machine: Machine | undefined;

  it('allocate picks the registered box', async () => {
    const spec = await store.getMachine('e2e-box');
    await driver.allocateMachine(new RecordingActionHandler(), spec, driver.machineOptionsFor({ arch: 'amd64', minCpus: 1 }));
    expect((spec.reference as PxeReference).machineId).toBe(machineId);
    expect((spec.reference as PxeReference).mac).toBe(MAC);
    expect((await machineByMac(lab, MAC))!).toMatchObject({ state: 'allocated' });
  });

  it('ready power-cycles it through IPMI, it PXE-boots, SSH comes up, execute("uname -a") returns the kernel', async () => {
    const spec = await store.getMachine('e2e-box');
    const onsBefore = powerOns();
    const ah = new RecordingActionHandler();
    const t0 = Date.now();
    try {
      machine = await driver.readyMachine(ah, spec, driver.machineOptionsFor({}));
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- progress ---\n${ah.texts('progress').join('\n')}\n--- serial ---\n${serialTail()}\n--- bootrack ---\n${lab.daemonLog().slice(-2500)}`);
    }
    console.info(`pxe: driver ready (IPMI cycle → PXE → SSH) took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(powerOns()).toBe(onsBefore + 1);
    expect(readFileSync(join(bmcDir, 'bootdev'), 'utf8').trim()).toBe('pxe');
    expect(bmcVmPid()).not.toBeNull();
    const m = (await machineByMac(lab, MAC))!;
    expect(m.state).toBe('deployed');
    const tl = await timeline(lab, m.id);
    expect(tl.boots.at(-1)!.reached).toBe('ssh_ready');
    expect(tl.boots.at(-1)!.steps.find((s) => s.kind === 'http' && s.type === 'script_served')!.data).toMatchObject({ script: 'deploy' });
    const r = await machine.execute(ah, 'uname -a');
    expect(r?.stdout).toMatch(/^Linux \S+ 6\.\d+\.\d+-\d+-amd64 .* x86_64 GNU\/Linux\n$/);
  }, BOOT_TIMEOUT_MS);

  it('uploadFile round-trips a file', async () => {
    expect(machine).toBeDefined();
    const ah = new RecordingActionHandler();
    const local = join(lab.work, 'upload.bin');
    const back = join(lab.work, 'download.bin');
    const content = randomBytes(256 * 1024);
    writeFileSync(local, content);
    await machine!.uploadFile(ah, local, '/tmp/e2e-upload.bin');
    expect((await machine!.execute(ah, 'sha256sum /tmp/e2e-upload.bin'))?.stdout.split(' ')[0]).toBe((await import('node:crypto')).createHash('sha256').update(content).digest('hex'));
    await machine!.downloadFile(ah, '/tmp/e2e-upload.bin', back);
    expect(readFileSync(back).equals(content)).toBe(true);
  });

  it('destroy powers it off through IPMI and the machine is ready again', async () => {
    await machine?.disconnect();
    const spec = await store.getMachine('e2e-box');
    await driver.destroyMachine(new RecordingActionHandler(), spec, driver.machineOptionsFor({}));
    await waitFor('the BMC to power the VM off', () => bmcVmPid() === null, 60_000, 500);
    const m = await waitState((x) => x.state === 'ready', 'the machine to be ready again');
    expect(m.owner ?? null).toBeNull();
    const power = await lab.api<{ state: string }>('GET', `/machines/${machineId}/power`);
    expect(power.body.state).toBe('off');
  }, 120_000);
});
