import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { factsRequest } from '../../src/api/schemas.js';
import { GOLDEN_LLDPDUS, LLDPD_BRIDGE_MAC_IDS_SUMMARY } from '../../src/protocol/lldp/testdata/golden.js';
import { factsFor, startApi, type ApiHarness } from '../helpers/api-server.js';

// The facts POST with raw LLDPDUs (as the discovery agent's bootrack-probe captures them) and the
// BMC's LAN address: the real app, the real registry on a temp file, golden frames from lldpd.

const MAC_IDS = GOLDEN_LLDPDUS.lldpdBridgeMacIds;
const LOCAL_IDS = GOLDEN_LLDPDUS.lldpdLocalIds;

let h: ApiHarness;
let seq = 0;
beforeAll(async () => {
  h = await startApi();
});
afterAll(async () => {
  await h?.close();
});

/** A commissioning machine with a fresh agent token. */
async function commissioning(): Promise<{ id: string; mac: string; token: string }> {
  seq++;
  const mac = `52:54:00:11:d0:${seq.toString(16).padStart(2, '0')}`;
  const m = await h.call<{ id: string }>('POST', '/api/v1/machines', { body: { name: `lldp${seq}`, macs: [mac] } });
  expect(m.status).toBe(201);
  await h.call('POST', `/api/v1/machines/${m.body.id}/commission`);
  return { id: m.body.id, mac, token: h.registry.tokens.create({ name: `boot-lldp${seq}`, role: 'agent', machineId: m.body.id }).token };
}

describe('facts.lldpFrames: decoded by the appliance into facts.lldp neighbours', () => {
  it('golden lldpd frames on two interfaces become neighbours; raw frames are stored too', async () => {
    const { id, mac, token } = await commissioning();
    const lldpFrames = { eth0: [MAC_IDS], eth1: [LOCAL_IDS] };
    const r = await h.call('POST', '/api/v1/agent/facts', { token, body: { facts: factsFor([mac], { lldpFrames }), mac } });
    expect(r.status, r.text).toBe(200);
    const facts = h.registry.machines.get(id).facts as { lldp: unknown[]; lldpFrames: unknown };
    expect(facts.lldpFrames).toEqual(lldpFrames);
    expect(facts.lldp).toEqual([
      { interface: 'eth0', ...LLDPD_BRIDGE_MAC_IDS_SUMMARY },
      expect.objectContaining({ interface: 'eth1', chassisId: 'brkds-chassis-7', portId: 'Gi1/0/7', portDescription: 'uplink to rack 7' }),
    ]);
    // and the API view carries them
    const view = await h.call<{ facts: { lldp: Array<{ systemName?: string }> } }>('GET', `/api/v1/machines/${id}`);
    expect(view.body.facts.lldp.map((n) => n.systemName)).toEqual(['brkds-switch', 'brkds-switch']);
  });

  it('a malformed frame is logged and skipped; the good ones and the rest of the facts are stored', async () => {
    const { id, mac, token } = await commissioning();
    const truncated = MAC_IDS.slice(0, 30);
    const noTtl = '0207049adfcc8dd4590407039adfcc8dd4590000';
    const before = h.logs.length;
    const r = await h.call<{ state: string }>('POST', '/api/v1/agent/facts', { token, body: { facts: factsFor([mac], { lldpFrames: { eth0: [truncated, MAC_IDS, noTtl] } }), mac } });
    expect(r.status, r.text).toBe(200);
    expect(r.body.state).toBe('ready');
    const m = h.registry.machines.get(id);
    expect(m.cpuCount).toBe(8);
    expect((m.facts as { lldp: Array<{ systemName: string }> }).lldp.map((n) => n.systemName)).toEqual(['brkds-switch']);
    const warnings = h.logs.slice(before).filter((l) => l.level === 'warn' && l.message === 'bad LLDPDU from the agent skipped');
    expect(warnings.map((w) => (w.fields as { reason: string; frame: number }).reason)).toEqual(['truncated_value', 'missing_mandatory']);
    expect(warnings.map((w) => (w.fields as { frame: number; code: string }).frame)).toEqual([0, 2]);
    expect(warnings.every((w) => (w.fields as { code: string; machine: string }).code === 'LLDP_MALFORMED' && (w.fields as { machine: string }).machine === id)).toBe(true);
  });

  it('the same neighbour twice on one interface is one entry (the last frame wins); TTL 0 removes it', async () => {
    const { id, mac, token } = await commissioning();
    // the same chassis and port IDs with TTL 0: lldpd's shutdown LLDPDU
    const shutdown = MAC_IDS.replace('060200040a', '060200000a');
    expect(shutdown).not.toBe(MAC_IDS);
    const r = await h.call('POST', '/api/v1/agent/facts', { token, body: { facts: factsFor([mac], { lldpFrames: { eth0: [MAC_IDS, MAC_IDS, LOCAL_IDS, shutdown], eth1: [LOCAL_IDS] } }), mac } });
    expect(r.status, r.text).toBe(200);
    const lldp = (h.registry.machines.get(id).facts as { lldp: Array<{ interface: string; chassisId: string }> }).lldp;
    expect(lldp.map((n) => `${n.interface} ${n.chassisId}`)).toEqual(['eth0 brkds-chassis-7', 'eth1 brkds-chassis-7']);
  });

  it('an agent that sends neither lldp nor lldpFrames (or the old empty lldp) is still accepted', async () => {
    const { mac, token } = await commissioning();
    const facts = factsFor([mac]);
    delete facts.lldp;
    const r = await h.call('POST', '/api/v1/agent/facts', { token, body: { facts, mac } });
    expect(r.status, r.text).toBe(200);
  });
});

describe('FactsRequest schema: lldpFrames and bmc', () => {
  const base = factsFor(['52:54:00:11:d1:01']);
  const ok = (facts: Record<string, unknown>): boolean => factsRequest.safeParse({ facts }).success;

  it('bmc is {address, mac?} or null; a bad MAC or an unknown field is refused', () => {
    expect(ok({ ...base, bmc: { address: '10.231.0.77' } })).toBe(true);
    expect(ok({ ...base, bmc: { address: '10.231.0.77', mac: '02:42:ac:11:00:77' } })).toBe(true);
    expect(ok({ ...base, bmc: null })).toBe(true);
    expect(ok({ ...base, bmc: { address: '10.231.0.77', mac: 'nope' } })).toBe(false);
    expect(ok({ ...base, bmc: { address: '10.231.0.77', channel: 1 } })).toBe(false);
  });

  it('lldpFrames: interface name → lowercase hex strings; bounded in size and count', () => {
    expect(ok({ ...base, lldpFrames: { eth0: [MAC_IDS], 'enp1s0f1.100': [] } })).toBe(true);
    expect(ok({ ...base, lldpFrames: { eth0: ['XYZ'] } })).toBe(false);
    expect(ok({ ...base, lldpFrames: { 'bad name with spaces': [MAC_IDS] } })).toBe(false);
    expect(ok({ ...base, lldpFrames: { eth0: ['00'.repeat(1601)] } })).toBe(false);
    expect(ok({ ...base, lldpFrames: { eth0: new Array(65).fill(MAC_IDS) } })).toBe(false);
    expect(ok({ ...base, lldpFrames: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`eth${i}`, []])) })).toBe(false);
    // well-formed hex that is not an LLDPDU passes the schema: the appliance decodes and skips it
    expect(ok({ ...base, lldpFrames: { eth0: ['00'] } })).toBe(true);
  });
});
