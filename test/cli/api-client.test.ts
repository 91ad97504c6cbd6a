import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/bootrack.js';
import type { CliIo } from '../../src/cli/io.js';
import { startApiService, type RunningApi } from '../helpers/api-service.js';

interface Captured {
  code: number;
  out: string;
  err: string;
}

describe('bootrack CLI against the real HTTPS API', () => {
  let api: RunningApi;
  let home: string;
  let token: string;
  let env: NodeJS.ProcessEnv;

  const cli = async (args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<Captured> => {
    const out: string[] = [];
    const err: string[] = [];
    const io: CliIo = { out: (t) => out.push(t), err: (t) => err.push(t), env: { ...env, ...extraEnv } };
    const code = await runCli(args, io);
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  beforeAll(async () => {
    api = await startApiService();
    home = mkdtempSync(join(tmpdir(), 'bootrack-clihome-'));
    const configPath = join(api.stateDir, 'bootrack.yaml');
    writeFileSync(configPath, `stateDir: ${api.stateDir}\n`);
    // The bootstrap problem: no API token exists yet (none in flags, env or cli.yaml), so
    // `token create` opens the database from the daemon config directly.
    const boot: Captured = await (async () => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli(['token', 'create', '--role', 'admin', '--name', 'ops', '--config', configPath], { out: (t) => out.push(t), err: (t) => err.push(t), env: { HOME: home } });
      return { code, out: out.join('\n'), err: err.join('\n') };
    })();
    expect(boot.code, boot.err).toBe(0);
    token = boot.out.trim();
    expect(token).toMatch(/^brk_[A-Za-z0-9_-]{20,}$/);
    expect(boot.out.trim().split('\n')).toHaveLength(1);
    expect(boot.err).toContain('shown only this once');
    env = { HOME: home, BOOTRACK_API_URL: api.url, BOOTRACK_TOKEN: token, BOOTRACK_CA: api.config.api.certPath };
  });

  afterAll(async () => {
    await api.stop();
    rmSync(home, { recursive: true, force: true });
  });

  it('the bootstrapped token works and its creation is audited as a local action', async () => {
    const list = await cli(['token', 'list', '--json']);
    expect(list.code).toBe(0);
    const items = JSON.parse(list.out) as Array<{ name: string; role: string }>;
    expect(items).toEqual([expect.objectContaining({ name: 'ops', role: 'admin' })]);
    expect(list.out).not.toContain(token);
    const audit = api.registry.events.list({ kinds: ['audit'] }).find((e) => e.type === 'api.tokens.create');
    expect(audit?.actor).toMatch(/^local:/);
    expect(JSON.stringify(audit)).not.toContain(token);
  });

  it('machine add / list / show / tag / edit / commission, in tables and --json', async () => {
    const add = await cli(['machine', 'add', '--mac', '52:54:00:07:00:01', '--mac', '52-54-00-07-00-02', '--name', 'cli-1', '--tag', 'pool']);
    expect(add.code, add.err).toBe(0);
    expect(add.out).toMatch(/name\s+cli-1/);
    const list = await cli(['machine', 'list']);
    expect(list.code).toBe(0);
    expect(list.out.split('\n')[0]).toMatch(/^NAME\s+STATE\s+OWNER/);
    expect(list.out).toMatch(/cli-1\s+new/);
    const json = await cli(['machine', 'list', '--json', '--tag', 'pool']);
    expect((JSON.parse(json.out) as Array<{ name: string }>).map((m) => m.name)).toEqual(['cli-1']);
    const show = await cli(['machine', 'show', '52:54:00:07:00:02', '--json']);
    expect(JSON.parse(show.out)).toMatchObject({ name: 'cli-1', interfaces: [{ mac: '52:54:00:07:00:01' }, { mac: '52:54:00:07:00:02' }] });
    expect((await cli(['machine', 'tag', 'cli-1', '--add', 'fast', '--remove', 'pool', '--json'])).out).toContain('"fast"');
    expect(JSON.parse((await cli(['machine', 'edit', 'cli-1', '--arch', 'arm64', '--json'])).out)).toMatchObject({ arch: 'arm64' });
    const com = await cli(['machine', 'commission', 'cli-1', '--json']);
    expect(JSON.parse(com.out)).toMatchObject({ state: 'commissioning' });
  });

  it('allocate / release, events and the timeline verdict', async () => {
    api.registry.machines.transition('cli-1', 'ready', { actor: 'test' });
    const alloc = await cli(['allocate', '--tag', 'fast', '--key', 'job-1', '--json']);
    expect(alloc.code, alloc.err).toBe(0);
    expect(JSON.parse(alloc.out)).toMatchObject({ created: true, machine: { name: 'cli-1', state: 'allocated', owner: 'admin:ops' } });
    const again = await cli(['allocate', '--tag', 'fast', '--key', 'job-1']);
    expect(again.out).toContain('already held: cli-1');
    const rel = await cli(['release', 'cli-1']);
    expect(rel.out).toBe('released cli-1: ready');
    const events = await cli(['events', '--machine', 'cli-1']);
    expect(events.code).toBe(0);
    expect(events.out).toMatch(/audit\s+api\.allocations\.release\s+admin:ops/);

    api.registry.events.append({ mac: '52:54:00:07:00:01', kind: 'dhcp', type: 'discover', actor: 'dhcp', data: {} });
    api.registry.events.append({ mac: '52:54:00:07:00:01', kind: 'dhcp', type: 'offer', actor: 'dhcp', data: { ip: '10.0.0.7' } });
    const tl = await cli(['timeline', '52-54-00-07-00-01']);
    expect(tl.code, tl.err).toBe(0);
    expect(tl.out).toContain('cli-1 (52:54:00:07:00:01, 52:54:00:07:00:02): 1 boot(s)');
    expect(tl.out).toMatch(/offer sent but no request/);
    const tlJson = JSON.parse((await cli(['timeline', 'cli-1', '--json'])).out) as { boots: Array<{ stalledAt: string }> };
    expect(tlJson.boots[0]!.stalledAt).toBe('dhcp_request');
  });

  it('errors print their code and exit non-zero; --json errors are JSON', async () => {
    const missing = await cli(['machine', 'show', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('error MACHINE_NOT_FOUND');
    const bad = await cli(['machine', 'add', '--mac', 'zz', '--json']);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.err)).toMatchObject({ error: { code: 'INVALID_MAC' } });
    const usage = await cli(['machine', 'fly']);
    expect(usage.code).toBe(2);
    // --token beats BOOTRACK_TOKEN.
    const wrongToken = await cli(['machine', 'list', '--token', 'brk_not-a-real-token-at-all']);
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.err).toContain('error UNAUTHENTICATED');
  });

  it('settings come from flags over environment over ~/.config/bootrack/cli.yaml', async () => {
    // A flag beats the environment: a dead URL on --api is unreachable even though the env is right.
    const dead = await cli(['machine', 'list', '--api', 'https://127.0.0.1:1']);
    expect(dead.code).toBe(1);
    expect(dead.err).toContain('API_UNREACHABLE');
    // Without --ca the self-signed certificate is refused.
    const noCa = await cli(['machine', 'list'], { BOOTRACK_CA: undefined });
    expect(noCa.err).toContain('API_UNREACHABLE');
    // The CLI config file alone is enough.
    mkdirSync(join(home, '.config', 'bootrack'), { recursive: true });
    writeFileSync(join(home, '.config', 'bootrack', 'cli.yaml'), `api: ${api.url}\ntoken: ${token}\nca: ${api.config.api.certPath}\n`);
    const fromFile = await cli(['machine', 'list', '--json'], { BOOTRACK_API_URL: undefined, BOOTRACK_TOKEN: undefined, BOOTRACK_CA: undefined });
    expect(fromFile.code, fromFile.err).toBe(0);
    expect((JSON.parse(fromFile.out) as unknown[]).length).toBe(1);
    // token create through the API when a token is at hand; the new token is printed exactly once.
    const created = await cli(['token', 'create', '--role', 'driver', '--name', 'chef', '--owner', 'team-a']);
    expect(created.code, created.err).toBe(0);
    expect(created.out).toMatch(/^brk_/);
    const listed = await cli(['token', 'list']);
    expect(listed.out).toMatch(/chef\s+driver\s+team-a/);
    expect(listed.out).not.toContain(created.out.trim());
    const gone = await cli(['machine', 'add', '--mac', '52:54:00:07:00:09', '--name', 'cli-gone']);
    expect(gone.code).toBe(0);
    expect((await cli(['machine', 'remove', 'cli-gone'])).out).toBe('removed cli-gone');
    const evJson = JSON.parse((await cli(['events', '--kind', 'audit', '--json'])).out) as Array<{ type: string }>;
    expect(evJson.map((e) => e.type)).toContain('api.machines.delete');
    const id = api.registry.tokens.list().find((t) => t.name === 'chef')!.id;
    expect((await cli(['token', 'revoke', id])).out).toBe(`revoked ${id} (chef)`);
  });
});
