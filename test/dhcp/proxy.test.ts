/**
 * proxyDHCP beside a plain DHCP server: dnsmasq (no PXE options at all) hands out addresses,
 * bootrack only tells PXE clients what to boot. All three sit on one bridge in brkdh-p-lan:
 *   brkdh-p-srv prov0 10.234.0.1 (bootrack, mode proxy) ─┐
 *   brkdh-p-dns eth0 10.234.0.2 (dnsmasq)               ─┼─ br0 in brkdh-p-lan
 *   brkdh-p-cli eth0 (clients)                           ─┘
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRegistry, type Registry } from '../../src/registry/index.js';
import { ovmfDiscover, requestHex } from '../helpers/dhcp-packets.js';
import { NetLab, nsRun, requireTools, ROOT, type DaemonHandle } from '../helpers/dhcp-netns.js';
import { readFileSync } from 'node:fs';

const lab = new NetLab();
let daemon: DaemonHandle;
let registry: Registry;
const IPXE = { userClass: { form: 'bare' as const, classes: ['iPXE'] }, clientArch: [0], vendorClass: 'PXEClient:Arch:00000:UNDI:002001' };

beforeAll(async () => {
  requireTools('ip', 'dnsmasq', 'udhcpc');
  for (const ns of ['brkdh-p-lan', 'brkdh-p-srv', 'brkdh-p-dns', 'brkdh-p-cli']) lab.addNamespace(ns);
  nsRun('brkdh-p-lan', 'ip', ['link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0']);
  nsRun('brkdh-p-lan', 'ip', ['link', 'set', 'br0', 'up']);
  lab.veth({ ns: 'brkdh-p-srv', dev: 'prov0', cidr: '10.234.0.1/24' }, { ns: 'brkdh-p-lan', dev: 'p-srv' });
  lab.veth({ ns: 'brkdh-p-dns', dev: 'eth0', cidr: '10.234.0.2/24' }, { ns: 'brkdh-p-lan', dev: 'p-dns' });
  lab.veth({ ns: 'brkdh-p-cli', dev: 'eth0' }, { ns: 'brkdh-p-lan', dev: 'p-cli' });
  for (const dev of ['p-srv', 'p-dns', 'p-cli']) nsRun('brkdh-p-lan', 'ip', ['link', 'set', dev, 'master', 'br0']);
  lab.spawnIn('brkdh-p-dns', 'dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces', '--no-ping', '--dhcp-authoritative',
    '--dhcp-range=10.234.0.100,10.234.0.150,255.255.255.0,1h', `--dhcp-leasefile=${join(lab.dir, 'dnsmasq.leases')}`, '--user=root', `--pid-file=${join(lab.dir, 'dnsmasq.pid')}`,
  ]);
  daemon = await lab.startDaemon('brkdh-p-srv', { advertiseAddress: '10.234.0.1', dhcp: { interfaces: ['prov0'], mode: 'proxy' } });
  registry = openRegistry({ databasePath: join(lab.dir, 'bootrack.db'), secretKey: { path: join(lab.dir, 'bootrack.key') } });
  // dnsmasq needs a moment to bind; wait until it answers a plain client.
  for (let i = 0; i < 20; i++) {
    try {
      nsRun('brkdh-p-cli', 'env', [`BRKDH_DIR=${lab.dir}`, 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '2', '-T', '1', '-s', join(ROOT, 'test/helpers/udhcpc-script.sh')], 15_000);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
});

afterAll(async () => {
  registry?.close();
  await daemon?.stop('SIGKILL');
  await lab.cleanup();
});

describe('proxyDHCP beside dnsmasq', () => {
  it('an OS client (udhcpc) takes its lease from dnsmasq; bootrack stays silent and stores no lease', () => {
    const env = Object.fromEntries(readFileSync(join(lab.dir, 'udhcpc-bound.env'), 'utf8').split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    expect(env.serverid).toBe('10.234.0.2');
    expect(env.ip).toMatch(/^10\.234\.0\.1[0-5]\d$/);
    const mac = nsRun('brkdh-p-cli', 'cat', ['/sys/class/net/eth0/address']).trim();
    expect(registry.events.list({ mac, kinds: ['dhcp'] }).map((e) => e.type)).not.toContain('offer');
    expect(registry.leases.list()).toEqual([]);
  });

  it('a PXE ROM gets an address offer from dnsmasq and a boot offer (yiaddr 0, option 60 PXEClient, boot file) from bootrack', () => {
    const mac = '52:54:00:dd:60:01';
    const { replies } = lab.client('brkdh-p-cli', { iface: 'eth0', bindPort: 68, steps: [{ hex: ovmfDiscover(mac), to: '255.255.255.255', port: 67, waitMs: 1500 }] });
    const fromDnsmasq = replies.find((r) => r.packet.options.serverId === '10.234.0.2')?.packet;
    const fromUs = replies.find((r) => r.packet.options.serverId === '10.234.0.1')?.packet;
    expect(fromDnsmasq?.options.messageType).toBe('OFFER');
    expect(fromDnsmasq?.yiaddr).toMatch(/^10\.234\.0\./);
    expect(fromDnsmasq?.options.bootfileName).toBeUndefined();
    expect(fromUs?.options.messageType).toBe('OFFER');
    expect(fromUs?.yiaddr).toBe('0.0.0.0');
    expect(fromUs?.options.vendorClass).toBe('PXEClient');
    expect(fromUs?.options.bootfileName).toBe('ipxe.efi');
    expect(fromUs?.siaddr).toBe('10.234.0.1');
    expect(fromUs?.options.vendorSpecific?.toString('hex')).toBe('060108ff'); // discovery control: use this boot file
    expect(fromUs?.options.clientUuid?.uuid).toBe('7e57ab1e-0000-4000-8000-0000000000aa');
    expect(registry.machines.get(mac).state).toBe('new');
    expect(registry.leases.list()).toEqual([]);
  });

  it('the PXE REQUEST on 4011 is answered to its source port: EDK2 sends from 4011, iPXE from 68', () => {
    nsRun('brkdh-p-cli', 'ip', ['addr', 'replace', '10.234.0.149/24', 'dev', 'eth0']); // the address dnsmasq would have bound
    try {
      const edk2 = lab.client('brkdh-p-cli', {
        iface: 'eth0', bindPort: 4011, bindAddress: '10.234.0.149',
        steps: [{ hex: ovmfDiscover('52:54:00:dd:60:01', { messageType: 'REQUEST' }), to: '10.234.0.1', port: 4011, waitMs: 1000 }],
      });
      expect(edk2.replies).toHaveLength(1);
      expect(edk2.replies[0]!.from).toBe('10.234.0.1');
      expect(edk2.replies[0]!.port).toBe(4011);
      const ack = edk2.replies[0]!.packet;
      expect(ack.options.messageType).toBe('ACK');
      expect(ack.file).toBe('ipxe.efi');
      expect(ack.siaddr).toBe('10.234.0.1');
      expect(ack.sname).toBe('10.234.0.1');
      expect(ack.options.vendorClass).toBe('PXEClient');

      const ipxe = lab.client('brkdh-p-cli', {
        iface: 'eth0', bindPort: 68, bindAddress: '10.234.0.149',
        steps: [{ hex: requestHex('52:54:00:dd:60:02', { messageType: 'REQUEST', ...IPXE }, { ciaddr: '10.234.0.149' }), to: '10.234.0.1', port: 4011, waitMs: 1000 }],
      });
      expect(ipxe.replies).toHaveLength(1);
      expect(ipxe.replies[0]!.port).toBe(4011);
      expect(ipxe.replies[0]!.packet.options.bootfileName).toBe('http://10.234.0.1:8080/boot/52-54-00-dd-60-02.ipxe');
    } finally {
      nsRun('brkdh-p-cli', 'ip', ['addr', 'flush', 'dev', 'eth0']);
    }
  });

  it('UEFI HTTP boot gets a proxy offer with option 60 HTTPClient and the .efi URL', () => {
    const { replies } = lab.client('brkdh-p-cli', {
      iface: 'eth0', bindPort: 68,
      steps: [{ hex: requestHex('52:54:00:dd:60:03', { messageType: 'DISCOVER', vendorClass: 'HTTPClient:Arch:00016:UNDI:003000', clientArch: [16] }), to: '255.255.255.255', port: 67, waitMs: 1500 }],
    });
    const ours = replies.find((r) => r.packet.options.serverId === '10.234.0.1')?.packet;
    expect(ours?.yiaddr).toBe('0.0.0.0');
    expect(ours?.options.vendorClass).toBe('HTTPClient');
    expect(ours?.options.bootfileName).toBe('http://10.234.0.1:8080/ipxe/ipxe.efi');
  });
});
