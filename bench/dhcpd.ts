/**
 * bootrack's DHCP service alone, for the shared harness (../shared/bench/dhcp-bench.sh `custom`):
 * full mode on $BENCH_IFACE, pool $BENCH_POOL_START-$BENCH_POOL_END in the /16 of $BENCH_SERVER_IP,
 * leases persisted in a fresh SQLite registry under $BENCH_SCRATCH (like Kea memfile persist=true).
 * Run inside the server namespace: node --import tsx bench/dhcpd.ts. With no env it only loads (warm-up).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../src/common/logger.js';
import { createMetrics } from '../src/common/metrics.js';
import { configSchema } from '../src/config/schema.js';
import { DhcpPolicy } from '../src/netboot/dhcp.js';
import { openRegistry } from '../src/registry/index.js';
import { dhcpService } from '../src/servers/dhcp/index.js';

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
  const service = dhcpService(config.dhcp, new DhcpPolicy({ config, registry, logger: silentLogger }), silentLogger, createMetrics({ defaultMetrics: false }));
  const running = await service.start(controller.signal);
  const stop = () => {
    controller.abort();
    void running.done.then(() => {
      registry.close();
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
