import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentRouter } from '../../src/api/index.js';
import { memoryLogger, type LogRecord } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import type { Running } from '../../src/common/service.js';
import { createBootHttpService } from '../../src/servers/http/service.js';
import { factsFor, SSH_KEY } from '../helpers/api-server.js';
import { tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';

/** The agent router mounted on the real plain-HTTP boot server, as main.ts composes it. */
describe('createAgentRouter on the boot HTTP port', () => {
  let t: TempRegistry;
  let run: Running;
  let url: string;
  const controller = new AbortController();
  const logs: LogRecord[] = [];

  beforeAll(async () => {
    t = tempRegistry('bootrack-agentrt-');
    const metrics = createMetrics({ defaultMetrics: false });
    const agent = createAgentRouter({ registry: t.registry, logger: memoryLogger(logs), metrics, power: null, autoAccept: false, maxBodyBytes: 64 * 1024 });
    run = await createBootHttpService({ address: '127.0.0.1', port: 0, logger: memoryLogger(logs), metrics, routes: [], extra: agent }).start(controller.signal);
    url = `http://127.0.0.1:${run.describe?.port as number}`;
  });
  afterAll(async () => {
    controller.abort();
    await run.done;
    t.cleanup();
  });

  const post = async (path: string, token: string | null, body: unknown): Promise<{ status: number; body: { code?: string; state?: string } }> => {
    const res = await fetch(url + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5000),
    });
    return { status: res.status, body: (await res.json()) as { code?: string; state?: string } };
  };

  it('takes facts once per token (commissioning → new without auto-accept) and status after that', async () => {
    const m = t.registry.machines.create({ name: 'plain-1', macs: ['52:54:00:08:00:01'] }, { actor: 'test' });
    t.registry.machines.transition(m.id, 'commissioning', { actor: 'test' });
    const token = t.registry.tokens.create({ name: 'boot', role: 'agent', machineId: m.id }).token;
    expect((await post('/api/v1/agent/status', token, { status: 'booted' })).status).toBe(200);
    const facts = await post('/api/v1/agent/facts', token, { facts: factsFor(['52:54:00:08:00:01']) });
    expect(facts).toEqual({ status: 200, body: { machine: m.id, state: 'new' } });
    const replay = await post('/api/v1/agent/facts', token, { facts: factsFor(['52:54:00:08:00:01']) });
    expect(replay.status).toBe(403);
    expect(replay.body.code).toBe('AGENT_TOKEN_REPLAYED');
    expect((await post('/api/v1/agent/status', token, { status: 'ssh_ready', sshHostKey: SSH_KEY })).status).toBe(200);
    expect(t.registry.events.list({ machineId: m.id, kinds: ['agent'] }).map((e) => e.type)).toEqual(['booted', 'facts_stored', 'ssh_host_key', 'ssh_ready']);
  });

  it('answers its own errors as JSON codes: no token, a bad body, an admin token', async () => {
    expect((await post('/api/v1/agent/status', null, { status: 'booted' })).body.code).toBe('UNAUTHENTICATED');
    const admin = t.registry.tokens.create({ name: 'ops', role: 'admin' }).token;
    expect((await post('/api/v1/agent/status', admin, { status: 'booted' })).body.code).toBe('FORBIDDEN');
    const m = t.registry.machines.create({ name: 'plain-2', macs: ['52:54:00:08:00:02'] }, { actor: 'test' });
    const token = t.registry.tokens.create({ name: 'boot2', role: 'agent', machineId: m.id }).token;
    const bad = await post('/api/v1/agent/facts', token, { facts: { cpu: 'fast' } });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
  });

  it('only the agent endpoints are exposed on the plain port', async () => {
    const admin = t.registry.tokens.create({ name: 'ops2', role: 'admin' }).token;
    const res = await fetch(`${url}/api/v1/machines`, { headers: { authorization: `Bearer ${admin}` }, signal: AbortSignal.timeout(5000) });
    expect(res.status).toBe(404);
    await res.arrayBuffer();
  });
});
