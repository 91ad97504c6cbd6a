/**
 * Runs bootrack's DHCP service (the real DhcpServer + DhcpPolicy + registry on disk) inside a
 * network namespace the test created: `ip netns exec brkdh-srv node --import tsx dhcp-daemon.ts <json>`.
 * Prints `READY {...}` once listening and `METRICS {...}` on SIGTERM before exiting.
 */
import { configSchema } from '../../src/config/schema.js';
import { memoryLogger } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import { createDhcpPolicy } from '../../src/netboot/dhcp.js';
import { openRegistry } from '../../src/registry/index.js';
import { dhcpService } from '../../src/servers/dhcp/index.js';

interface Args {
  config: unknown;
  databasePath: string;
  keyPath: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const config = configSchema.parse(args.config);
const registry = openRegistry({ databasePath: args.databasePath, secretKey: { path: args.keyPath } });
const records: Parameters<typeof memoryLogger>[0] = [];
const logger = memoryLogger(records);
const metrics = createMetrics({ defaultMetrics: false });
const controller = new AbortController();
const service = dhcpService(config.dhcp, createDhcpPolicy({ config, registry, logger }), logger, metrics);
const running = await service.start(controller.signal);
process.stdout.write(`READY ${JSON.stringify(running.describe)}\n`);
process.on('SIGTERM', () => {
  void (async () => {
    controller.abort();
    await running.done;
    const values: Record<string, number> = {};
    for (const m of await metrics.getMetricsAsJSON()) {
      for (const v of m.values) values[`${m.name}${JSON.stringify(v.labels)}`] = v.value;
    }
    const errors = records.filter((r) => r.level === 'error').map((r) => r.message);
    process.stdout.write(`METRICS ${JSON.stringify({ values, errors })}\n`);
    registry.close();
    process.exit(0);
  })();
});
