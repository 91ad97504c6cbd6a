import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentRouter } from '../../src/api/index.js';
import { memoryLogger } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import { bootDirs, startBootHttp, tempDir, type BootHttpFixture } from '../helpers/http-fixtures.js';
import { tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';

/**
 * The composition root mounts the API's agent Router on the plain boot port through the generic
 * `extra` hook. This drives the whole discovery round trip over that port with the real Router:
 * script (token) → facts → status, and checks the boot routes and the 404 still behave around it.
 */
describe('agent endpoints on the boot HTTP port (real createAgentRouter through the extra hook)', () => {
  let reg: TempRegistry;
  let dirs: ReturnType<typeof tempDir>;
  let http: BootHttpFixture;

  beforeAll(async () => {
    reg = tempRegistry('brkht-reg-');
    dirs = tempDir();
    const agent = createAgentRouter({ registry: reg.registry, logger: memoryLogger(), metrics: createMetrics({ defaultMetrics: false }), power: null, autoAccept: true });
    http = await startBootHttp(reg.registry, bootDirs(dirs.dir), agent);
  });
  afterAll(async () => {
    await http?.stop();
    reg?.cleanup();
    dirs?.cleanup();
  });

  it('the discovery script token posts facts and status over the boot port; the machine becomes ready', async () => {
    const mac = '52:54:00:ee:00:01';
    const script = await (await fetch(`${http.base}/boot/52-54-00-ee-00-01.ipxe`)).text();
    const token = /bootrack\.token=(\S+)/.exec(script)![1]!;
    const url = /bootrack\.url=(\S+)/.exec(script)![1]!;
    const post = (path: string, body: unknown): Promise<Response> =>
      fetch(`${url}/api/v1/agent/${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const facts = {
      cpu: { model: 'QEMU Virtual CPU', sockets: 1, cores: 2, threads: 2 },
      memoryMib: 2048,
      disks: [{ name: 'vda', sizeBytes: 20 * 2 ** 30, model: null, serial: null, rotational: false }],
      nics: [{ mac, driver: 'virtio_net', link: true, speedMbps: null }],
      lldp: [],
      dmi: { vendor: 'QEMU', product: 'Standard PC', serial: null, uuid: null },
      bmc: null,
      firmware: 'bios',
      arch: 'amd64',
    };
    const stored = await post('facts', { facts, mac });
    expect(stored.status).toBe(200);
    expect(await stored.json()).toMatchObject({ state: 'ready' });
    const status = await post('status', { status: 'booted' });
    expect(status.status).toBe(200);
    const unauthenticated = await fetch(`${url}/api/v1/agent/status`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"status":"booted"}' });
    expect(unauthenticated.status).toBe(401);
    // Now ready: the next PXE boot goes to local disk.
    const next = await (await fetch(`${http.base}/boot/52-54-00-ee-00-01.ipxe?platform=pcbios`)).text();
    expect(next).toContain('sanboot --no-describe --drive 0x80');
  });

  it('paths nobody serves are a 404 ROUTE_NOT_FOUND in the catalog shape', async () => {
    const res = await fetch(`${http.base}/nothing/here`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'ROUTE_NOT_FOUND' });
  });
});
