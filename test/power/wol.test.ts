import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTools, waitFor } from '../helpers/power-bmc.js';
import { addVeth, createNetns, uniqueNs, type Netns } from '../helpers/power-netns.js';

/**
 * Wake-on-LAN leaves by the CONFIGURED interface: a namespace with two veth links (two subnets,
 * a multi-homed appliance), tcpdump on the far end of each; the packet sent with interface A is
 * captured on A and not on B, and vice versa.
 */
interface Capture {
  proc: ChildProcess;
  out: string;
  ready: boolean;
}

function capture(ns: Netns, iface: string): Capture {
  const c: Capture = { proc: spawn('ip', ['netns', 'exec', ns.name, 'tcpdump', '-i', iface, '-n', '-l', '-x', '-U', 'udp and udp[8:4] = 0xffffffff and udp[12:2] = 0xffff']), out: '', ready: false };
  c.proc.stdout!.on('data', (d: Buffer) => (c.out += d.toString()));
  c.proc.stderr!.on('data', (d: Buffer) => {
    if (d.toString().includes('listening on')) c.ready = true;
  });
  return c;
}

/** Parses `tcpdump -n -x` text into packets: header line + IP datagram bytes. */
function packets(text: string): Array<{ header: string; bytes: Buffer }> {
  const out: Array<{ header: string; bytes: Buffer }> = [];
  for (const block of text.split(/\n(?=\d\d:\d\d:\d\d)/)) {
    const [header, ...rest] = block.split('\n');
    if (!header || !/ IP /.test(header)) continue;
    const hex = rest.map((l) => l.replace(/^\s*0x[0-9a-f]+:\s*/, '').replace(/\s+/g, '')).join('');
    out.push({ header, bytes: Buffer.from(hex, 'hex') });
  }
  return out;
}

function magicMac(ipDatagram: Buffer): string | null {
  const payload = ipDatagram.subarray((ipDatagram[0]! & 0x0f) * 4 + 8);
  if (payload.length !== 102 || !payload.subarray(0, 6).equals(Buffer.alloc(6, 0xff))) return null;
  const mac = payload.subarray(6, 12);
  for (let i = 1; i < 16; i++) if (!payload.subarray(6 + i * 6, 12 + i * 6).equals(mac)) return null;
  return [...mac].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

describe('Wake-on-LAN from the provisioning interface', () => {
  let ns: Netns;
  const captures: Capture[] = [];

  beforeAll(() => {
    requireTools('tcpdump', 'ip');
    ns = createNetns(uniqueNs('w'));
    addVeth(ns, 'brkpwa0', 'brkpwa1', '10.231.78.1/24');
    addVeth(ns, 'brkpwb0', 'brkpwb1', '10.231.79.1/24');
  });
  afterAll(async () => {
    for (const c of captures) if (c.proc.exitCode === null) c.proc.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    ns?.remove();
  });

  it('the packet is captured on the configured interface and not on the other', async () => {
    const a = capture(ns, 'brkpwa1');
    const b = capture(ns, 'brkpwb1');
    captures.push(a, b);
    await waitFor('tcpdump listening', () => a.ready && b.ready, 10_000);
    const tsx = resolve(import.meta.dirname, '../../node_modules/.bin/tsx');
    const script = resolve(import.meta.dirname, 'fixtures/wol-send.ts');
    const send = (iface: string, mac: string): string => execFileSync('ip', ['netns', 'exec', ns.name, tsx, script, iface, mac], { encoding: 'utf8', timeout: 30_000 });
    expect(send('brkpwa0', '52:54:00:0a:0a:01')).toContain('sent');
    expect(send('brkpwb0', '52:54:00:0b:0b:02')).toContain('sent');
    await waitFor('both captures', () => packets(a.out).length >= 1 && packets(b.out).length >= 1, 10_000);
    await new Promise((r) => setTimeout(r, 500)); // anything late would show up now

    const onA = packets(a.out);
    const onB = packets(b.out);
    expect(onA).toHaveLength(1);
    expect(onB).toHaveLength(1);
    expect(onA[0]!.header).toMatch(/IP 10\.231\.78\.1\.\d+ > 10\.231\.78\.255\.9: UDP, length 102/);
    expect(magicMac(onA[0]!.bytes)).toBe('52:54:00:0a:0a:01');
    expect(onB[0]!.header).toMatch(/IP 10\.231\.79\.1\.\d+ > 10\.231\.79\.255\.9: UDP, length 102/);
    expect(magicMac(onB[0]!.bytes)).toBe('52:54:00:0b:0b:02');
  }, 60_000);
});
