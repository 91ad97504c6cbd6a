import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MachineView } from '../../src/api/index.js';
import { silentLogger } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import { configSchema } from '../../src/config/schema.js';
import { createPowerControl } from '../../src/power/index.js';
import type { EventRecord, TokenRecord } from '../../src/registry/index.js';
import { factsFor, SSH_KEY, startApi, type ApiHarness } from '../helpers/api-server.js';

type Items<T> = { items: T[] };


/** Every route's happy path over real HTTP with the real registry; power = null (no power module). */
describe('API routes (admin, power not configured)', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApi();
  });
  afterAll(async () => h.close());

  it('GET /healthz answers without a token', async () => {
    const r = await h.call<{ status: string }>('GET', '/api/v1/healthz', { token: null });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('ok');
  });

  it('GET /metrics answers Prometheus text without a token and counts API requests', async () => {
    await h.call('GET', '/api/v1/machines');
    const r = await h.call('GET', '/metrics', { token: null });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('text/plain');
    expect(r.text).toMatch(/bootrack_api_requests_total\{route="machines.list",method="GET",status="200"\} \d+/);
  });

  it('unknown routes answer 404 ROUTE_NOT_FOUND as JSON', async () => {
    const r = await h.call('GET', '/api/v1/nope');
    expect(r.status).toBe(404);
    expect(r.body.code).toBe('ROUTE_NOT_FOUND');
  });

  it('machines: create, get by id/name/any MAC spelling, list with filters, patch, tags, interfaces, delete', async () => {
    const created = await h.call<MachineView>('POST', '/api/v1/machines', { body: { name: 'rack1-n1', macs: ['52:54:00:aa:00:01'], arch: 'amd64', tags: ['gpu'] } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'rack1-n1', state: 'new', arch: 'amd64', tags: ['gpu'], ipAddresses: [] });
    const id = created.body.id;
    for (const ref of [id, 'rack1-n1', '52-54-00-AA-00-01', '525400aa0001']) {
      const r = await h.call<MachineView>('GET', `/api/v1/machines/${ref}`);
      expect(r.status, ref).toBe(200);
      expect(r.body.id).toBe(id);
    }
    await h.call('POST', '/api/v1/machines', { body: { name: 'rack1-n2', macs: ['52:54:00:aa:00:02'], arch: 'arm64' } });
    const byArch = await h.call<Items<MachineView>>('GET', '/api/v1/machines?arch=arm64');
    expect(byArch.body.items.map((m) => m.name)).toEqual(['rack1-n2']);
    const byTag = await h.call<Items<MachineView>>('GET', '/api/v1/machines?tag=gpu');
    expect(byTag.body.items.map((m) => m.name)).toEqual(['rack1-n1']);
    const byMac = await h.call<Items<MachineView>>('GET', '/api/v1/machines?mac=52:54:00:aa:00:02');
    expect(byMac.body.items.map((m) => m.name)).toEqual(['rack1-n2']);

    const patched = await h.call<MachineView>('PATCH', `/api/v1/machines/${id}`, { body: { name: 'rack1-node1', firmware: 'uefi' } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'rack1-node1', firmware: 'uefi' });

    const tagged = await h.call<MachineView>('POST', `/api/v1/machines/${id}/tags`, { body: { add: ['ssd', 'rack1'], remove: ['gpu'] } });
    expect(tagged.body.tags).toEqual(['rack1', 'ssd']);

    const nic = await h.call<MachineView>('POST', `/api/v1/machines/${id}/interfaces`, { body: { mac: '52:54:00:aa:01:01', name: 'eth1' } });
    expect(nic.status).toBe(201);
    expect(nic.body.interfaces.map((i) => i.mac)).toContain('52:54:00:aa:01:01');
    const dup = await h.call('POST', `/api/v1/machines/${id}/interfaces`, { body: { mac: '52:54:00:aa:00:02' } });
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe('DUPLICATE_MAC');
    const unNic = await h.call<MachineView>('DELETE', `/api/v1/machines/${id}/interfaces/52-54-00-aa-01-01`);
    expect(unNic.status).toBe(200);
    expect(unNic.body.interfaces).toHaveLength(1);

    const removed = await h.call('DELETE', '/api/v1/machines/rack1-n2');
    expect(removed.status).toBe(204);
    expect((await h.call('GET', '/api/v1/machines/rack1-n2')).body.code).toBe('MACHINE_NOT_FOUND');
  });

  it('MachineView carries the addresses of active leases of its MACs', async () => {
    const m = await h.call<MachineView>('POST', '/api/v1/machines', { body: { name: 'leased', macs: ['52:54:00:bb:00:01'] } });
    h.registry.leases.write({ ip: '10.9.0.20', mac: '52:54:00:bb:00:01', subnet: '10.9.0.0/24', state: 'bound', expiresAt: new Date(Date.now() + 3_600_000) });
    h.registry.leases.write({ ip: '10.9.0.21', mac: '52:54:00:bb:00:01', subnet: '10.9.1.0/24', state: 'expired', expiresAt: new Date(Date.now() - 1000) });
    const r = await h.call<MachineView>('GET', `/api/v1/machines/${m.body.id}`);
    expect(r.body.ipAddresses).toEqual(['10.9.0.20']);
    const leases = await h.call<Items<{ ip: string; state: string }>>('GET', '/api/v1/leases?mac=52-54-00-bb-00-01');
    expect(leases.status).toBe(200);
    expect(leases.body.items.map((l) => l.ip).sort()).toEqual(['10.9.0.20', '10.9.0.21']);
    const active = await h.call<Items<{ ip: string }>>('GET', '/api/v1/leases?active=true');
    expect(active.body.items.map((l) => l.ip)).toEqual(['10.9.0.20']);
  });

  it('power-settings are write-only: the view says hasCredentials, never the password', async () => {
    const m = await h.call<MachineView>('POST', '/api/v1/machines', { body: { name: 'bmc1', macs: ['52:54:00:cc:00:01'] } });
    const r = await h.call<MachineView>('PUT', `/api/v1/machines/${m.body.id}/power-settings`, { body: { type: 'ipmi', address: '10.0.0.9', username: 'root', password: 'hunter2-secret' } });
    expect(r.status).toBe(200);
    expect(r.body.power).toMatchObject({ type: 'ipmi', address: '10.0.0.9', hasCredentials: true });
    expect(r.text).not.toContain('hunter2-secret');
    expect(h.registry.machines.getPowerCredentials(m.body.id)).toEqual({ username: 'root', password: 'hunter2-secret' });
  });

  it('power routes answer 409 POWER_NOT_CONFIGURED without a power module; commission still transitions', async () => {
    const m = await h.call<MachineView>('POST', '/api/v1/machines', { body: { name: 'nopower', macs: ['52:54:00:dd:00:01'] } });
    for (const [method, path, body] of [
      ['GET', `/api/v1/machines/${m.body.id}/power`, undefined],
      ['POST', `/api/v1/machines/${m.body.id}/power`, { action: 'on' }],
      ['PUT', `/api/v1/machines/${m.body.id}/boot-device`, { device: 'pxe', persistent: false }],
    ] as const) {
      const r = await h.call(method, path, { body });
      expect(r.status, `${method} ${path}`).toBe(409);
      expect(r.body.code).toBe('POWER_NOT_CONFIGURED');
    }
    const c = await h.call<MachineView>('POST', `/api/v1/machines/${m.body.id}/commission`);
    expect(c.status).toBe(200);
    expect(c.body.state).toBe('commissioning');
    const again = await h.call('POST', `/api/v1/machines/${m.body.id}/commission`);
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('ILLEGAL_TRANSITION');
  });

  it('allocate → deploy (ephemeral profile) → agent ssh_ready → deployed → release; requestKey makes allocate idempotent', async () => {
    const m = await h.call<MachineView>('POST', '/api/v1/machines', { body: { name: 'alloc1', macs: ['52:54:00:ee:00:01'], tags: ['pool-x'] } });
    h.registry.machines.transition(m.body.id, 'ready', { actor: 'test' });
    const none = await h.call('POST', '/api/v1/allocations', { body: { constraints: { tags: ['pool-x'], minCpus: 64 } } });
    expect(none.status).toBe(409);
    expect(none.body.code).toBe('NO_MATCHING_MACHINE');
    const first = await h.call<{ machine: MachineView; created: boolean }>('POST', '/api/v1/allocations', { body: { constraints: { tags: ['pool-x'] }, requestKey: 'k1', owner: 'carol' } });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ created: true, machine: { name: 'alloc1', state: 'allocated', owner: 'carol' } });
    const second = await h.call<{ machine: MachineView; created: boolean }>('POST', '/api/v1/allocations', { body: { constraints: { tags: ['pool-x'] }, requestKey: 'k1', owner: 'carol' } });
    expect(second.status).toBe(200);
    expect(second.body.created).toBe(false);

    const dep = await h.call<MachineView>('POST', '/api/v1/machines/alloc1/deploy', { body: { sshPublicKeys: [SSH_KEY] } });
    expect(dep.status).toBe(200);
    expect(dep.body.state).toBe('deploying');
    expect(dep.body.bootProfile).toEqual({ kind: 'ephemeral', sshPublicKeys: [SSH_KEY] });

    const agent = h.registry.tokens.create({ name: 'boot-1', role: 'agent', machineId: m.body.id }).token;
    const up = await h.call<{ state: string }>('POST', '/api/v1/agent/status', { token: agent, body: { status: 'ssh_ready', sshHostKey: SSH_KEY } });
    expect(up.status).toBe(200);
    expect(up.body.state).toBe('deployed');
    expect(h.registry.machines.get(m.body.id).sshHostKey).toBe(SSH_KEY);

    const redeploy = await h.call<MachineView>('POST', '/api/v1/machines/alloc1/deploy', { body: { sshPublicKeys: [SSH_KEY], profile: { kind: 'image', image: 'debian-12' } } });
    expect(redeploy.body).toMatchObject({ state: 'deploying', bootProfile: { kind: 'image', image: 'debian-12' }, sshHostKey: null });

    const rel = await h.call<MachineView>('DELETE', '/api/v1/allocations/alloc1');
    expect(rel.status).toBe(200);
    expect(rel.body).toMatchObject({ state: 'ready', owner: null, bootProfile: null });
    const deployReady = await h.call('POST', '/api/v1/machines/alloc1/deploy', { body: { sshPublicKeys: [SSH_KEY] } });
    expect(deployReady.status).toBe(409);
    expect(deployReady.body.code).toBe('ILLEGAL_TRANSITION');
  });

  it('agent facts: stored with summary columns; commissioning → ready with auto-accept', async () => {
    const m = await h.call<MachineView>('POST', '/api/v1/machines', { body: { name: 'disc1', macs: ['52:54:00:ff:00:01'] } });
    await h.call('POST', `/api/v1/machines/${m.body.id}/commission`);
    const agent = h.registry.tokens.create({ name: 'boot-disc1', role: 'agent', machineId: m.body.id }).token;
    expect((await h.call('POST', '/api/v1/agent/status', { token: agent, body: { status: 'booted' } })).status).toBe(200);
    const r = await h.call<{ machine: string; state: string }>('POST', '/api/v1/agent/facts', { token: agent, body: { facts: factsFor(['52:54:00:ff:00:01']), mac: '52-54-00-ff-00-01' } });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ machine: m.body.id, state: 'ready' });
    const after = h.registry.machines.get(m.body.id);
    expect(after).toMatchObject({ cpuCount: 8, memoryMib: 16384, diskGib: 100, arch: 'amd64', firmware: 'uefi' });
    expect((after.facts as { dmi: { vendor: string } }).dmi.vendor).toBe('QEMU');
    const types = h.registry.events.list({ machineId: m.body.id, kinds: ['agent'] }).map((e) => e.type);
    expect(types).toEqual(['booted', 'facts_stored']);
  });

  it('events: the log, per machine (its id or MACs), and audit rows name the actor', async () => {
    h.registry.events.append({ mac: '52:54:00:ab:00:01', kind: 'dhcp', type: 'discover', actor: 'dhcp', data: {} });
    const m = await h.call<MachineView>('POST', '/api/v1/machines', { body: { name: 'ev1', macs: ['52:54:00:ab:00:01'] } });
    const mine = await h.call<Items<EventRecord>>('GET', `/api/v1/machines/${m.body.id}/events`);
    expect(mine.status).toBe(200);
    expect(mine.body.items.map((e) => `${e.kind}:${e.type}`)).toEqual(['dhcp:discover', 'state:created', 'audit:api.machines.create']);
    expect(mine.body.items.find((e) => e.type === 'api.machines.create')?.actor).toBe('admin:ops');
    const all = await h.call<Items<EventRecord>>('GET', '/api/v1/events?kind=dhcp&limit=5');
    expect(all.body.items.every((e) => e.kind === 'dhcp')).toBe(true);
    const byMac = await h.call<Items<EventRecord>>('GET', '/api/v1/events?mac=52-54-00-AB-00-01');
    expect(byMac.body.items.map((e) => e.type)).toContain('discover');
    const byMachine = await h.call<Items<EventRecord>>('GET', '/api/v1/events?machine=ev1');
    expect(byMachine.body.items).toHaveLength(3);
    const tl = await h.call<{ boots: Array<{ stalledAt: string }> }>('GET', '/api/v1/machines/ev1/timeline');
    expect(tl.status).toBe(200);
    expect(tl.body.boots).toHaveLength(1);
    expect(tl.body.boots[0]!.stalledAt).toBe('dhcp_offer');
  });

  it('tokens: create shows the token once, list never does, revoke stops it', async () => {
    const c = await h.call<{ token: string; record: TokenRecord }>('POST', '/api/v1/tokens', { body: { name: 'ci', role: 'driver', owner: 'ci-team' } });
    expect(c.status).toBe(201);
    expect(c.body.token).toMatch(/^brk_/);
    expect(c.body.record).toMatchObject({ name: 'ci', role: 'driver', owner: 'ci-team' });
    const list = await h.call<Items<TokenRecord>>('GET', '/api/v1/tokens');
    expect(list.text).not.toContain(c.body.token);
    expect(list.body.items.map((t) => t.name)).toContain('ci');
    expect((await h.call('GET', '/api/v1/machines', { token: c.body.token })).status).toBe(200);
    const rev = await h.call<TokenRecord>('DELETE', `/api/v1/tokens/${c.body.record.id}`);
    expect(rev.status).toBe(200);
    expect(rev.body.revokedAt).not.toBeNull();
    expect((await h.call('GET', '/api/v1/machines', { token: c.body.token })).status).toBe(401);
    const agentless = await h.call('POST', '/api/v1/tokens', { body: { name: 'a', role: 'agent' } });
    expect(agentless.status).toBe(400);
    expect(agentless.body.details.issues?.[0]?.path).toBe('machine');
    expect((await h.call('DELETE', '/api/v1/tokens/tnope')).body.code).toBe('TOKEN_NOT_FOUND');
  });
});

