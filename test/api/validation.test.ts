import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { factsFor, SSH_KEY, startApi, type ApiHarness, type ErrorBody } from '../helpers/api-server.js';
import { dbSnapshot } from '../helpers/api-sweep.js';

interface Case {
  name: string;
  method: string;
  path: string;
  body?: unknown;
  raw?: string;
  token?: 'admin' | 'agent';
  status: number;
  code: string;
  /** A field path the details must name. */
  field?: string;
}

describe('request validation: bad bodies are refused with a code and write nothing', () => {
  let h: ApiHarness;
  let agent: string;
  beforeAll(async () => {
    h = await startApi({ maxBodyBytes: 16 * 1024 });
    const m = h.registry.machines.create({ name: 'v1', macs: ['52:54:00:05:00:01'], state: 'ready' }, { actor: 'test' });
    h.registry.machines.create({ name: 'v2', macs: ['52:54:00:05:00:02'], state: 'ready' }, { actor: 'test' });
    h.registry.allocations.allocate({ constraints: { name: 'v2' }, owner: 'ops' }, { actor: 'test' });
    h.registry.machines.transition(m.id, 'commissioning', { actor: 'test' });
    agent = h.registry.tokens.create({ name: 'boot', role: 'agent', machineId: m.id }).token;
  });
  afterAll(async () => h.close());

  const big = 'x'.repeat(20 * 1024);
  const cases: Case[] = [
    { name: 'wrong type (macs a string)', method: 'POST', path: '/machines', body: { macs: '52:54:00:05:00:09' }, status: 400, code: 'VALIDATION_FAILED', field: 'macs' },
    { name: 'unknown top-level field', method: 'POST', path: '/machines', body: { macs: ['52:54:00:05:00:09'], colour: 'red' }, status: 400, code: 'VALIDATION_FAILED', field: 'colour' },
    { name: 'unknown nested field', method: 'POST', path: '/allocations', body: { constraints: { minCpus: 1, colour: 'red' } }, status: 400, code: 'VALIDATION_FAILED', field: 'constraints.colour' },
    { name: 'negative minimum', method: 'POST', path: '/allocations', body: { constraints: { minCpus: -1 } }, status: 400, code: 'VALIDATION_FAILED', field: 'constraints.minCpus' },
    { name: 'empty macs', method: 'POST', path: '/machines', body: { macs: [] }, status: 400, code: 'VALIDATION_FAILED', field: 'macs' },
    { name: 'malformed MAC', method: 'POST', path: '/machines', body: { macs: ['52:54:00:05:00'] }, status: 400, code: 'INVALID_MAC', field: 'macs.0' },
    { name: 'malformed MAC (hex junk)', method: 'POST', path: '/machines', body: { macs: ['zz:54:00:05:00:01'] }, status: 400, code: 'INVALID_MAC', field: 'macs.0' },
    { name: 'malformed MAC in constraints', method: 'POST', path: '/allocations', body: { constraints: { mac: 'nope' } }, status: 400, code: 'INVALID_MAC', field: 'constraints.mac' },
    { name: 'malformed MAC on an interface', method: 'POST', path: '/machines/v1/interfaces', body: { mac: '1:2:3' }, status: 400, code: 'INVALID_MAC', field: 'mac' },
    { name: 'malformed MAC in the path', method: 'DELETE', path: '/machines/v1/interfaces/not-a-mac', status: 400, code: 'INVALID_MAC' },
    { name: 'malformed MAC in a query', method: 'GET', path: '/machines?mac=zz', status: 400, code: 'INVALID_MAC', field: 'mac' },
    { name: 'unknown query parameter', method: 'GET', path: '/machines?colour=red', status: 400, code: 'VALIDATION_FAILED', field: 'colour' },
    { name: 'bad tag', method: 'POST', path: '/machines/v1/tags', body: { add: ['has space'] }, status: 400, code: 'VALIDATION_FAILED', field: 'add.0' },
    { name: 'bad state filter', method: 'GET', path: '/machines?state=flying', status: 400, code: 'VALIDATION_FAILED', field: 'state' },
    { name: 'deploy without keys', method: 'POST', path: '/machines/v2/deploy', body: { sshPublicKeys: [] }, status: 400, code: 'VALIDATION_FAILED', field: 'sshPublicKeys' },
    { name: 'deploy with a non-key', method: 'POST', path: '/machines/v2/deploy', body: { sshPublicKeys: ['hello'] }, status: 400, code: 'VALIDATION_FAILED', field: 'sshPublicKeys.0' },
    { name: 'deploy image without image', method: 'POST', path: '/machines/v2/deploy', body: { sshPublicKeys: [SSH_KEY], profile: { kind: 'image' } }, status: 400, code: 'VALIDATION_FAILED', field: 'profile.image' },
    { name: 'power action unknown', method: 'POST', path: '/machines/v1/power', body: { action: 'explode' }, status: 400, code: 'VALIDATION_FAILED', field: 'action' },
    { name: 'commission with a body field', method: 'POST', path: '/machines/v1/commission', body: { force: true }, status: 400, code: 'VALIDATION_FAILED', field: 'force' },
    { name: 'token with a bad role', method: 'POST', path: '/tokens', body: { name: 'x', role: 'root' }, status: 400, code: 'VALIDATION_FAILED', field: 'role' },
    { name: 'body is an array', method: 'POST', path: '/machines', body: [1, 2], status: 400, code: 'VALIDATION_FAILED', field: '(root)' },
    { name: 'malformed JSON', method: 'POST', path: '/machines', raw: '{"macs": [', status: 400, code: 'VALIDATION_FAILED' },
    { name: 'oversized body', method: 'POST', path: '/machines', raw: JSON.stringify({ macs: ['52:54:00:05:00:09'], name: big }), status: 413, code: 'BODY_TOO_LARGE' },
    { name: 'facts with a wrong type', method: 'POST', path: '/agent/facts', token: 'agent', body: { facts: factsFor(['52:54:00:05:00:01'], { memoryMib: 'lots' }) }, status: 400, code: 'VALIDATION_FAILED', field: 'facts.memoryMib' },
    { name: 'facts with an unknown field', method: 'POST', path: '/agent/facts', token: 'agent', body: { facts: factsFor(['52:54:00:05:00:01'], { gpu: 'yes' }) }, status: 400, code: 'VALIDATION_FAILED', field: 'facts.gpu' },
    { name: 'facts with a malformed NIC MAC', method: 'POST', path: '/agent/facts', token: 'agent', body: { facts: factsFor(['52:54:00:05:00:0z']) }, status: 400, code: 'INVALID_MAC', field: 'facts.nics.0.mac' },
    { name: 'facts missing', method: 'POST', path: '/agent/facts', token: 'agent', body: {}, status: 400, code: 'VALIDATION_FAILED', field: 'facts' },
    { name: 'oversized facts', method: 'POST', path: '/agent/facts', token: 'agent', raw: JSON.stringify({ facts: factsFor(['52:54:00:05:00:01'], { cpu: { model: big, sockets: 1, cores: 1, threads: 1 } }) }), status: 413, code: 'BODY_TOO_LARGE' },
    { name: 'status with a bad host key', method: 'POST', path: '/agent/status', token: 'agent', body: { status: 'ssh_ready', sshHostKey: 'x' }, status: 400, code: 'VALIDATION_FAILED', field: 'sshHostKey' },
  ];

  it.each(cases)('$name → $status $code', async (c) => {
    const before = dbSnapshot(h.dbPath);
    const token = c.token === 'agent' ? agent : h.admin;
    const r = await h.call<ErrorBody>(c.method, `/api/v1${c.path}`, { token, body: c.body, raw: c.raw });
    expect(r.status).toBe(c.status);
    expect(r.body.code).toBe(c.code);
    expect(typeof r.body.message).toBe('string');
    if (c.field !== undefined) expect(r.body.details.issues?.map((i) => i.path)).toContain(c.field);
    expect(r.text).not.toMatch(/node_modules|\.ts:\d+|at [A-Za-z]+ \(/);
    expect(dbSnapshot(h.dbPath)).toBe(before);
  });

  it('a body without a JSON content type is still parsed as JSON (curl -d)', async () => {
    const r = await h.call('POST', '/api/v1/machines', { raw: JSON.stringify({ macs: ['52:54:00:05:00:0a'], name: 'plain' }), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(r.status).toBe(201);
  });
});
