/**
 * Runs the boot HTTP service (wired as main.ts wires it) in its own process, so a test can start it
 * inside a network namespace it created (`ip netns exec <ns> node --import tsx this.ts`). The
 * registry is the test's SQLite file; the test opens the same file to arrange states and read events.
 *   argv: --db PATH --key HEX --address IP --port N --images DIR --ipxe DIR
 * Prints one line `ready <port>` on stdout once listening; stops on SIGTERM.
 */
import { parseArgs } from 'node:util';
import { memoryLogger } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import { configSchema } from '../../src/config/schema.js';
import { createBootHttpPolicy } from '../../src/netboot/boot-http.js';
import { openRegistry } from '../../src/registry/index.js';
import { createBootHttpService, createStaticHandler } from '../../src/servers/http/index.js';

const { values } = parseArgs({
  options: { db: { type: 'string' }, key: { type: 'string' }, address: { type: 'string' }, port: { type: 'string' }, images: { type: 'string' }, ipxe: { type: 'string' } },
});
const address = values.address ?? '127.0.0.1';
const port = Number(values.port ?? 8080);
const registry = openRegistry({ databasePath: values.db!, secretKey: Buffer.from(values.key!, 'hex') });
const config = configSchema.parse({ advertiseAddress: address, http: { address, port }, ipxe: { dir: values.ipxe }, discovery: { imageDir: values.images } });
const logger = memoryLogger();
const boot = createBootHttpPolicy({ config, registry, logger });
const service = createBootHttpService({
  address,
  port,
  logger,
  metrics: createMetrics({ defaultMetrics: false }),
  drainMs: 200,
  routes: [
    { name: 'script', ...boot.script },
    { name: 'ipxe', prefix: boot.ipxe.prefix, handler: createStaticHandler({ ...boot.ipxe, logger }) },
    { name: 'discovery', prefix: boot.discovery.prefix, handler: createStaticHandler({ ...boot.discovery, logger }) },
  ],
});
const controller = new AbortController();
process.once('SIGTERM', () => controller.abort());
const running = await service.start(controller.signal);
process.stdout.write(`ready ${port}\n`);
await running.done;
registry.close();
