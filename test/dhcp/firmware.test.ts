/**
 * Real firmware against bootrack's DHCP, checked from the packets on the wire (tcpdump on the bridge):
 * full mode — QEMU/TCG VMs on taps bridged to br0 in brkdh-fw, the daemon bound to br0:
 * - SeaBIOS + iPXE ROM (user class iPXE, arch 0) must get the HTTP URL of its iPXE script (no loop);
 * - OVMF native PXE (arch 7, no user class) must get the TFTP program ipxe.efi with siaddr set.
 * proxy mode — br0 in brkdh-px with bootrack (proxy) and, through a veth, dnsmasq in brkdh-pxd as a
 * plain DHCP server: the OVMF VM must bind dnsmasq's address and fetch bootrack's boot file over TFTP.
 */
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePacket, type DhcpPacket } from '../../src/protocol/dhcp/packet.js';
import { classify } from '../../src/protocol/pxe/classify.js';
import { udpPayloads } from '../helpers/dhcp-pcap.js';
import { NetLab, nsRun, requireTools, type DaemonHandle } from '../helpers/dhcp-netns.js';

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const lab = new NetLab();
let daemon: DaemonHandle;
let proxyDaemon: DaemonHandle;
const pcap = () => join(lab.dir, 'br0.pcap');
const proxyPcap = () => join(lab.dir, 'proxy.pcap');
const PROXY_VM = { mac: '52:54:00:dd:f0:03', tap: 'tap3' };

const VMS = [
  { name: 'seabios', mac: '52:54:00:dd:f0:01', tap: 'tap1', ovmf: false },
  { name: 'ovmf', mac: '52:54:00:dd:f0:02', tap: 'tap2', ovmf: true },
];

function packetsOf(mac: string, file = pcap()): Array<DhcpPacket & { dstPort: number; srcPort: number }> {
  if (!existsSync(file) || statSync(file).size < 24) return [];
  const macHex = mac.replaceAll(':', '');
  return udpPayloads(file)
    .filter((u) => [67, 68, 4011].includes(u.dstPort) && u.payload.length >= 240)
    .map((u) => ({ ...decodePacket(u.payload), dstPort: u.dstPort, srcPort: u.srcPort }))
    .filter((p) => p.chaddr.subarray(0, 6).toString('hex') === macHex);
}

/** TFTP read requests (opcode 1) seen on the wire: server address and file name. */
function tftpRequests(file: string): string[] {
  if (!existsSync(file) || statSync(file).size < 24) return [];
  return udpPayloads(file)
    .filter((u) => u.dstPort === 69 && u.payload.readUInt16BE(0) === 1)
    .map((u) => `${u.dst}:${u.payload.subarray(2, u.payload.indexOf(0, 2)).toString('latin1')}`);
}

