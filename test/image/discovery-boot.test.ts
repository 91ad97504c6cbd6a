import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentReceiver, type AgentPost, type AgentReceiver } from '../helpers/image-agent-receiver.js';
import { ensureDiscoveryImage } from '../helpers/image-shared.js';
import { agentStatus, factsRequest } from '../../src/api/schemas.js';

// One QEMU VM (TCG: KVM does not work on this host) boots the real discovery image by direct kernel
// boot with user-mode networking: the guest reaches the test's receiver (a test double of the
// appliance's agent endpoint) at 10.0.2.2, and the test reaches dropbear through a 127.0.0.1 hostfwd.
// Nothing leaves loopback.

const VM = {
  mac: '52:54:00:be:ef:07',
  memMib: 512,
  sockets: 1,
  cores: 2,
  threads: 1,
  diskBytes: 64 * 1024 * 1024,
  diskSerial: 'BRKDISK0007',
  vendor: 'BootrackTest',
  product: 'DiscoveryVM',
  serial: 'BRK-SERIAL-0007',
  uuid: '7e57ab1e-b007-4000-8000-0000000000b7',
};
const TOKEN = 'agent-token-Zq1-for-this-boot';
const BOOT_TIMEOUT_MS = 240_000;
const KEYS_PATH = '/keys/52-54-00-be-ef-07';

let work: string;
let receiver: AgentReceiver | undefined;
let qemu: ChildProcess | undefined;
let serial = '';
let sshPort = 0;
let qemuStart = 0;
let qemuExit: Promise<never>;

