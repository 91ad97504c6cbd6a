/**
 * Restart and fuzz, against the real daemon in brkdh-r-srv (prov0 10.231.0.1) with clients in brkdh-r-cli.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRegistry } from '../../src/registry/index.js';
import { udpPayloads } from '../helpers/dhcp-pcap.js';
import { requestHex } from '../helpers/dhcp-packets.js';
import { NetLab, nsRun, requireTools, ROOT } from '../helpers/dhcp-netns.js';

const lab = new NetLab();
const subnet = (rangeEnd: string) => ({
  advertiseAddress: '10.231.0.1',
  dhcp: { interfaces: ['prov0'], mode: 'full', subnets: [{ cidr: '10.231.0.0/16', rangeStart: '10.231.0.100', rangeEnd, leaseSeconds: 600 }] },
});
const macs = (from: number, n: number) => Array.from({ length: n }, (_, i) => `52:54:00:dd:40:${(from + i).toString(16).padStart(2, '0')}`);

beforeAll(() => {
  requireTools('ip', 'udhcpc');
  lab.addNamespace('brkdh-r-srv');
  lab.addNamespace('brkdh-r-cli');
  lab.veth({ ns: 'brkdh-r-srv', dev: 'prov0', cidr: '10.231.0.1/16' }, { ns: 'brkdh-r-cli', dev: 'eth0' });
});

afterAll(async () => {
  await lab.cleanup();
});

describe('restart mid-pool', () => {
  it('a killed and restarted daemon keeps every lease and never hands an address out twice', async () => {
    const config = subnet('10.231.0.119'); // 20 addresses
    let daemon = await lab.startDaemon('brkdh-r-srv', config, 'restart');
    const first = lab.client('brkdh-r-cli', { iface: 'eth0', bindPort: 68, dora: { macs: macs(0, 12), to: '255.255.255.255', port: 67, timeoutMs: 2000 } }).dora;
    expect(first.every((d) => d.acked !== null)).toBe(true);
    await daemon.stop('SIGKILL'); // no graceful shutdown: only what was committed survives
    daemon = await lab.startDaemon('brkdh-r-srv', config, 'restart');
    try {
      const second = lab.client('brkdh-r-cli', { iface: 'eth0', bindPort: 68, dora: { macs: [...macs(12, 9), ...macs(0, 12)], to: '255.255.255.255', port: 67, timeoutMs: 2000 } }).dora;
      const newcomers = second.slice(0, 9);
      const returning = second.slice(9);
      // 8 addresses were left: 8 newcomers are served, the 9th finds the pool exhausted.
      expect(newcomers.slice(0, 8).every((d) => d.acked !== null)).toBe(true);
      expect(newcomers[8]).toMatchObject({ offered: null, acked: null });
      // Returning clients get the very address they held before the restart.
      expect(returning.map((d) => d.acked)).toEqual(first.map((d) => d.acked));
      const all = [...first.map((d) => d.acked), ...newcomers.slice(0, 8).map((d) => d.acked)];
      expect(new Set(all).size).toBe(20);
    } finally {
      await daemon.stop();
    }
    const registry = openRegistry({ databasePath: join(lab.dir, 'restart.db'), secretKey: { path: join(lab.dir, 'restart.key') } });
    try {
      const bound = registry.leases.list({ activeOnly: true });
      expect(bound).toHaveLength(20);
      expect(new Set(bound.map((l) => l.mac)).size).toBe(20);
    } finally {
      registry.close();
    }
  });
});

describe('fuzz', () => {
  it('1e5 random and mutated datagrams: no crash, no handler error, and udhcpc is still served afterwards', async () => {
    const daemon = await lab.startDaemon('brkdh-r-srv', subnet('10.231.255.254'), 'fuzz');
    const seeds = [
      ...['seabios-ipxe.pcap', 'ovmf-pxe.pcap', 'ipxe-efi.pcap'].map((f) => udpPayloads(join(ROOT, 'testdata/dhcp', f))[0]!.payload.toString('hex')),
      requestHex('52:54:00:dd:50:01', { messageType: 'REQUEST', serverId: '10.231.0.1', requestedIp: '10.231.0.100' }),
      requestHex('52:54:00:dd:50:02', { messageType: 'RELEASE' }, { ciaddr: '10.231.0.101' }),
      requestHex('52:54:00:dd:50:03', { messageType: 'DISCOVER', relayAgent: [{ code: 1, data: Buffer.from('x') }] }, { giaddr: '10.231.0.9' }),
    ];
    const fuzz = await lab.clientAsync('brkdh-r-cli', { iface: 'eth0', bindPort: 68, fuzz: { count: 100_000, to: '255.255.255.255', port: 67, seeds } }, 590_000);
    expect(fuzz.sent).toBe(100_000);
    expect(fuzz.probesAnswered).toBeGreaterThanOrEqual(1980); // of 2000 flow-control probes
    expect(daemon.proc.exitCode).toBeNull();
    nsRun('brkdh-r-cli', 'env', [`BRKDH_DIR=${lab.dir}`, 'udhcpc', '-i', 'eth0', '-f', '-q', '-n', '-t', '5', '-T', '2', '-s', join(ROOT, 'test/helpers/udhcpc-script.sh')], 30_000);
    const metrics = await daemon.stop();
    expect(metrics).not.toBeNull();
    const v = metrics!.values;
    const count = (prefix: string) => Object.entries(v).filter(([k]) => k.startsWith(prefix)).reduce((n, [, x]) => n + x, 0);
    const seen = count('bootrack_dhcp_received_total') + (v['bootrack_dhcp_dropped_total{"reason":"malformed"}'] ?? 0);
    // Every datagram the kernel delivered was decoded or refused; report how many reached the daemon.
    console.log(`fuzz: sent ${fuzz.sent}, seen by the daemon ${seen}, probes ${fuzz.probesAnswered}/${fuzz.probesAnswered + fuzz.probesLost}, replies ${fuzz.fuzzReplies}, malformed ${v['bootrack_dhcp_dropped_total{"reason":"malformed"}'] ?? 0}`);
    expect(seen).toBeGreaterThanOrEqual(90_000);
    expect(v['bootrack_dhcp_dropped_total{"reason":"handler_error"}'] ?? 0).toBe(0);
    expect(metrics!.errors).toEqual([]);
  }, 600_000);
});
