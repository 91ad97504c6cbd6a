/**
 * bootrack's DHCP in full (authoritative) mode against real clients in network namespaces:
 *   brkdh-f-cli  eth0 ─── prov0 10.231.0.1/24 ┐
 *   brkdh-f-rly  r0 10.230.0.2 (+10.232.0.1) ── prov1 10.230.0.1/24 ├ brkdh-f-srv (bootrack, interfaces prov0, prov1)
 *   brkdh-f-oth  eth0 ─── other0 10.233.0.1/24 ┘ (NOT configured: must get nothing)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRegistry, type Registry } from '../../src/registry/index.js';
import { ovmfDiscover, requestHex } from '../helpers/dhcp-packets.js';
import { NetLab, nsRun, requireTools, ROOT, type DaemonHandle } from '../helpers/dhcp-netns.js';

const CONFIG = {
  advertiseAddress: '10.231.0.1',
  http: { port: 8080 },
  dhcp: {
    interfaces: ['prov0', 'prov1'],
    mode: 'full',
    declineQuarantineSeconds: 600,
    subnets: [
      { cidr: '10.231.0.0/24', rangeStart: '10.231.0.100', rangeEnd: '10.231.0.150', router: '10.231.0.1', dnsServers: ['10.231.0.1'], domainName: 'lab.test', leaseSeconds: 600 },
      { cidr: '10.232.0.0/24', rangeStart: '10.232.0.10', rangeEnd: '10.232.0.20', router: '10.232.0.1', leaseSeconds: 900 },
      { cidr: '10.233.0.0/24', rangeStart: '10.233.0.10', rangeEnd: '10.233.0.20', leaseSeconds: 900 },
    ],
  },
};

const lab = new NetLab();
let daemon: DaemonHandle;
let registry: Registry;

function envFile(name: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(join(lab.dir, name), 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

function udhcpc(ns: string, extra: string[] = []): string {
  return nsRun(ns, 'env', [`BRKDH_DIR=${lab.dir}`, 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '3', '-T', '1', '-s', join(ROOT, 'test/helpers/udhcpc-script.sh'), ...extra], 20_000);
}

beforeAll(async () => {
  requireTools('ip', 'dhclient', 'udhcpc');
  lab.addNamespace('brkdh-f-srv');
  lab.addNamespace('brkdh-f-cli');
  lab.addNamespace('brkdh-f-rly');
  lab.addNamespace('brkdh-f-oth');
  lab.veth({ ns: 'brkdh-f-srv', dev: 'prov0', cidr: '10.231.0.1/24' }, { ns: 'brkdh-f-cli', dev: 'eth0' });
  lab.veth({ ns: 'brkdh-f-srv', dev: 'prov1', cidr: '10.230.0.1/24' }, { ns: 'brkdh-f-rly', dev: 'r0', cidr: '10.230.0.2/24' });
  lab.veth({ ns: 'brkdh-f-srv', dev: 'other0', cidr: '10.233.0.1/24' }, { ns: 'brkdh-f-oth', dev: 'eth0' });
  nsRun('brkdh-f-rly', 'ip', ['addr', 'add', '10.232.0.1/32', 'dev', 'lo']);
  nsRun('brkdh-f-srv', 'ip', ['route', 'add', '10.232.0.0/24', 'via', '10.230.0.2']);
  daemon = await lab.startDaemon('brkdh-f-srv', CONFIG);
  registry = openRegistry({ databasePath: join(lab.dir, 'bootrack.db'), secretKey: { path: join(lab.dir, 'bootrack.key') } });
});

afterAll(async () => {
  registry?.close();
  await daemon?.stop('SIGKILL');
  await lab.cleanup();
});

describe('full mode with real clients', () => {
  it('ISC dhclient gets a lease with mask, router, DNS, domain; the lease is bound in the registry; RELEASE frees it', () => {
    const common = ['-4', '-v', '-1', '-sf', join(ROOT, 'test/helpers/dhclient-script.sh'), '-e', `BRKDH_DIR=${lab.dir}`, '-lf', join(lab.dir, 'dhclient.leases'), '-pf', join(lab.dir, 'dhclient.pid'), 'eth0'];
    nsRun('brkdh-f-cli', 'dhclient', common, 30_000);
    const bound = envFile('dhclient-BOUND.env');
    expect(bound.new_ip_address).toMatch(/^10\.231\.0\.(1[0-4]\d|150)$/);
    expect(bound.new_subnet_mask).toBe('255.255.255.0');
    expect(bound.new_routers).toBe('10.231.0.1');
    expect(bound.new_domain_name_servers).toBe('10.231.0.1');
    expect(bound.new_domain_name).toBe('lab.test');
    expect(bound.new_dhcp_server_identifier).toBe('10.231.0.1');
    expect(bound.new_dhcp_lease_time).toBe('600');
    expect(bound.new_filename).toBeUndefined(); // the OS's own client gets no boot file
    const mac = nsRun('brkdh-f-cli', 'cat', ['/sys/class/net/eth0/address']).trim();
    const lease = registry.leases.get(bound.new_ip_address!);
    expect(lease).toMatchObject({ mac, state: 'bound', subnet: '10.231.0.0/24' });
    expect(registry.machines.findId(mac)).toBeNull(); // an OS client is not enlisted
    const timeline = registry.events.list({ mac, kinds: ['dhcp'] }).map((e) => e.type);
    expect(timeline).toEqual(expect.arrayContaining(['discover', 'offer', 'request', 'ack']));

    nsRun('brkdh-f-cli', 'dhclient', ['-r', ...common], 30_000);
    expect(registry.leases.get(bound.new_ip_address!)?.state).toBe('released');
  });

  it('busybox udhcpc gets a lease with the right options', () => {
    udhcpc('brkdh-f-cli');
    const env = envFile('udhcpc-bound.env');
    expect(env.ip).toMatch(/^10\.231\.0\.(1[0-4]\d|150)$/);
    expect(env.subnet).toBe('255.255.255.0');
    expect(env.router).toBe('10.231.0.1');
    expect(env.serverid).toBe('10.231.0.1');
    expect(env.lease).toBe('600');
    expect(env.boot_file).toBeUndefined();
    expect(registry.leases.get(env.ip!)?.state).toBe('bound');
  });

  it('a PXE ROM DISCOVER gets its TFTP program and is enlisted as a new machine; iPXE gets its script URL', () => {
    const mac = '52:54:00:dd:10:01';
    const { replies } = lab.client('brkdh-f-cli', {
      iface: 'eth0', bindPort: 68,
      steps: [
        { hex: ovmfDiscover(mac), to: '255.255.255.255', port: 67, waitMs: 700 },
        { hex: requestHex(mac, { messageType: 'DISCOVER', userClass: { form: 'bare', classes: ['iPXE'] }, clientArch: [7], vendorClass: 'PXEClient:Arch:00007:UNDI:003010' }), to: '255.255.255.255', port: 67, waitMs: 700 },
        { hex: requestHex(mac, { messageType: 'DISCOVER', vendorClass: 'HTTPClient:Arch:00016:UNDI:003000', clientArch: [16] }), to: '255.255.255.255', port: 67, waitMs: 700 },
      ],
    });
    const [pxe, ipxe, http] = [0, 1, 2].map((s) => replies.find((r) => r.step === s)?.packet);
    expect(pxe?.options.messageType).toBe('OFFER');
    expect(pxe?.file).toBe('ipxe.efi');
    expect(pxe?.options.bootfileName).toBe('ipxe.efi');
    expect(pxe?.siaddr).toBe('10.231.0.1');
    expect(pxe?.options.clientUuid?.uuid).toBe('7e57ab1e-0000-4000-8000-0000000000aa');
    expect(ipxe?.options.bootfileName).toBe('http://10.231.0.1:8080/boot/52-54-00-dd-10-01.ipxe');
    expect(http?.options.bootfileName).toBe('http://10.231.0.1:8080/ipxe/ipxe.efi');
    expect(http?.options.vendorClass).toBe('HTTPClient');
    expect(pxe?.yiaddr).toBe(ipxe?.yiaddr); // the same MAC keeps its offered address
    expect(registry.machines.get(mac)).toMatchObject({ state: 'new', firmware: 'uefi', arch: 'amd64' });
  });

  it('REQUEST naming another server is ignored; INIT-REBOOT for an unknown lease and a wrong-subnet REQUEST get NAK', () => {
    const mac = '52:54:00:dd:10:02';
    const { replies } = lab.client('brkdh-f-cli', {
      iface: 'eth0', bindPort: 68,
      steps: [
        { hex: requestHex(mac, { messageType: 'REQUEST', serverId: '10.231.0.99', requestedIp: '10.231.0.120' }), to: '255.255.255.255', port: 67, waitMs: 600 },
        { hex: requestHex(mac, { messageType: 'REQUEST', requestedIp: '10.231.0.121' }), to: '255.255.255.255', port: 67, waitMs: 600 },
        { hex: requestHex(mac, { messageType: 'REQUEST', requestedIp: '192.168.7.7' }), to: '255.255.255.255', port: 67, waitMs: 600 },
      ],
    });
    expect(replies.filter((r) => r.step === 0)).toEqual([]);
    expect(replies.find((r) => r.step === 1)?.packet.options.messageType).toBe('NAK');
    expect(replies.find((r) => r.step === 1)?.from).toBe('10.231.0.1');
    expect(replies.find((r) => r.step === 2)?.packet.options.messageType).toBe('NAK');
    expect(registry.leases.get('10.231.0.120')).toBeNull();
  });

  it('DECLINE quarantines the address: the next client is offered another one', () => {
    const mac = '52:54:00:dd:10:03';
    const first = lab.client('brkdh-f-cli', { iface: 'eth0', bindPort: 68, steps: [{ hex: requestHex(mac, { messageType: 'DISCOVER' }), to: '255.255.255.255', port: 67, waitMs: 600 }] });
    const ip = first.replies[0]!.packet.yiaddr;
    const second = lab.client('brkdh-f-cli', {
      iface: 'eth0', bindPort: 68,
      steps: [
        { hex: requestHex(mac, { messageType: 'REQUEST', serverId: '10.231.0.1', requestedIp: ip }), to: '255.255.255.255', port: 67, waitMs: 600 },
        { hex: requestHex(mac, { messageType: 'DECLINE', serverId: '10.231.0.1', requestedIp: ip }), to: '255.255.255.255', port: 67, waitMs: 400 },
        { hex: requestHex('52:54:00:dd:10:04', { messageType: 'DISCOVER', requestedIp: ip }), to: '255.255.255.255', port: 67, waitMs: 600 },
      ],
    });
    expect(second.replies.find((r) => r.step === 0)?.packet.options.messageType).toBe('ACK');
    expect(second.replies.filter((r) => r.step === 1)).toEqual([]); // DECLINE has no reply
    expect(registry.leases.get(ip)?.state).toBe('declined');
    const other = second.replies.find((r) => r.step === 2)?.packet;
    expect(other?.options.messageType).toBe('OFFER');
    expect(other?.yiaddr).not.toBe(ip);
  });
});

describe('static reservations from the registry', () => {
  it('udhcpc gets its reserved address (outside the dynamic range) and hostname; no one else gets a reserved address', () => {
    const mac = nsRun('brkdh-f-cli', 'cat', ['/sys/class/net/eth0/address']).trim();
    // A reservation belongs to a machine's interface (foreign key). Written by another connection
    // while the daemon runs: it must be honoured from the next request on, without a restart.
    registry.machines.create({ name: 'reserved-1', macs: [mac], state: 'ready' }, { actor: 'test', reason: 'reservation test' });
    registry.leases.reserve({ mac, ip: '10.231.0.77', hostname: 'reserved-1' });
    registry.machines.create({ name: 'reserved-2', macs: ['52:54:00:dd:60:02'], state: 'ready' }, { actor: 'test', reason: 'reservation test' });
    registry.leases.reserve({ mac: '52:54:00:dd:60:02', ip: '10.231.0.149', hostname: null });

    udhcpc('brkdh-f-cli');
    const env = envFile('udhcpc-bound.env');
    expect(env.ip).toBe('10.231.0.77');
    expect(env.hostname).toBe('reserved-1');
    expect(env.router).toBe('10.231.0.1');
    expect(registry.leases.get('10.231.0.77')).toMatchObject({ mac, state: 'bound' });

    // Other clients asking for reserved addresses (one outside, one inside the dynamic range) get others.
    const other = '52:54:00:dd:60:01';
    const { replies } = lab.client('brkdh-f-cli', {
      iface: 'eth0', bindPort: 68,
      steps: [
        { hex: requestHex(other, { messageType: 'DISCOVER', requestedIp: '10.231.0.149' }), to: '255.255.255.255', port: 67, waitMs: 600 },
        { hex: requestHex(other, { messageType: 'REQUEST', requestedIp: '10.231.0.149' }), to: '255.255.255.255', port: 67, waitMs: 600 },
        { hex: requestHex(other, { messageType: 'REQUEST', requestedIp: '10.231.0.77' }), to: '255.255.255.255', port: 67, waitMs: 600 },
      ],
    });
    const offer = replies.find((r) => r.step === 0)?.packet;
    expect(offer?.options.messageType).toBe('OFFER');
    expect(offer?.yiaddr).toMatch(/^10\.231\.0\.(1[0-4]\d|150)$/);
    expect(offer?.yiaddr).not.toBe('10.231.0.149');
    expect(replies.find((r) => r.step === 1)?.packet.options.messageType).toBe('NAK');
    expect(replies.find((r) => r.step === 2)?.packet.options.messageType).toBe('NAK');
    expect(registry.leases.get('10.231.0.149')).toBeNull();

    // The reserved machine itself is offered its address even when it asks for another one.
    const own = lab.client('brkdh-f-cli', { iface: 'eth0', bindPort: 68, steps: [{ hex: requestHex('52:54:00:dd:60:02', { messageType: 'DISCOVER', requestedIp: '10.231.0.120' }), to: '255.255.255.255', port: 67, waitMs: 600 }] });
    expect(own.replies[0]?.packet.yiaddr).toBe('10.231.0.149');
  });
});

describe('relays (giaddr) and several subnets', () => {
  it('a relayed DISCOVER is answered at giaddr:67 from the subnet of giaddr, with options 82 and 61 echoed; INFORM is answered too', () => {
    const relayInfo = [{ code: 1, data: Buffer.from('port-7') }, { code: 2, data: Buffer.from([0xde, 0xad]) }];
    const clientId = Buffer.from([0xff, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x2a]);
    const { replies } = lab.client('brkdh-f-rly', {
      iface: 'r0', bindPort: 67,
      steps: [
        { hex: requestHex('52:54:00:dd:20:01', { messageType: 'DISCOVER', relayAgent: relayInfo, clientId }, { giaddr: '10.232.0.1', hops: 1 }), to: '10.230.0.1', port: 67, waitMs: 800 },
        { hex: requestHex('52:54:00:dd:20:02', { messageType: 'DISCOVER' }, { giaddr: '10.231.0.254', hops: 1 }), to: '10.230.0.1', port: 67, waitMs: 800 },
      ],
    });
    // INFORM is answered by unicast to ciaddr:68 (RFC 2131 §4.3.5), so this step listens on 68.
    const informed = lab.client('brkdh-f-rly', {
      iface: 'r0', bindPort: 68,
      steps: [{ hex: requestHex('52:54:00:dd:20:03', { messageType: 'INFORM' }, { ciaddr: '10.232.0.1' }), to: '10.230.0.1', port: 67, waitMs: 800 }],
    });
    const remote = replies.find((r) => r.step === 0)!;
    expect(remote.port).toBe(67);
    expect(remote.from).toBe('10.230.0.1');
    expect(remote.packet.options.messageType).toBe('OFFER');
    expect(remote.packet.yiaddr).toMatch(/^10\.232\.0\.(1\d|20)$/);
    expect(remote.packet.giaddr).toBe('10.232.0.1');
    expect(remote.packet.options.routers).toEqual(['10.232.0.1']);
    expect(remote.packet.options.leaseSeconds).toBe(900);
    expect(remote.packet.options.relayAgent).toEqual(relayInfo);
    expect(remote.packet.options.clientId).toEqual(clientId); // RFC 6842
    const local = replies.find((r) => r.step === 1);
    // giaddr 10.231.0.254 is not routable from here, so that reply never arrives; the offer on the
    // MAC's timeline proves the subnet choice (offers are kept in memory, not stored as leases).
    expect(local).toBeUndefined();
    const offered = registry.events.list({ mac: '52:54:00:dd:20:02', kinds: ['dhcp'] }).find((e) => e.type === 'offer');
    expect(offered?.data.ip).toMatch(/^10\.231\.0\.(1[0-4]\d|150)$/);
    expect(registry.leases.findByMac('52:54:00:dd:20:02')).toBeNull();
    expect(informed.replies).toHaveLength(1);
    expect(informed.replies[0]!.port).toBe(67);
    const inform = informed.replies[0]!.packet;
    expect(inform.options.messageType).toBe('ACK');
    expect(inform.yiaddr).toBe('0.0.0.0');
    expect(inform.options.leaseSeconds).toBeUndefined();
    expect(inform.options.subnetMask).toBe('255.255.255.0');
    expect(inform.options.clientId).toBeUndefined(); // none was sent, none comes back
  });
});

describe('interface binding (SO_BINDTODEVICE)', () => {
  it('a client on an interface that is not configured gets nothing, though a subnet for it exists', async () => {
    expect(() => udhcpc('brkdh-f-oth')).toThrow();
    const { replies } = lab.client('brkdh-f-oth', { iface: 'eth0', bindPort: 68, steps: [{ hex: ovmfDiscover('52:54:00:dd:30:01'), to: '255.255.255.255', port: 67, waitMs: 1000 }] });
    expect(replies).toEqual([]);
    expect(registry.leases.list({ subnet: '10.233.0.0/24' })).toEqual([]);
    expect(registry.events.list({ mac: '52:54:00:dd:30:01' })).toEqual([]); // the daemon never even saw it
  });
});
