import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildTimeline, type TimelineEvent } from '../../src/api/timeline.js';
import type { Clock } from '../../src/common/logger.js';
import { startApi, type ApiHarness } from '../helpers/api-server.js';

const MAC = '52:54:00:06:00:01';
const T0 = Date.parse('2026-01-01T10:00:00.000Z');

/** A recorded boot: [seconds after T0, kind, type, data?]. */
type Step = [number, string, string, Record<string, unknown>?];

function events(steps: Step[]): TimelineEvent[] {
  return steps.map(([s, kind, type, data], i) => ({ id: i + 1, at: new Date(T0 + s * 1000).toISOString(), mac: MAC, kind, type, data: data ?? {} }));
}

// A full BIOS PXE boot: firmware DHCP, TFTP of undionly.kpxe, iPXE's own DHCP, script, kernel, initrd, agent.
const FULL: Step[] = [
  [0, 'dhcp', 'discover'],
  [1, 'dhcp', 'offer', { ip: '10.0.0.50' }],
  [2, 'dhcp', 'request'],
  [2, 'dhcp', 'ack', { ip: '10.0.0.50' }],
  [3, 'tftp', 'transfer_started', { file: 'undionly.kpxe' }],
  [4, 'tftp', 'transfer_completed', { file: 'undionly.kpxe', bytes: 70000 }],
  [6, 'dhcp', 'discover'],
  [6, 'dhcp', 'offer'],
  [7, 'dhcp', 'request'],
  [7, 'dhcp', 'ack'],
  [8, 'http', 'script_served', { path: '/boot/52-54-00-06-00-01.ipxe' }],
  [9, 'http', 'asset_completed', { path: '/images/discovery/vmlinuz' }],
  [10, 'http', 'asset_completed', { path: '/images/discovery/initrd.img' }],
  [25, 'agent', 'booted'],
  [30, 'agent', 'facts_stored'],
  [31, 'agent', 'ssh_ready'],
];

const NOW = new Date(T0 + 3600_000);

