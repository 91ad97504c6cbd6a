import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/bootrack.js';
import type { CliIo } from '../../src/cli/io.js';
import { loadMachineSet } from '../../src/cli/commands/provision.js';
import { FileEntryStore } from '../../src/provisioning/file-entry-store.js';
import { connectToMachine } from '../../src/provisioning/orchestrator.js';
import { freePort } from '../helpers/provisioning-sshd.js';
import { startPxeTestEnv, TEST_TOKEN, type PxeTestEnv } from '../helpers/provisioning-pxe-env.js';

function captureIo(env: NodeJS.ProcessEnv = {}): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, out: (t) => void stdout.push(t), err: (t) => void stderr.push(t), env };
}

/** `bootrack provision` end to end: the CLI → pxe: driver → appliance API TEST DOUBLE → real sshd. */
describe('bootrack provision up|down|status', () => {
  let env: PxeTestEnv;
  let file: string;
  const ioEnv = { BRKPV_TOKEN: TEST_TOKEN };
  const run = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
    const io = captureIo(ioEnv);
    const code = await runCli(['provision', ...args], io);
    return { code, out: io.stdout.join('\n'), err: io.stderr.join('\n') };
  };

  beforeAll(async () => {
    env = await startPxeTestEnv();
    file = join(env.dir, 'web.yaml');
    writeFileSync(
      file,
      stringify({
        driverUrl: `pxe:${env.api.url}`,
        driverOptions: { token: '${BRKPV_TOKEN}' },
        privateKeys: { bootstrap: env.sshd.userKey.privateKeyPath },
        machineOptions: { sshPort: env.sshd.port, pollIntervalMs: 50, readyTimeoutMs: 20_000 },
        convergence: { script: '#!/bin/sh\necho "hello from $(uname -s)"\n', remotePath: join(env.dir, 'converge.sh') },
        concurrency: 2,
        machines: [{ name: 'web1', options: { tags: ['odd'] } }, { name: 'web2' }],
      }),
    );
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it('--why-run plans everything and changes nothing', async () => {
    env.api.requests.length = 0;
    const r = await run('up', file, '--why-run');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('~ would web1: allocate a machine for web1');
    expect(r.out).toContain('~ would web2: deploy web2');
    expect(env.api.requests.filter((q) => !q.startsWith('GET'))).toEqual([]);
    expect(existsSync(join(env.dir, '.bootrack'))).toBe(false);
  });

  it('up allocates, readies and converges each machine, streaming per-machine output; status shows them', async () => {
    const r = await run('up', file);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/- web1: allocate a machine for web1/);
    expect(r.out).toMatch(/- web2: deploy m-\d/);
    expect(r.out).toContain('web1| hello from Linux');
    expect(r.out).toContain('web2| hello from Linux');
    expect(r.out).toContain('  web1: agent ssh_ready');
    const s = await run('status', file, '--json');
    const items = (JSON.parse(s.out) as { items: Array<{ name: string; state: string; machineId: string }> }).items;
    expect(items.map((i) => [i.name, i.state])).toEqual([['web1', 'allocated'], ['web2', 'allocated']]);
    expect(env.api.machines.get(items[0]!.machineId)!.tags).toContain('odd');
    const only = await run('status', file, '--only', 'web2');
    expect(only.out).toMatch(/web2\s+allocated/);
    expect(only.out).not.toContain('web1');
    // connectToMachine by name: the saved spec → its driver → a Machine, without readying anything.
    const loaded = await loadMachineSet(file, ioEnv);
    const before = env.api.requests.filter((q) => !q.startsWith('GET')).length;
    const m = await connectToMachine(new FileEntryStore(loaded.storeDir), 'web1', loaded.config);
    try {
      expect((await m.executeAlways('echo connected')).stdout).toBe('connected\n');
    } finally {
      await m.disconnect();
    }
    expect(env.api.requests.filter((q) => !q.startsWith('GET')).length).toBe(before);
    // Again: the allocations are still ours, nothing is allocated twice.
    const posts = env.api.requests.filter((q) => q === 'POST /api/v1/allocations').length;
    const again = await run('up', file);
    expect(again.code).toBe(0);
    expect(again.out).toContain('web1: allocation');
    expect(again.out).toContain('still ours');
    expect(env.api.requests.filter((q) => q === 'POST /api/v1/allocations').length).toBe(posts);
  });

  it('a machine whose SSH never answers fails the run naming it, and its allocation stays recorded', async () => {
    const bad = join(env.dir, 'bad.yaml');
    writeFileSync(
      bad,
      stringify({
        driverUrl: `pxe:${env.api.url}`,
        driverOptions: { token: '${BRKPV_TOKEN}' },
        privateKeys: { bootstrap: env.sshd.userKey.privateKeyPath },
        machineOptions: { sshPort: await freePort(), pollIntervalMs: 50, readyTimeoutMs: 1000 },
        machines: [{ name: 'db1' }],
      }),
    );
    const r = await run('up', bad);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error BATCH_FAILED: 1 of 1 failed — db1: TIMEOUT: SSH on root@127\.0\.0\.1:\d+ did not come up/);
    const s = await run('status', bad);
    expect(s.out).toMatch(/db1\s+allocated\s+m-\d/);
    const down = await run('down', bad);
    expect(down.code).toBe(0);
  });

  it('down releases every machine and forgets it', async () => {
    const r = await run('down', file);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/- web1: power off and release machine m-\d/);
    expect([...env.api.machines.values()].filter((m) => m.owner !== null)).toEqual([]);
    const s = await run('status', file);
    expect(s.out).toMatch(/web1\s+absent/);
    expect(s.out).toMatch(/web2\s+absent/);
  });

  it('reports bad input with codes: missing variable, invalid file, unknown scheme, usage', async () => {
    const io = captureIo({});
    expect(await runCli(['provision', 'up', file], io)).toBe(1);
    expect(io.stderr.join('\n')).toMatch(/MACHINE_SET_INVALID: driverOptions\.token uses \$\{BRKPV_TOKEN\}/);
    const invalid = join(env.dir, 'invalid.yaml');
    writeFileSync(invalid, stringify({ driverUrl: 'pxe:http://a:1', machines: [{ name: 'a' }, { name: 'a' }], extra: 1 }));
    const r = await run('up', invalid);
    expect(r.code).toBe(1);
    expect(r.err).toContain('MACHINE_SET_INVALID');
    expect(r.err).toContain('machine names must be unique');
    const unknown = join(env.dir, 'unknown.yaml');
    writeFileSync(unknown, stringify({ driverUrl: 'nosuchcloud:us-east-1', machines: [{ name: 'a' }] }));
    const u = await run('up', unknown);
    expect(u.code).toBe(1);
    expect(u.err).toMatch(/UNKNOWN_DRIVER_SCHEME: no driver for scheme "nosuchcloud"; known: [a-z0-9, ]*pxe/);
    expect((await run('sideways', file)).code).toBe(2);
  });
});
