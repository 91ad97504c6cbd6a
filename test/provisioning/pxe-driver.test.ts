import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import { RecordingActionHandler } from '../../src/provisioning/action-handler.js';
import { driverForUrl } from '../../src/provisioning/driver-url.js';
import { canonicalizePxeUrl } from '../../src/provisioning/drivers/pxe/url.js';
import { requestKeyFor, type PxeDriver, type PxeReference } from '../../src/provisioning/drivers/pxe/driver.js';
import { MemoryEntryStore } from '../../src/provisioning/managed-entry.js';
import { startPxeApiDouble } from '../helpers/provisioning-pxe-api-double.js';
import { freePort } from '../helpers/provisioning-sshd.js';
import { startPxeTestEnv, TEST_TOKEN, type PxeTestEnv } from '../helpers/provisioning-pxe-env.js';

async function rejects(promise: Promise<unknown>, code: string): Promise<Error & { details: Record<string, unknown> }> {
  try {
    await promise;
  } catch (err) {
    expect(isBootrackError(err), String(err)).toBe(true);
    expect((err as { code: string }).code, (err as Error).message).toBe(code);
    return err as Error & { details: Record<string, unknown> };
  }
  throw new Error(`expected ${code}, but it resolved`);
}

describe('pxe: URL canonicalisation', () => {
  it.each([
    ['pxe:http://Appliance.LAN:8080/', 'pxe:http://appliance.lan:8080'],
    ['pxe:http://appliance', 'pxe:http://appliance:80'],
    ['pxe:https://10.0.0.1', 'pxe:https://10.0.0.1:443'],
    ['PXE:HTTPS://Box:9443/bootrack/', 'pxe:https://box:9443/bootrack'],
    ['pxe:http://[::1]:8080', 'pxe:http://[::1]:8080'],
  ])('%s → %s', (input, canonical) => {
    expect(canonicalizePxeUrl(input)).toBe(canonical);
    expect(canonicalizePxeUrl(canonical)).toBe(canonical);
  });

  it('refuses credentials in the URL without echoing them, pointing at driverOptions.token', () => {
    try {
      canonicalizePxeUrl('pxe:http://admin:s3cr3t@appliance:8080');
      throw new Error('accepted');
    } catch (err) {
      expect(isBootrackError(err, 'INVALID_DRIVER_URL')).toBe(true);
      expect((err as Error).message).toContain('driverOptions.token');
      expect((err as Error).message).not.toContain('s3cr3t');
    }
  });

  it.each(['pxe:', 'pxe:ftp://x:21', 'pxe:not a url', 'pxe:http://a:1/?q=1'])('refuses %s with INVALID_DRIVER_URL', (url) => {
    expect(() => canonicalizePxeUrl(url)).toThrow(expect.objectContaining({ code: 'INVALID_DRIVER_URL' }));
  });

  it('derives the allocation request key from the machine name, within the API limit of 128', () => {
    expect(requestKeyFor('web1')).toBe('machine:web1');
    const long = requestKeyFor('x'.repeat(200));
    expect(long).toMatch(/^machine:sha256:[0-9a-f]{64}$/);
    expect(long.length).toBeLessThanOrEqual(128);
  });

  it('driverForUrl yields the canonical URL and layers drivers[raw] then drivers[canonical] options', async () => {
    const d = (await driverForUrl('pxe:http://Appliance:8080/', {
      driverOptions: { token: 'global', ca: 'x' },
      drivers: { 'pxe:http://Appliance:8080/': { driverOptions: { token: 'raw' } }, 'pxe:http://appliance:8080': { machineOptions: { arch: 'arm64' } } },
      machineOptions: { arch: 'x86_64', tags: ['a'] },
    })) as PxeDriver;
    expect(d.driverUrl).toBe('pxe:http://appliance:8080');
    expect(d.driverOptions).toEqual({ token: 'raw', ca: 'x' });
    expect(d.machineOptionsFor({ tags: ['b'] })).toEqual({ arch: 'arm64', tags: ['b'] });
  });
});