function need(tool: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'pipe' });
  } catch {
    throw new Error(`${tool} is required for the discovery boot test (see scripts/install-deps.sh)`);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function statusPost(status: string) {
  return (p: AgentPost): boolean => p.path === '/api/v1/agent/status' && (p.body as { status?: string }).status === status;
}

beforeAll(async () => {
  for (const tool of ['qemu-system-x86_64', 'ssh-keygen', 'ssh']) need(tool);
  work = mkdtempSync(join(tmpdir(), 'bootrack-dboot-'));
  const { dir } = await ensureDiscoveryImage();
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bootrack-test', '-f', join(work, 'id_ed25519')]);
  // Key A arrives base64url on the cmdline (bootrack.ssh_keys), key B from bootrack.ssh_keys_url.
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bootrack-test-url', '-f', join(work, 'id_url')]);
  const pub = readFileSync(join(work, 'id_ed25519.pub'), 'utf8').trim();
  writeFileSync(join(work, 'disk.img'), '');
  truncateSync(join(work, 'disk.img'), VM.diskBytes);
  receiver = await startAgentReceiver(TOKEN, { [KEYS_PATH]: readFileSync(join(work, 'id_url.pub'), 'utf8') });
  sshPort = await freePort();
  const append = [
    'console=ttyS0,115200',
    'panic=-1',
    `bootrack.url=http://10.0.2.2:${receiver.port}`,
    `bootrack.token=${TOKEN}`,
    `bootrack.mac=${VM.mac}`,
    // as src/netboot renders it: the keys joined by newlines, one base64url word
    `bootrack.ssh_keys=${Buffer.from(pub).toString('base64url')}`,
    `bootrack.ssh_keys_url=http://10.0.2.2:${receiver.port}${KEYS_PATH}`,
  ].join(' ');
  qemuStart = Date.now();
  qemu = spawn(
    'qemu-system-x86_64',
    [
      '-accel', 'tcg', '-machine', 'pc', '-m', String(VM.memMib),
      '-smp', `${VM.sockets * VM.cores * VM.threads},sockets=${VM.sockets},cores=${VM.cores},threads=${VM.threads}`,
      '-nographic', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
      '-kernel', join(dir, 'vmlinuz'), '-initrd', join(dir, 'initrd.img'), '-append', append,
      '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`,
      '-device', `virtio-net-pci,netdev=n0,mac=${VM.mac}`,
      '-drive', `file=${join(work, 'disk.img')},if=none,id=d0,format=raw`,
      '-device', `virtio-blk-pci,drive=d0,serial=${VM.diskSerial}`,
      '-smbios', `type=1,manufacturer=${VM.vendor},product=${VM.product},serial=${VM.serial},uuid=${VM.uuid}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  qemu.stdout!.on('data', (c: Buffer) => (serial += c.toString('utf8')));
  qemu.stderr!.on('data', (c: Buffer) => (serial += c.toString('utf8')));
  qemuExit = new Promise((_resolve, reject) => qemu!.once('exit', (code, sig) => reject(new Error(`QEMU exited early (code ${code}, signal ${sig})`))));
  qemuExit.catch(() => undefined);
}, 300_000);

afterAll(async () => {
  if (qemu && qemu.exitCode === null) {
    const exited = new Promise((r) => qemu!.once('exit', r));
    qemu.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (qemu.exitCode === null) qemu.kill('SIGKILL');
  }
  await receiver?.close();
  if (work) {
    writeFileSync(join(tmpdir(), 'bootrack-dboot-last-serial.log'), serial);
    rmSync(work, { recursive: true, force: true });
  }
});

describe('discovery OS in QEMU (TCG, direct kernel boot)', () => {
  it('posts booted, then facts equal to what QEMU was given, then ssh_ready with a host key SSH verifies', async () => {
    const wait = async (pred: (p: AgentPost) => boolean, what: string): Promise<AgentPost> => {
      try {
        return await Promise.race([receiver!.waitFor(pred, BOOT_TIMEOUT_MS - (Date.now() - qemuStart), what), qemuExit]);
      } catch (err) {
        throw new Error(`${(err as Error).message}\n--- serial console (last 4000 chars) ---\n${serial.slice(-4000)}`);
      }
    };
    const booted = await wait(statusPost('booted'), 'status booted');
    const factsPost = await wait((p) => p.path === '/api/v1/agent/facts', 'facts');
    const factsPosted = await wait(statusPost('facts_posted'), 'status facts_posted');
    const ready = await wait(statusPost('ssh_ready'), 'status ssh_ready');
    const secs = (p: AgentPost): string => ((p.at - qemuStart) / 1000).toFixed(1);
    console.info(`discovery boot (TCG): booted ${secs(booted)} s, facts ${secs(factsPost)} s, ssh_ready ${secs(ready)} s after QEMU start`);

    expect(receiver!.rejected).toEqual([]);
    expect(booted.at).toBeLessThanOrEqual(factsPost.at);
    expect(factsPost.at).toBeLessThanOrEqual(factsPosted.at);
    expect(factsPost.contentType).toBe('application/json');

    // The bodies satisfy the real API's request schemas (src/api/schemas.ts), strict objects included.
    for (const p of receiver!.posts) {
      const parsed = (p.path.endsWith('/facts') ? factsRequest : agentStatus).safeParse(p.body);
      expect(parsed.success, `${p.path} ${p.raw}: ${JSON.stringify(parsed.error?.issues)}`).toBe(true);
    }
    expect((factsPost.body as { mac?: string }).mac).toBe(VM.mac);
    const { facts } = factsPost.body as { facts: Record<string, any> };
    expect(facts.cpu.threads).toBe(VM.sockets * VM.cores * VM.threads);
    expect(facts.cpu.sockets).toBe(VM.sockets);
    expect(facts.cpu.cores).toBe(VM.sockets * VM.cores);
    expect(typeof facts.cpu.model).toBe('string');
    expect(facts.memoryMib).toBe(VM.memMib);
    expect(facts.disks).toEqual([{ name: 'vda', sizeBytes: VM.diskBytes, model: null, serial: VM.diskSerial, rotational: expect.any(Boolean) }]);
    expect(facts.nics).toEqual([{ mac: VM.mac, driver: 'virtio_net', link: true, speedMbps: expect.toSatisfy((v: unknown) => v === null || typeof v === 'number') }]);
    expect(facts.lldp).toEqual([]);
    expect(facts.dmi).toEqual({ vendor: VM.vendor, product: VM.product, serial: VM.serial, uuid: VM.uuid });
    expect(facts.bmc).toBeNull();
    expect(facts.firmware).toBe('bios');
    expect(facts.arch).toBe('amd64');

    // SSH as root with the test's key, trusting only the host key the agent reported.
    const hostKey = (ready.body as { sshHostKey?: string }).sshHostKey ?? '';
    expect(hostKey).toMatch(/^ssh-ed25519 AAAA[0-9A-Za-z+/=]+$/);
    writeFileSync(join(work, 'known_hosts'), `[127.0.0.1]:${sshPort} ${hostKey}\n`);
    const ssh = (key: string, cmd: string): string =>
      execFileSync(
        'ssh',
        ['-i', join(work, key), '-p', String(sshPort), '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${join(work, 'known_hosts')}`,
          '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=20', '-o', 'LogLevel=ERROR', 'root@127.0.0.1', cmd],
        { encoding: 'utf8', timeout: 60_000 },
      );
    expect(ssh('id_ed25519', 'id -u; cat /sys/class/dmi/id/product_serial').trim().split('\n')).toEqual(['0', VM.serial]);
    expect(receiver!.gets).toContain(KEYS_PATH);
    expect(ssh('id_url', 'cat /proc/cmdline')).toContain(`bootrack.mac=${VM.mac}`);
    // PCI drivers load only when a device matches: virtio yes, the rack NIC drivers no.
    const loaded = ssh('id_ed25519', 'cut -d" " -f1 /proc/modules').trim().split('\n');
    expect(loaded).toEqual(expect.arrayContaining(['virtio_pci', 'virtio_net', 'virtio_blk', 'ipmi_devintf']));
    for (const absent of ['ixgbe', 'i40e', 'mlx5_core', 'bnxt_en', 'megaraid_sas']) expect(loaded).not.toContain(absent);

    // A different host key must be refused: StrictHostKeyChecking really checks.
    writeFileSync(join(work, 'known_hosts'), `[127.0.0.1]:${sshPort} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHF0YTjwk4+h1V0p4tFtqA6jPhfbHc3KkR3s9Q6D5m7n\n`);
    expect(() =>
      execFileSync('ssh', ['-i', join(work, 'id_ed25519'), '-p', String(sshPort), '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${join(work, 'known_hosts')}`, '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=20', 'root@127.0.0.1', 'true'], { stdio: 'pipe', timeout: 60_000 }),
    ).toThrow(/HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);
  }, BOOT_TIMEOUT_MS + 120_000);
});
