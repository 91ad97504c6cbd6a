import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MachineView } from '../../src/api/index.js';
import type { AnyRoute } from '../../src/api/route.js';
import type { EventRecord, TokenRecord } from '../../src/registry/index.js';
import { factsFor, SSH_KEY, startApi, type ApiHarness } from '../helpers/api-server.js';
import { allRoutes, dbSnapshot, fillPath, sampleBody } from '../helpers/api-sweep.js';

const MAC_A = '52:54:00:01:00:01';
const MAC_B = '52:54:00:01:00:02';

describe('authentication and roles', () => {
  let h: ApiHarness;
  let routes: AnyRoute[];
  let machineA: string;
  let agentA: string;
  let revoked: Record<'admin' | 'driver' | 'agent', string>;

  beforeAll(async () => {
    h = await startApi();
    routes = allRoutes(h.registry);
    machineA = h.registry.machines.create({ name: 'sweep-a', macs: [MAC_A], state: 'ready' }, { actor: 'test' }).id;
    h.registry.machines.create({ name: 'sweep-b', macs: [MAC_B], state: 'ready' }, { actor: 'test' });
    // alice owns sweep-a, so a driver token of alice is a legitimate caller of the driver routes on it.
    h.registry.allocations.allocate({ constraints: { name: 'sweep-a' }, owner: 'alice' }, { actor: 'test' });
    agentA = h.registry.tokens.create({ name: 'agent-a', role: 'agent', machineId: machineA }).token;
    const mk = (role: 'admin' | 'driver' | 'agent'): string => {
      const c = h.registry.tokens.create({ name: `revoked-${role}`, role, owner: role === 'driver' ? 'alice' : null, machineId: role === 'agent' ? machineA : null });
      h.registry.tokens.revoke(c.record.id);
      return c.token;
    };
    revoked = { admin: mk('admin'), driver: mk('driver'), agent: mk('agent') };
  });
  afterAll(async () => h.close());

  /** Tokens that must be refused on a route: none, malformed, unknown, revoked-but-right-role, and every wrong role. */
  function badCredentials(route: AnyRoute): Array<[string, string | null, number]> {
    const roles = route.roles === 'public' ? [] : route.roles;
    const out: Array<[string, string | null, number]> = [
      ['no token', null, 401],
      ['malformed header', 'not a token', 401],
      ['unknown token', 'brk_' + 'A'.repeat(43), 401],
    ];
    for (const role of roles) out.push([`revoked ${role}`, revoked[role], 401]);
    if (!roles.includes('admin')) out.push(['admin (wrong role)', h.admin, 403]);
    if (!roles.includes('driver')) out.push(['driver (wrong role)', h.driverA, 403]);
    if (!roles.includes('agent')) out.push(['agent (wrong role)', agentA, 403]);
    return out;
  }

  it('every mutating route refuses no token, a wrong-role token and a revoked token, and writes nothing', async () => {
    const mutating = routes.filter((r) => r.method !== 'get');
    expect(mutating.length).toBeGreaterThanOrEqual(17);
    const tokenId = h.registry.tokens.list()[0]!.id;
    const before = dbSnapshot(h.dbPath);
    let attempts = 0;
    const accepted: string[] = [];
    for (const route of mutating) {
      const path = fillPath(route.path, { ref: 'sweep-a', mac: MAC_A, id: tokenId });
      const body = sampleBody(route.id, MAC_A);
      for (const [label, token, status] of badCredentials(route)) {
        attempts++;
        const r = await h.call(route.method.toUpperCase(), path, { token, body });
        if (r.status < 400) accepted.push(`${route.id} with ${label}: ${r.status}`);
        expect(r.status, `${route.id} with ${label}`).toBe(status);
        expect(r.body.code, `${route.id} with ${label}`).toBe(status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN');
      }
    }
    expect(accepted).toEqual([]);
    expect(attempts).toBeGreaterThan(80);
    expect(dbSnapshot(h.dbPath)).toBe(before);
  });

  it('every read route refuses no token and wrong roles too', async () => {
    for (const route of routes.filter((r) => r.method === 'get' && r.roles !== 'public')) {
      const path = fillPath(route.path, { ref: 'sweep-a', mac: MAC_A, id: 'x' });
      for (const [label, token, status] of badCredentials(route)) {
        const r = await h.call('GET', path, { token });
        expect(r.status, `${route.id} with ${label}`).toBe(status);
      }
    }
  });

  it('a refused request never echoes the presented token or a stack trace', async () => {
    const r = await h.call('POST', '/api/v1/machines', { token: revoked.admin, body: { macs: [MAC_A] } });
    expect(r.status).toBe(401);
    expect(r.text).not.toContain(revoked.admin);
    expect(r.text).not.toMatch(/at .*\.ts:\d+/);
    expect(Object.keys(r.body).sort()).toEqual(['code', 'details', 'message']);
  });
});

describe('driver isolation', () => {
  let h: ApiHarness;
  let alices: MachineView;
  beforeAll(async () => {
    h = await startApi();
    for (const [i, name] of ['iso-1', 'iso-2', 'iso-3'].entries()) h.registry.machines.create({ name, macs: [`52:54:00:02:00:0${i + 1}`], state: 'ready', tags: ['iso'] }, { actor: 'test' });
    const r = await h.call<{ machine: MachineView }>('POST', '/api/v1/allocations', { token: h.driverA, body: { constraints: { name: 'iso-1' } } });
    expect(r.status).toBe(201);
    alices = r.body.machine;
  });
  afterAll(async () => h.close());

  it('a driver allocates under its own owner and sees only its machines', async () => {
    expect(alices.owner).toBe('alice');
    const listA = await h.call<{ items: MachineView[] }>('GET', '/api/v1/machines', { token: h.driverA });
    expect(listA.body.items.map((m) => m.name)).toEqual(['iso-1']);
    const listB = await h.call<{ items: MachineView[] }>('GET', '/api/v1/machines', { token: h.driverB });
    expect(listB.body.items).toEqual([]);
    const peek = await h.call<{ items: MachineView[] }>('GET', '/api/v1/machines?owner=alice', { token: h.driverB });
    expect(peek.body.items).toEqual([]);
  });

  it("another owner's driver can neither see nor act on the machine, and nothing is written", async () => {
    const before = dbSnapshot(h.dbPath);
    const ref = 'iso-1';
    const attempts: Array<[string, string, unknown]> = [
      ['GET', `/api/v1/machines/${ref}`, undefined],
      ['GET', `/api/v1/machines/${ref}/events`, undefined],
      ['GET', `/api/v1/machines/${ref}/timeline`, undefined],
      ['GET', `/api/v1/machines/${ref}/power`, undefined],
      ['POST', `/api/v1/machines/${ref}/deploy`, { sshPublicKeys: [SSH_KEY] }],
      ['POST', `/api/v1/machines/${ref}/power`, { action: 'off' }],
      ['PUT', `/api/v1/machines/${ref}/boot-device`, { device: 'disk', persistent: true }],
      ['DELETE', `/api/v1/allocations/${ref}`, undefined],
      ['POST', '/api/v1/allocations', { constraints: {}, owner: 'alice' }],
    ];
    for (const [method, path, body] of attempts) {
      const r = await h.call(method, path, { token: h.driverB, body });
      expect(r.status, `${method} ${path}`).toBeGreaterThanOrEqual(403);
      expect(['MACHINE_NOT_FOUND', 'FORBIDDEN'], `${method} ${path}`).toContain(r.body.code);
    }
    expect(dbSnapshot(h.dbPath)).toBe(before);
    // Admin-only routes stay closed to drivers even for their own machine.
    expect((await h.call('PATCH', '/api/v1/machines/iso-1', { token: h.driverA, body: { arch: 'x' } })).status).toBe(403);
    expect((await h.call('GET', '/api/v1/events', { token: h.driverA })).status).toBe(403);
  });

  it('the owner deploys and releases its own machine; audit rows name driver:<owner>', async () => {
    const dep = await h.call<MachineView>('POST', '/api/v1/machines/iso-1/deploy', { token: h.driverA, body: { sshPublicKeys: [SSH_KEY] } });
    expect(dep.status).toBe(200);
    const rel = await h.call<MachineView>('DELETE', '/api/v1/allocations/iso-1', { token: h.driverA });
    expect(rel.status).toBe(200);
    expect(rel.body.state).toBe('ready');
    const audit = h.registry.events.list({ machineId: alices.id, kinds: ['audit'] }).filter((e) => e.type.startsWith('api.'));
    expect(audit.map((e) => `${e.type} ${e.actor}`)).toEqual(['api.allocations.create driver:alice', 'api.machines.deploy driver:alice', 'api.allocations.release driver:alice']);
  });
});

describe('agent tokens', () => {
  let h: ApiHarness;
  let m1: string;
  beforeAll(async () => {
    h = await startApi();
    m1 = h.registry.machines.create({ name: 'ag-1', macs: ['52:54:00:03:00:01'] }, { actor: 'test' }).id;
    h.registry.machines.create({ name: 'ag-2', macs: ['52:54:00:03:00:02'] }, { actor: 'test' });
    h.registry.machines.transition(m1, 'commissioning', { actor: 'test' });
  });
  afterAll(async () => h.close());

  it('facts for another machine are refused and nothing is written', async () => {
    const token = h.registry.tokens.create({ name: 'boot', role: 'agent', machineId: m1 }).token;
    const before = dbSnapshot(h.dbPath);
    const wrongNics = await h.call('POST', '/api/v1/agent/facts', { token, body: { facts: factsFor(['52:54:00:03:00:02']) } });
    expect(wrongNics.status).toBe(403);
    expect(wrongNics.body.code).toBe('FORBIDDEN');
    const wrongBootMac = await h.call('POST', '/api/v1/agent/facts', { token, body: { facts: factsFor(['52:54:00:03:00:01']), mac: '52:54:00:03:00:02' } });
    expect(wrongBootMac.status).toBe(403);
    expect(dbSnapshot(h.dbPath)).toBe(before);
    expect(h.logs.some((l) => l.level === 'warn' && l.message.includes('another machine'))).toBe(true);
  });

  it('a replayed facts POST (second use of the token) is refused, logged and changes nothing', async () => {
    const token = h.registry.tokens.create({ name: 'boot-2', role: 'agent', machineId: m1 }).token;
    const first = await h.call<{ state: string }>('POST', '/api/v1/agent/facts', { token, body: { facts: factsFor(['52:54:00:03:00:01']) } });
    expect(first.status).toBe(200);
    expect(first.body.state).toBe('ready');
    const stored = h.registry.machines.get(m1);
    const replay = await h.call('POST', '/api/v1/agent/facts', { token, body: { facts: factsFor(['52:54:00:03:00:01'], { memoryMib: 1 }) } });
    expect(replay.status).toBe(403);
    expect(replay.body.code).toBe('AGENT_TOKEN_REPLAYED');
    expect(h.registry.machines.get(m1)).toEqual(stored);
    expect(h.logs.some((l) => l.level === 'warn' && l.message.includes('replayed'))).toBe(true);
    const events = h.registry.events.list({ machineId: m1 });
    expect(events.some((e) => e.type === 'agent_token_replayed' && e.actor === 'agent:ag-1')).toBe(true);
    // The same token still reports status for the rest of this boot.
    expect((await h.call('POST', '/api/v1/agent/status', { token, body: { status: 'ssh_ready', sshHostKey: SSH_KEY } })).status).toBe(200);
  });

  it('an agent token may not call anything but the agent endpoints', async () => {
    const token = h.registry.tokens.create({ name: 'boot-3', role: 'agent', machineId: m1 }).token;
    for (const [method, path] of [['GET', '/api/v1/machines'], ['GET', '/api/v1/machines/ag-1'], ['POST', '/api/v1/machines/ag-1/commission'], ['GET', '/api/v1/tokens']] as const) {
      expect((await h.call(method, path, { token })).status, `${method} ${path}`).toBe(403);
    }
  });
});

describe('secrets never leave', () => {
  it('BMC passwords and tokens appear in no response (except the one creation answer), event or log line', async () => {
    const h = await startApi();
    try {
      const password = 'S3cret-BMC-pa55word';
      const m = await h.call<MachineView>('POST', '/api/v1/machines', { body: { name: 'sec-1', macs: ['52:54:00:04:00:01'] } });
      const put = await h.call('PUT', `/api/v1/machines/${m.body.id}/power-settings`, { body: { type: 'ipmi', address: '10.1.1.1', username: 'admin', password } });
      const created = await h.call<{ token: string; record: TokenRecord }>('POST', '/api/v1/tokens', { body: { name: 'sec-driver', role: 'driver' } });
      const agent = await h.call<{ token: string }>('POST', '/api/v1/tokens', { body: { name: 'sec-agent', role: 'agent', machine: 'sec-1' } });
      await h.call('POST', '/api/v1/agent/status', { token: agent.body.token, body: { status: 'booted', message: 'hello' } });
      const secrets = [password, h.admin, h.driverA, created.body.token, agent.body.token];
      const answers = [
        put.text,
        (await h.call('GET', '/api/v1/machines/sec-1')).text,
        (await h.call('GET', '/api/v1/machines')).text,
        (await h.call('GET', '/api/v1/tokens')).text,
        (await h.call('GET', '/api/v1/events?limit=10000')).text,
        (await h.call('GET', '/api/v1/machines/sec-1/timeline')).text,
        (await h.call('GET', '/metrics', { token: null })).text,
      ];
      const events = JSON.stringify(h.registry.events.list({ limit: 10_000 }) satisfies EventRecord[]);
      const logs = JSON.stringify(h.logs);
      for (const secret of secrets) {
        for (const text of answers) expect(text).not.toContain(secret);
        expect(events).not.toContain(secret);
        expect(logs).not.toContain(secret);
      }
      expect(h.logs.length).toBeGreaterThan(5);
    } finally {
      await h.close();
    }
  });
});
