/**
 * bootrack's DHCP service alone, for the shared harness (../shared/bench/dhcp-bench.sh `custom`):
 * full mode on $BENCH_IFACE, pool $BENCH_POOL_START-$BENCH_POOL_END in the /16 of $BENCH_SERVER_IP,
 * leases persisted in a fresh SQLite registry under $BENCH_SCRATCH (like Kea memfile persist=true).
 * Run inside the server namespace: node --import tsx bench/dhcpd.ts, after `npm run build`. With no env it
 * only loads (warm-up).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The service is loaded from dist/ (`npm run build`), the JavaScript that `bootrack serve` runs:
 * tsx's on-the-fly transform of src/ adds helpers (esbuild's __name) to hot functions, which the
 * shipped build does not have. Types come from the sources the build was made of.
 */
const shipped = (module: string) => new URL(`../dist/${module}`, import.meta.url).href;
const { silentLogger } = (await import(shipped('common/logger.js'))) as typeof import('../src/common/logger.js');
const { createMetrics } = (await import(shipped('common/metrics.js'))) as typeof import('../src/common/metrics.js');
const { configSchema } = (await import(shipped('config/schema.js'))) as typeof import('../src/config/schema.js');
const { createDhcpPolicy } = (await import(shipped('netboot/dhcp.js'))) as typeof import('../src/netboot/dhcp.js');
const { openRegistry } = (await import(shipped('registry/index.js'))) as typeof import('../src/registry/index.js');
const { dhcpService } = (await import(shipped('servers/dhcp/index.js'))) as typeof import('../src/servers/dhcp/index.js');
const { keepOtherThreadsInBackground } = (await import(shipped('common/thread-priority.js'))) as typeof import('../src/common/thread-priority.js');

const iface = process.env.BENCH_IFACE;
if (iface) {
  const serverIp = process.env.BENCH_SERVER_IP!;
  const scratch = process.env.BENCH_SCRATCH ?? '/tmp';
  const db = join(scratch, 'bootrack-dhcp.db');
  for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true }); // every run starts empty, as the anchors do
  const [a, b] = serverIp.split('.');
  const config = configSchema.parse({
    advertiseAddress: serverIp,
    dhcp: {
      interfaces: [iface],
      subnets: [{ cidr: `${a}.${b}.0.0/16`, rangeStart: process.env.BENCH_POOL_START, rangeEnd: process.env.BENCH_POOL_END, leaseSeconds: 3600 }],
    },
  });
  // As the daemon opens it (main.ts): WAL checkpoints in the background, off the socket loop.
  const registry = openRegistry({ databasePath: db, secretKey: { path: join(scratch, 'bootrack-dhcp.key') }, backgroundCheckpoint: {} });
  const controller = new AbortController();
  const service = dhcpService(config.dhcp, createDhcpPolicy({ config, registry, logger: silentLogger }), silentLogger, createMetrics({ defaultMetrics: false }));
  const running = await service.start(controller.signal);
  const background = keepOtherThreadsInBackground(); // as main.ts does once its services run
  const stop = () => {
    background.stop();
    controller.abort();
    void running.done.then(() => {
      registry.close();
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