describe('pxe: driver against the appliance API test double and a real sshd', () => {
  let env: PxeTestEnv;
  beforeAll(async () => {
    env = await startPxeTestEnv();
  });
  afterAll(async () => {
    await env?.cleanup();
  });
  const opts = (extra: Record<string, unknown> = {}) => env.driver.machineOptionsFor(extra);

  it('allocates with the options as constraints and a request key from the name; the saved reference holds no secret', async () => {
    const spec = await env.store.getMachine('web1');
    const ah = new RecordingActionHandler();
    env.api.requests.length = 0;
    await env.driver.allocateMachine(ah, spec, opts({ tags: ['odd'], arch: 'x86_64' }));
    const ref = spec.reference as PxeReference;
    expect(Object.keys(ref).sort()).toEqual(['allocatedAt', 'bootstrapKey', 'driverUrl', 'driverVersion', 'mac', 'machineId', 'requestKey']);
    expect(ref.driverUrl).toBe(env.driver.driverUrl);
    expect(ref.requestKey).toBe('machine:web1');
    const m = env.api.machines.get(ref.machineId)!;
    expect(m.tags).toContain('odd');
    expect(ref.mac).toBe(m.interfaces[0]!.mac);
    const file = readFileSync(join(env.store.dir, 'machine', 'web1.json'), 'utf8');
    expect(file).not.toContain(TEST_TOKEN);
    expect(file).not.toContain('PRIVATE KEY');
    // Idempotent: still ours → no API allocation, says so.
    const again = new RecordingActionHandler();
    await env.driver.allocateMachine(again, spec, opts());
    expect(env.api.requests.filter((r) => r === 'POST /api/v1/allocations')).toHaveLength(1);
    expect(again.texts('progress')[0]).toMatch(/still ours .*nothing to do/);
  });

  it('a lost local reference re-adopts the allocation held under the same request key (no leaked box)', async () => {
    const spec = await env.store.getMachine('web1');
    const held = (spec.reference as PxeReference).machineId;
    spec.reference = undefined;
    const ah = new RecordingActionHandler();
    await env.driver.allocateMachine(ah, spec, opts());
    expect((spec.reference as unknown as PxeReference).machineId).toBe(held);
    expect(ah.texts('progress').join('\n')).toMatch(/adopted/);
  });

  it('ready deploys with the bootstrap public key, PXE-boots, power-cycles, follows the timeline and returns a working Machine', async () => {
    const spec = await env.store.getMachine('web1');
    const ah = new RecordingActionHandler();
    env.api.requests.length = 0;
    const machine = await env.driver.readyMachine(ah, spec, opts());
    try {
      const id = (spec.reference as PxeReference).machineId;
      const mutating = env.api.requests.filter((r) => !r.startsWith('GET'));
      expect(mutating).toEqual([`POST /api/v1/machines/${id}/deploy`, `PUT /api/v1/machines/${id}/boot-device`, `POST /api/v1/machines/${id}/power`]);
      const m = env.api.machines.get(id)!;
      expect(m.deployedKeys).toEqual([env.sshd.userKey.publicKey.split(' ').slice(0, 2).join(' ')]);
      expect(m.bootDevice).toBe('pxe');
      expect(ah.texts('progress')).toContain('agent ssh_ready');
      expect((await machine.execute(ah, 'echo up'))?.stdout).toBe('up\n');
      const os = await machine.detectOs();
      expect(os.arch).not.toBe('unknown');
    } finally {
      await machine.disconnect();
    }
  });

  it('SSH never comes up → ready fails at its deadline with a clear error and the reference intact (agent silent)', async () => {
    const spec = await env.store.getMachine('silent');
    await env.driver.allocateMachine(new RecordingActionHandler(), spec, opts());
    const before = readFileSync(join(env.store.dir, 'machine', 'silent.json'), 'utf8');
    env.api.boot = 'silent';
    try {
      const ah = new RecordingActionHandler();
      const err = await rejects(env.driver.readyMachine(ah, spec, opts({ readyTimeoutMs: 2000 })), 'TIMEOUT');
      expect(err.message).toMatch(/did not report SSH ready .* within 2 s \(state deploying/);
      expect(ah.texts('progress').some((t) => /agent booted/.test(t))).toBe(true);
      expect(ah.texts('progress')).toContain('boot: reached booted');
      expect(err.message).toContain('boot: reached booted');
      expect(ah.texts('progress').some((t) => /waiting for the agent to report SSH ready \d+ s \/ 2 s/.test(t))).toBe(true);
    } finally {
      env.api.boot = 'ssh-ready';
    }
    expect(readFileSync(join(env.store.dir, 'machine', 'silent.json'), 'utf8')).toBe(before);
  });

  it('SSH never comes up → ready fails at its deadline with a clear error and the reference intact (port closed)', async () => {
    const spec = await env.store.getMachine('closed');
    await env.driver.allocateMachine(new RecordingActionHandler(), spec, opts());
    const before = structuredClone(spec.reference);
    const port = await freePort();
    const ah = new RecordingActionHandler();
    const err = await rejects(env.driver.readyMachine(ah, spec, opts({ sshPort: port, readyTimeoutMs: 1500 })), 'TIMEOUT');
    expect(err.message).toContain(`SSH on root@127.0.0.1:${port} did not come up`);
    expect(ah.texts('progress').some((t) => /^waiting for SSH \d+ s \/ 2 s$/.test(t))).toBe(true);
    expect((await env.store.getMachine('closed')).reference).toEqual(before);
  });

  it('a host key different from the one the agent reported is refused with HOST_KEY_MISMATCH', async () => {
    const spec = await env.store.getMachine('impostor');
    await env.driver.allocateMachine(new RecordingActionHandler(), spec, opts());
    const id = (spec.reference as PxeReference).machineId;
    await env.driver.readyMachine(new RecordingActionHandler(), spec, opts()).then((m) => m.disconnect());
    env.api.machines.get(id)!.sshHostKey = env.sshd.otherKey.publicKey;
    const err = await rejects(env.driver.connectToMachine(spec, opts()).then((m) => m.executeAlways('true')), 'HOST_KEY_MISMATCH');
    expect(err.message).toContain('pinned');
    await rejects(env.driver.readyMachine(new RecordingActionHandler(), spec, opts()), 'HOST_KEY_MISMATCH');
  });

  it('errors carry the API code (UNAUTHENTICATED), a missing key lists where it looked, a moved machine is refused', async () => {
    const bad = await driverForUrl(`pxe:${env.api.url}`, { ...env.config, driverOptions: { token: 'wrong' } });
    await rejects(bad.allocateMachine(new RecordingActionHandler(), await env.store.getMachine('nokey'), opts()), 'UNAUTHENTICATED');
    const nokey = await driverForUrl(`pxe:${env.api.url}`, { ...env.config, privateKeys: {}, privateKeyPaths: [env.dir] });
    const spec = await env.store.getMachine('nokey');
    await nokey.allocateMachine(new RecordingActionHandler(), spec, opts());
    const err = await rejects(nokey.readyMachine(new RecordingActionHandler(), spec, opts()), 'PRIVATE_KEY_NOT_FOUND');
    expect(err.message).toContain(join(env.dir, 'bootstrap.pem'));
    const moved = await env.store.getMachine('moved');
    moved.reference = { driverUrl: 'pxe:http://elsewhere:80', driverVersion: '0', machineId: 'x' };
    await rejects(env.driver.allocateMachine(new RecordingActionHandler(), moved, opts()), 'MACHINE_MOVE_UNSUPPORTED');
  });

  it('stop powers off; destroy powers off, releases and clears the reference; connect powers nothing', async () => {
    const spec = await env.store.getMachine('web1');
    const id = (spec.reference as PxeReference).machineId;
    env.api.requests.length = 0;
    const m = await env.driver.connectToMachine(spec, opts());
    await m.disconnect();
    expect(env.api.requests.filter((r) => !r.startsWith('GET'))).toEqual([]);
    const ah = new RecordingActionHandler();
    await env.driver.stopMachine(ah, spec, opts());
    expect(env.api.machines.get(id)!.power).toBe('off');
    await env.driver.destroyMachine(ah, spec, opts());
    expect(env.api.requests.filter((r) => !r.startsWith('GET'))).toEqual([`POST /api/v1/machines/${id}/power`, `POST /api/v1/machines/${id}/power`, `DELETE /api/v1/allocations/${id}`]);
    expect(env.api.machines.get(id)!.state).toBe('ready');
    expect((await env.store.getMachine('web1')).reference).toBeUndefined();
  });
});

describe('pxe: over https with driverOptions.ca', () => {
  it('trusts the appliance certificate given as ca (path or PEM) and refuses it without', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bootrack-pxe-tls-'));
    // A throwaway self-signed certificate for 127.0.0.1, made by the real openssl.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const tls = { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
    const api = await startPxeApiDouble({ token: TEST_TOKEN, sshHostKey: 'ssh-ed25519 AAAA', ipAddress: '127.0.0.1', tls });
    try {
      api.addMachine('m-tls', '52:54:00:00:01:01');
      const store = new MemoryEntryStore();
      const untrusted = await driverForUrl(`pxe:${api.url}`, { driverOptions: { token: TEST_TOKEN } });
      const err = await rejects(untrusted.allocateMachine(new RecordingActionHandler(), await store.getMachine('t0'), {}), 'DRIVER_API_ERROR');
      expect(err.message).toMatch(/certificate/i);
      for (const ca of [join(dir, 'cert.pem'), tls.cert]) {
        const d = await driverForUrl(`pxe:${api.url}`, { driverOptions: { token: TEST_TOKEN, ca } });
        expect(d.driverUrl).toMatch(/^pxe:https:\/\/127\.0\.0\.1:\d+$/);
        const spec = await store.getMachine('t1');
        await d.allocateMachine(new RecordingActionHandler(), spec, {});
        expect(spec.reference?.machineId).toBe('m-tls');
      }
    } finally {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