describe('boot timeline verdicts (pure)', () => {
  const stalls: Array<[string, number, string | null, string]> = [
    ['discover only', 1, 'dhcp_offer', 'discover received but no offer sent'],
    ['offer sent but no request', 2, 'dhcp_request', 'offer sent but no request'],
    ['request but no ack', 3, 'dhcp_ack', 'request received but no ack sent'],
    ['ack sent but no TFTP', 4, 'tftp', 'ack sent but no TFTP'],
    ['TFTP started, never completed', 5, 'tftp_transfer', 'boot program transfer started but never completed'],
    ['boot program sent but no script fetched', 10, 'script', 'boot program sent but no script fetched'],
    ['script served but no kernel fetched', 11, 'kernel', 'script served but no kernel fetched'],
    ['kernel sent but no agent check-in', 13, 'agent_booted', 'kernel sent but no agent check-in'],
    ['agent booted but no facts', 14, 'facts', 'agent booted but no facts'],
    ['facts but no ssh_ready', 15, 'ssh_ready', 'facts but no ssh_ready'],
    ['complete', 16, null, 'complete: agent reported ssh_ready'],
  ];

  it.each(stalls)('%s', (_name, count, stalledAt, verdict) => {
    const t = buildTimeline(events(FULL.slice(0, count)), { now: NOW });
    expect(t.boots).toHaveLength(1);
    expect(t.boots[0]!.stalledAt).toBe(stalledAt);
    expect(t.boots[0]!.verdict).toBe(verdict);
    expect(t.boots[0]!.steps).toHaveLength(count);
    expect(t.boots[0]!.inProgress).toBe(false);
  });

  it("iPXE's second DISCOVER seconds after the TFTP load stays in the same boot", () => {
    const t = buildTimeline(events(FULL), { now: NOW });
    expect(t.boots).toHaveLength(1);
    expect(t.boots[0]!.steps.map((s) => s.type).filter((x) => x === 'discover')).toHaveLength(2);
  });

  it('a DISCOVER after a gap, or after the agent checked in, starts a new boot', () => {
    const reboot: Step[] = [...FULL, [40, 'dhcp', 'discover'], [41, 'dhcp', 'offer']];
    const t = buildTimeline(events(reboot), { now: NOW });
    expect(t.boots.map((b) => b.stalledAt)).toEqual([null, 'dhcp_request']);
    const gap: Step[] = [[0, 'dhcp', 'discover'], [1, 'dhcp', 'offer'], [300, 'dhcp', 'discover'], [301, 'dhcp', 'offer'], [302, 'dhcp', 'request'], [302, 'dhcp', 'ack']];
    const g = buildTimeline(events(gap), { now: NOW, gapMs: 60_000 });
    expect(g.boots.map((b) => b.verdict)).toEqual(['offer sent but no request', 'ack sent but no TFTP']);
  });

  it('a failed TFTP transfer and a NAK are named', () => {
    const failed = buildTimeline(events([...FULL.slice(0, 5), [9, 'tftp', 'transfer_failed', { error: 'timeout' }]]), { now: NOW });
    expect(failed.boots[0]!.verdict).toBe('boot program transfer failed');
    const nak = buildTimeline(events([...FULL.slice(0, 3), [3, 'dhcp', 'nak']]), { now: NOW });
    expect(nak.boots[0]!.verdict).toBe('request refused with a NAK');
  });

  it('UEFI HTTP boot (program over HTTP) and iPXE-in-ROM (no TFTP) reach the script without a TFTP verdict', () => {
    const uefi = buildTimeline(events([...FULL.slice(0, 4), [3, 'http', 'asset_completed', { path: '/ipxe/ipxe.efi' }]]), { now: NOW });
    expect(uefi.boots[0]!.stalledAt).toBe('script');
    const rom = buildTimeline(events([...FULL.slice(0, 4), [3, 'http', 'script_served', { path: '/boot/x.ipxe' }]]), { now: NOW });
    expect(rom.boots[0]!.stalledAt).toBe('kernel');
  });

  it('reads the shapes the boot side records: tftp transfer+outcome, probe, refused; http asset paths', () => {
    const ack = FULL.slice(0, 4);
    const delivered = buildTimeline(events([...ack, [3, 'tftp', 'probe', { path: 'ipxe.efi', outcome: 'probe' }], [4, 'tftp', 'transfer', { path: 'ipxe.efi', outcome: 'complete' }]]), { now: NOW });
    expect(delivered.boots[0]!.verdict).toBe('boot program sent but no script fetched');
    const unconfirmed = buildTimeline(events([...ack, [4, 'tftp', 'transfer', { path: 'undionly.kpxe', outcome: 'unconfirmed' }]]), { now: NOW });
    expect(unconfirmed.boots[0]!.stalledAt).toBe('script');
    const timedOut = buildTimeline(events([...ack, [9, 'tftp', 'transfer', { path: 'undionly.kpxe', outcome: 'timeout' }]]), { now: NOW });
    expect(timedOut.boots[0]).toMatchObject({ stalledAt: 'tftp_transfer', verdict: 'boot program transfer failed' });
    const refused = buildTimeline(events([...ack, [3, 'tftp', 'refused', { path: '../etc/passwd', reason: 'traversal' }]]), { now: NOW });
    expect(refused.boots[0]!.verdict).toBe('boot program transfer failed');
    const kernel = buildTimeline(
      events([...ack, [5, 'http', 'script_served', {}], [6, 'http', 'asset_completed', { asset: 'discovery/initrd.img' }], [7, 'http', 'asset_completed', { asset: 'discovery/vmlinuz' }]]),
      { now: NOW },
    );
    expect(kernel.boots[0]!.verdict).toBe('kernel sent but no agent check-in');
    const efiOverHttp = buildTimeline(events([...ack, [3, 'http', 'asset_completed', { asset: 'ipxe/ipxe.efi' }]]), { now: NOW });
    expect(efiOverHttp.boots[0]!.stalledAt).toBe('script');
  });

  it('events before the first boot are kept apart; other kinds ride along without deciding', () => {
    const t = buildTimeline(events([[0, 'power', 'power_action', { action: 'cycle' }], [5, 'dhcp', 'discover'], [6, 'state', 'transition', { to: 'ready' }]]), { now: NOW });
    expect(t.before.map((s) => s.type)).toEqual(['power_action']);
    expect(t.boots[0]!.steps.map((s) => s.type)).toEqual(['discover', 'transition']);
    expect(t.boots[0]!.stalledAt).toBe('dhcp_offer');
  });

  it('a boot whose last event is recent is in progress', () => {
    const t = buildTimeline(events(FULL.slice(0, 2)), { now: new Date(T0 + 5_000), stallAfterMs: 120_000 });
    expect(t.boots[0]!.inProgress).toBe(true);
  });
});

describe('GET /machines/:ref/timeline from recorded events', () => {
  let h: ApiHarness;
  let now = T0;
  const clock: Clock = { now: () => new Date(now) };
  beforeAll(async () => {
    h = await startApi({ clock });
  });
  afterAll(async () => h.close());

  it('joins events recorded by MAC (before enlistment) and by machine id, and names the stall', async () => {
    const record = (s: number, kind: 'dhcp' | 'tftp' | 'http' | 'agent', type: string, data: Record<string, unknown> = {}, machineId?: string): void => {
      now = T0 + s * 1000;
      h.registry.events.append({ mac: machineId ? null : MAC, machineId, kind, type, actor: kind, data });
    };
    record(0, 'dhcp', 'discover');
    record(1, 'dhcp', 'offer');
    record(2, 'dhcp', 'request');
    record(2, 'dhcp', 'ack');
    const m = h.registry.machines.create({ name: 'tl-1', macs: [MAC] }, { actor: 'dhcp' });
    record(3, 'tftp', 'transfer_started', { file: 'undionly.kpxe' });
    record(4, 'tftp', 'transfer_completed', { file: 'undionly.kpxe' });
    record(8, 'http', 'script_served', { path: '/boot/52-54-00-06-00-01.ipxe' }, m.id);
    now = T0 + 3600_000;
    const r = await h.call<{ machine: { name: string }; boots: Array<{ stalledAt: string; verdict: string; inProgress: boolean; steps: unknown[] }> }>('GET', `/api/v1/machines/${MAC}/timeline`);
    expect(r.status).toBe(200);
    expect(r.body.machine.name).toBe('tl-1');
    expect(r.body.boots).toHaveLength(1);
    expect(r.body.boots[0]).toMatchObject({ stalledAt: 'kernel', verdict: 'script served but no kernel fetched', inProgress: false });
  });
});
