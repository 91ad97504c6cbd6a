import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { memoryLogger, type LogRecord } from '../../src/common/logger.js';
import { createMetrics, type Metrics } from '../../src/common/metrics.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { createBootHttpPolicy } from '../../src/netboot/boot-http.js';
import type { Registry } from '../../src/registry/index.js';
import { createBootHttpService, createStaticHandler, type HttpHandler } from '../../src/servers/http/index.js';

const run = promisify(execFile);

export interface BootHttpFixture {
  base: string;
  port: number;
  config: Readonly<Config>;
  metrics: Metrics;
  logs: LogRecord[];
  imageDir: string;
  ipxeDir: string;
  stop(): Promise<void>;
}

/** A free loopback TCP port (the boot URLs in scripts must name the real port before we listen). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A temp dir with a fake discovery image (vmlinuz + initrd.img) and a fake iPXE program dir. */
export function bootDirs(root: string, options: { withImage?: boolean } = {}): { imageDir: string; ipxeDir: string } {
  const imageDir = join(root, 'images');
  const ipxeDir = join(root, 'ipxe');
  mkdirSync(imageDir, { recursive: true });
  mkdirSync(ipxeDir, { recursive: true });
  if (options.withImage ?? true) {
    writeFileSync(join(imageDir, 'vmlinuz'), Buffer.alloc(64 * 1024, 7));
    writeFileSync(join(imageDir, 'initrd.img'), Buffer.alloc(32 * 1024, 9));
  }
  writeFileSync(join(ipxeDir, 'undionly.kpxe'), Buffer.alloc(70 * 1024, 3));
  return { imageDir, ipxeDir };
}

/**
 * The boot HTTP service wired exactly as main.ts wires it (script, /ipxe, /images/discovery, extra),
 * on 127.0.0.1 and a free port, against the given real registry.
 */
export async function startBootHttp(registry: Registry, dirs: { imageDir: string; ipxeDir: string }, extra?: HttpHandler): Promise<BootHttpFixture> {
  const port = await freePort();
  const config = configSchema.parse({ advertiseAddress: '127.0.0.1', http: { address: '127.0.0.1', port }, ipxe: { dir: dirs.ipxeDir }, discovery: { imageDir: dirs.imageDir } });
  const logs: LogRecord[] = [];
  const logger = memoryLogger(logs);
  const metrics = createMetrics({ defaultMetrics: false });
  const boot = createBootHttpPolicy({ config, registry, logger });
  const service = createBootHttpService({
    address: '127.0.0.1',
    port,
    logger,
    metrics,
    drainMs: 200,
    routes: [
      { name: 'script', ...boot.script },
      { name: 'ipxe', prefix: boot.ipxe.prefix, handler: createStaticHandler({ ...boot.ipxe, logger }) },
      { name: 'discovery', prefix: boot.discovery.prefix, handler: createStaticHandler({ ...boot.discovery, logger }) },
    ],
    ...(extra ? { extra } : {}),
  });
  const controller = new AbortController();
  const running = await service.start(controller.signal);
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    config,
    metrics,
    logs,
    ...dirs,
    async stop() {
      controller.abort();
      await running.done;
    },
  };
}

export function tempDir(prefix = 'brkht-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs the real curl; fails the test with a clear message when curl is not installed. */
export async function curl(args: string[], options: { allowFail?: boolean; timeoutMs?: number } = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run('curl', ['-sS', '--max-time', '30', ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 60_000 });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string; code?: number | string };
    if (e.code === 'ENOENT') throw new Error('curl is not installed: install it (apt-get install curl); these tests use the real client');
    if (!options.allowFail) throw err;
    return { stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: typeof e.code === 'number' ? e.code : -1 };
  }
}
