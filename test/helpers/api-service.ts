import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiService } from '../../src/api/index.js';
import { memoryLogger, type LogRecord } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import type { Running } from '../../src/common/service.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { openRegistry, type Registry } from '../../src/registry/index.js';

export interface RunningApi {
  url: string;
  stateDir: string;
  config: Config;
  registry: Registry;
  logs: LogRecord[];
  run: Running;
  stop(): Promise<void>;
}

/** The real apiService (HTTPS with a self-signed pair under a temp state dir unless tls=false) on 127.0.0.1:<ephemeral>. */
export async function startApiService(options: { tls?: boolean; stateDir?: string } = {}): Promise<RunningApi> {
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'bootrack-apisvc-'));
  const parsed = configSchema.parse({ stateDir, advertiseAddress: '127.0.0.1', api: { address: '127.0.0.1', tls: options.tls ?? true } });
  // Port 0 (ephemeral) is below the schema's minimum, so it is set after validation, as tests only do.
  const config: Config = {
    ...parsed,
    database: { ...parsed.database, path: join(stateDir, 'bootrack.db') },
    secrets: { keyPath: join(stateDir, 'secret.key') },
    api: { ...parsed.api, port: 0, certPath: join(stateDir, 'tls', 'api.crt'), keyPath: join(stateDir, 'tls', 'api.key') },
  };
  const registry = openRegistry({ databasePath: config.database.path, secretKey: { path: config.secrets.keyPath } });
  const logs: LogRecord[] = [];
  const controller = new AbortController();
  const run = await apiService({ config, registry, logger: memoryLogger(logs), metrics: createMetrics({ defaultMetrics: false }), power: null }).start(controller.signal);
  const port = run.describe?.port as number;
  return {
    url: `${config.api.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    stateDir,
    config,
    registry,
    logs,
    run,
    async stop() {
      controller.abort();
      await run.done;
      registry.close();
      if (options.stateDir === undefined) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
