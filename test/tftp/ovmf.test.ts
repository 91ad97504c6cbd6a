import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools } from '../helpers/tftp-clients.js';
import { deleteNs, startDaemon, type Daemon } from '../helpers/tftp-netns.js';

// OVMF's own UEFI PXE (no iPXE option ROM) loads ipxe.efi from bootrack's TFTP daemon, inside
// namespace brktf-ovmf (bridge + tap, 10.79.0.1/24). dnsmasq answers DHCP only (port=0, no TFTP).
const NS = 'brktf-ovmf';
const IP = '10.79.0.1';
let dir: string;
let daemon: Daemon | undefined;
let dnsmasq: ChildProcess | undefined;
let qemu: ChildProcess | undefined;
let serial = '';

const nsx = (...args: string[]): void => {
  execFileSync('ip', ['netns', 'exec', NS, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
};

beforeAll(async () => {
  requireTools('ip', 'dnsmasq', 'qemu-system-x86_64');
  dir = mkdtempSync(join(tmpdir(), 'bootrack-ovmf-'));
  copyFileSync('/usr/lib/ipxe/ipxe.efi', join(dir, 'ipxe.efi'));
  copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', join(dir, 'vars.fd'));
  deleteNs(NS);
  execFileSync('ip', ['netns', 'add', NS]);
  nsx('ip', 'link', 'set', 'lo', 'up');
  nsx('ip', 'link', 'add', 'br0', 'type', 'bridge');
  nsx('ip', 'link', 'set', 'br0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
  nsx('ip', 'addr', 'add', `${IP}/24`, 'dev', 'br0');
  nsx('ip', 'link', 'set', 'br0', 'up');
  nsx('ip', 'tuntap', 'add', 'dev', 'tap0', 'mode', 'tap');
  nsx('ip', 'link', 'set', 'tap0', 'master', 'br0');
  nsx('ip', 'link', 'set', 'tap0', 'up');
  daemon = await startDaemon(NS, ['--root', dir, '--addr', IP, '--port', '69', '--log', 'debug']);
  writeFileSync(
    join(dir, 'dnsmasq.conf'),
    [
      'port=0',
      'interface=br0',
      'bind-interfaces',
      'user=root',
      'group=root',
      'no-ping',
      'log-dhcp',
      `dhcp-leasefile=${join(dir, 'leases')}`,
      'dhcp-range=10.79.0.100,10.79.0.199,255.255.255.0,1h',
      `dhcp-boot=ipxe.efi,,${IP}`,
      '',
    ].join('\n'),
  );
  dnsmasq = spawn('ip', ['netns', 'exec', NS, 'dnsmasq', '-k', `--conf-file=${join(dir, 'dnsmasq.conf')}`, '--log-facility=-'], { stdio: 'ignore' });
});

afterAll(async () => {
  for (const p of [qemu, dnsmasq]) {
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGKILL');
      await exited;
    }
  }
  await daemon?.stop();
  deleteNs(NS);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('OVMF PXE → bootrack TFTP', () => {
  it('OVMF\'s own PXE downloads ipxe.efi from us and iPXE starts', async () => {
    qemu = spawn(
      'ip',
      [
        'netns', 'exec', NS, 'qemu-system-x86_64', '-accel', 'tcg', '-machine', 'pc', '-m', '256', '-smp', '1',
        '-nographic', '-monitor', 'none', '-serial', 'stdio',
        '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
        '-drive', `if=pflash,format=raw,unit=1,file=${join(dir, 'vars.fd')}`,
        '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
        // romfile= (empty): no iPXE option ROM, so OVMF's own VirtioNetDxe + PXE does DHCP and TFTP.
        '-device', 'virtio-net-pci,netdev=n0,mac=52:54:00:79:00:01,romfile=,bootindex=1',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    qemu.stdout!.on('data', (d: Buffer) => (serial += d.toString('latin1')));
    const deadline = Date.now() + 240_000;
    const completed = (): boolean => /"path":"ipxe.efi","outcome":"complete"/.test(daemon!.stderr());
    // iPXE prints its banner on the serial console once OVMF has started the image we sent.
    while (Date.now() < deadline && !(completed() && /iPXE/.test(serial))) await new Promise((r) => setTimeout(r, 500));
    expect(completed(), `daemon log:\n${daemon!.stderr().slice(-3000)}\nserial:\n${serial.slice(-2000)}`).toBe(true);
    expect(serial).toMatch(/iPXE/);
    const lines = daemon!.stderr().split('\n').filter((l) => l.includes('"path":"ipxe.efi"'));
    const done = lines.map((l) => JSON.parse(l) as { outcome: string; bytes: number; level: number });
    const full = done.find((d) => d.outcome === 'complete')!;
    expect(full.bytes).toBe(readFileSync('/usr/lib/ipxe/ipxe.efi').length);
    // Nothing about this boot was logged as a failure (a tsize probe, if any, is debug-level).
    expect(done.filter((d) => d.level >= 40)).toEqual([]);
  }, 300_000);
});
