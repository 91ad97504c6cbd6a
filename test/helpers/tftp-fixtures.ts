import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry as PromRegistry } from 'prom-client';
import { memoryLogger } from '../../src/common/logger.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { createTftpPolicy } from '../../src/netboot/tftp.js';
import type { Registry } from '../../src/registry/index.js';
import { TftpServer, type TransferSummary } from '../../src/servers/tftp/index.js';

export interface TftpRoot {
  dir: string;
  sha: Record<string, string>;
  cleanup(): void;
}

/** A temporary TFTP root with random files of the given sizes (name → bytes). */
export function tftpRoot(files: Record<string, number>, prefix = 'bootrack-tftp-'): TftpRoot {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const sha: Record<string, string> = {};
  for (const [name, size] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    const h = createHash('sha256');
    // Written in 1 MiB pieces so a 64 MB fixture never sits in memory twice.
    const piece = 1 << 20;
    writeFileSync(path, Buffer.alloc(0));
    for (let off = 0; off < size; off += piece) {
      const b = randomBytes(Math.min(piece, size - off));
      h.update(b);
      writeFileSync(path, b, { flag: 'a' });
    }
    sha[name] = h.digest('hex');
  }
  return { dir, sha, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface PolicyServer {
  server: TftpServer;
  port: number;
  config: Config;
  logger: ReturnType<typeof memoryLogger>;
  metrics: PromRegistry;
  summaries: TransferSummary[];
  ended(n: number, ms?: number): Promise<TransferSummary[]>;
  stop(): Promise<void>;
}

/** The daemon's composition in miniature: netboot policy + TFTP server on 127.0.0.1, a free port. */
export async function startPolicyServer(opts: { root: string; ipxeDir?: string; registry?: Registry; address?: string }): Promise<PolicyServer> {
  const config = configSchema.parse({ tftp: { root: opts.root, address: opts.address ?? '127.0.0.1' }, ipxe: { dir: opts.ipxeDir ?? opts.root } });
  const logger = memoryLogger();
  const metrics = new PromRegistry();
  const policy = createTftpPolicy({ config, logger, metrics, ...(opts.registry ? { registry: opts.registry } : {}) });
  const summaries: TransferSummary[] = [];
  const c = config.tftp;
  const server = new TftpServer({
    address: c.address,
    port: 0,
    handler: policy.handler,
    logger,
    metrics,
    observer: {
      transferEnded: (s) => {
        summaries.push(s);
        policy.observer.transferEnded(s);
      },
    },
    limits: { maxBlksize: c.maxBlksize, maxWindowsize: c.maxWindowsize, maxTransfers: c.maxTransfers, maxTransfersPerClient: c.maxTransfersPerClient, retries: c.retries, initialTimeoutMs: c.initialTimeoutMs },
  });
  const ac = new AbortController();
  const run = await server.start(ac.signal);
  return {
    server,
    port: server.address.port,
    config,
    logger,
    metrics,
    summaries,
    async ended(n, ms = 15_000) {
      const end = Date.now() + ms;
      while (summaries.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      return summaries;
    },
    async stop() {
      ac.abort();
      await run.done;
    },
  };
}