function startVm(ns: string, tap: string, mac: string, ovmf: boolean, name: string): void {
  nsRun(ns, 'ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  nsRun(ns, 'ip', ['link', 'set', tap, 'master', 'br0', 'up']);
  const vars = join(lab.dir, `${name}.vars`);
  if (ovmf) copyFileSync(OVMF_VARS, vars);
  const firmware = ovmf ? ['-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`] : ['-boot', 'n'];
  lab.spawnIn(ns, 'qemu-system-x86_64', [
    '-accel', 'tcg', '-machine', 'pc', '-m', '256', '-smp', '1', '-display', 'none', '-serial', 'null', '-monitor', 'none',
    '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    // romfile= (empty) removes QEMU's iPXE ROM so OVMF's own PXE runs (lab README pitfall 3).
    '-device', `virtio-net-pci,netdev=n0,mac=${mac}${ovmf ? ',romfile=' : ''},bootindex=1`,
    ...firmware,
  ]);
}

beforeAll(async () => {
  requireTools('ip', 'qemu-system-x86_64', 'tcpdump');
  if (!existsSync(OVMF_CODE)) throw new Error(`${OVMF_CODE} missing (apt install ovmf)`);
  lab.addNamespace('brkdh-fw');
  nsRun('brkdh-fw', 'ip', ['link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0']);
  nsRun('brkdh-fw', 'ip', ['addr', 'add', '10.236.0.1/24', 'dev', 'br0']);
  nsRun('brkdh-fw', 'ip', ['link', 'set', 'br0', 'up']);
  lab.spawnIn('brkdh-fw', 'tcpdump', ['-i', 'br0', '-U', '-s', '0', '-w', pcap(), 'udp port 67 or udp port 68']);
  daemon = await lab.startDaemon('brkdh-fw', {
    advertiseAddress: '10.236.0.1',
    http: { port: 8080 },
    dhcp: { interfaces: ['br0'], subnets: [{ cidr: '10.236.0.0/24', rangeStart: '10.236.0.100', rangeEnd: '10.236.0.150', router: '10.236.0.1' }] },
  });
  for (const vm of VMS) startVm('brkdh-fw', vm.tap, vm.mac, vm.ovmf, vm.name);

  lab.addNamespace('brkdh-px');
  lab.addNamespace('brkdh-pxd');
  nsRun('brkdh-px', 'ip', ['link', 'add', 'br0', 'type', 'bridge', 'forward_delay', '0']);
  nsRun('brkdh-px', 'ip', ['addr', 'add', '10.237.0.1/24', 'dev', 'br0']);
  nsRun('brkdh-px', 'ip', ['link', 'set', 'br0', 'up']);
  lab.veth({ ns: 'brkdh-pxd', dev: 'eth0', cidr: '10.237.0.2/24' }, { ns: 'brkdh-px', dev: 'p-dns' });
  nsRun('brkdh-px', 'ip', ['link', 'set', 'p-dns', 'master', 'br0']);
  lab.spawnIn('brkdh-px', 'tcpdump', ['-i', 'br0', '-U', '-s', '0', '-w', proxyPcap(), 'udp port 67 or udp port 68 or udp port 4011 or udp port 69']);
  lab.spawnIn('brkdh-pxd', 'dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces', '--no-ping', '--dhcp-authoritative',
    '--dhcp-range=10.237.0.100,10.237.0.150,255.255.255.0,1h', `--dhcp-leasefile=${join(lab.dir, 'dnsmasq.leases')}`, '--user=root', `--pid-file=${join(lab.dir, 'dnsmasq.pid')}`,
  ]);
  proxyDaemon = await lab.startDaemon('brkdh-px', { advertiseAddress: '10.237.0.1', dhcp: { interfaces: ['br0'], mode: 'proxy' } }, 'proxy');
  startVm('brkdh-px', PROXY_VM.tap, PROXY_VM.mac, true, 'proxy-ovmf');

  // Wait (bounded) until both firmwares completed DISCOVER/OFFER/REQUEST/ACK with us.
  const deadline = Date.now() + 200_000;
  while (Date.now() < deadline) {
    const full = VMS.every((vm) => packetsOf(vm.mac).some((p) => p.options.messageType === 'ACK'));
    const proxy = tftpRequests(proxyPcap()).length > 0;
    if (full && proxy) break;
    await new Promise((r) => setTimeout(r, 2000));
  }
}, 260_000);

afterAll(async () => {
  await daemon?.stop('SIGKILL');
  await proxyDaemon?.stop('SIGKILL');
  await lab.cleanup();
});

describe('real firmware, checked from the packets', () => {
  it('SeaBIOS + iPXE ROM: classified as iPXE, offered and ACKed its HTTP script URL', () => {
    const packets = packetsOf(VMS[0]!.mac);
    const discover = packets.find((p) => p.options.messageType === 'DISCOVER');
    expect(discover && classify(discover)).toEqual({ kind: 'ipxe', arch: 0, platform: 'bios' });
    const url = 'http://10.236.0.1:8080/boot/52-54-00-dd-f0-01.ipxe';
    for (const type of ['OFFER', 'ACK'] as const) {
      const reply = packets.find((p) => p.options.messageType === type);
      expect(reply?.options.bootfileName, type).toBe(url);
      expect(reply?.file).toBe(url);
      expect(reply?.yiaddr).toMatch(/^10\.236\.0\.1[0-5]\d$/);
      expect(reply?.options.serverId).toBe('10.236.0.1');
    }
  });

  it('OVMF native PXE: classified as a UEFI x64 PXE ROM, offered and ACKed ipxe.efi from next-server 10.236.0.1', () => {
    const packets = packetsOf(VMS[1]!.mac);
    const discover = packets.find((p) => p.options.messageType === 'DISCOVER');
    expect(discover && classify(discover)).toEqual({ kind: 'pxe', arch: 7, platform: 'uefi-x64' });
    for (const type of ['OFFER', 'ACK'] as const) {
      const reply = packets.find((p) => p.options.messageType === type);
      expect(reply?.options.bootfileName, type).toBe('ipxe.efi');
      expect(reply?.file).toBe('ipxe.efi');
      expect(reply?.siaddr).toBe('10.236.0.1');
      expect(reply?.options.clientUuid).toEqual(discover?.options.clientUuid);
    }
  });

  it('proxy mode beside dnsmasq: OVMF binds the address dnsmasq offers and TFTP-fetches the boot file bootrack names', () => {
    const packets = packetsOf(PROXY_VM.mac, proxyPcap());
    const fromDnsmasq = packets.find((p) => p.options.messageType === 'ACK' && p.options.serverId === '10.237.0.2');
    expect(fromDnsmasq?.yiaddr).toMatch(/^10\.237\.0\.1[0-5]\d$/);
    expect(fromDnsmasq?.options.bootfileName).toBeUndefined();
    const proxyOffer = packets.find((p) => p.options.messageType === 'OFFER' && p.options.serverId === '10.237.0.1');
    expect(proxyOffer?.yiaddr).toBe('0.0.0.0');
    expect(proxyOffer?.options.vendorClass).toBe('PXEClient');
    expect(proxyOffer?.options.bootfileName).toBe('ipxe.efi');
    expect(proxyOffer?.siaddr).toBe('10.237.0.1');
    // With discovery control 8 EDK2 may load the file straight from the proxy offer; if it asks on
    // 4011 instead, the answer must go back to port 4011 (firmware-notes.md pitfall 8).
    for (const ack of packets.filter((p) => p.options.messageType === 'ACK' && p.options.serverId === '10.237.0.1')) {
      expect(ack.dstPort).toBe(4011);
      expect(ack.file).toBe('ipxe.efi');
    }
    // The firmware fetched bootrack's boot program from bootrack's address: address from dnsmasq, boot file from us.
    expect(tftpRequests(proxyPcap())).toContain('10.237.0.1:ipxe.efi');
  });
});