describe('API with a real PowerControl (the power module, manual driver)', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    const config = configSchema.parse({});
    h = await startApi({ power: (registry) => createPowerControl({ config: config.power, registry, logger: silentLogger, metrics: createMetrics({ defaultMetrics: false }) }).control });
  });
  afterAll(async () => h.close());

  it('power act and status go through PowerControl and leave power events; commission asks for a PXE cycle', async () => {
    const m = await h.call<MachineView>('POST', '/api/v1/machines', { body: { name: 'man1', macs: ['52:54:00:12:00:01'] } });
    await h.call('PUT', `/api/v1/machines/${m.body.id}/power-settings`, { body: { type: 'manual' } });
    const act = await h.call<{ action: string; done: boolean }>('POST', `/api/v1/machines/${m.body.id}/power`, { body: { action: 'on' } });
    expect(act.status).toBe(200);
    expect(act.body).toEqual({ action: 'on', done: true });
    const st = await h.call<{ state: string }>('GET', `/api/v1/machines/${m.body.id}/power`);
    expect(st.status).toBe(200);
    expect(['on', 'off', 'unknown']).toContain(st.body.state);
    const c = await h.call<MachineView>('POST', `/api/v1/machines/${m.body.id}/commission`);
    expect(c.status).toBe(200);
    expect(c.body.state).toBe('commissioning');
    const kinds = h.registry.events.list({ machineId: m.body.id, kinds: ['power'] });
    expect(kinds.length).toBeGreaterThan(0);
    const audit = h.registry.events.list({ machineId: m.body.id, kinds: ['audit'] }).find((e) => e.type === 'api.machines.commission');
    expect(audit?.data.power).toBeDefined();
  });
});
