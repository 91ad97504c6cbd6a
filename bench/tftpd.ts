/**
 * bootrack's TFTP server as a standalone process, for the benchmark harness (CUSTOM_TFTP_CMD) and the
 * integration tests that need it inside a network namespace:
 *   tsx bench/tftpd.ts --root DIR [--addr 0.0.0.0] [--port 69] [--window 16] [--blksize 1468]
 *                      [--timeout-ms 250] [--retries 6] [--busy-poll-us 200] [--cache-mb 64] [--log warn]
 * Prints `listening <addr>:<port>` on stdout once bound; stops on SIGTERM/SIGINT.
 */
import { parseArgs } from 'node:util';
import pino from 'pino';
import type { Logger } from '../src/common/logger.js';
import { keepOtherThreadsInBackground } from '../src/common/thread-priority.js';
import { configSchema } from '../src/config/schema.js';
import { createTftpPolicy } from '../src/netboot/tftp.js';
import { tftpService } from '../src/servers/tftp/index.js';

const { values } = parseArgs({
  options: {
    root: { type: 'string' },
    addr: { type: 'string', default: '0.0.0.0' },
    port: { type: 'string', default: '69' },
    window: { type: 'string', default: '16' },
    blksize: { type: 'string', default: '1468' },
    'timeout-ms': { type: 'string', default: '250' },
    retries: { type: 'string', default: '6' },
    'busy-poll-us': { type: 'string' },
    'cache-mb': { type: 'string' },
    log: { type: 'string', default: 'warn' },
  },
});
if (!values.root) {
  process.stderr.write('usage: tftpd.ts --root DIR [--addr A] [--port P] [--window N]\n');
  process.exit(2);
}
const config = configSchema.parse({
  tftp: {
    address: values.addr,
    port: Number(values.port),
    root: values.root,
    maxWindowsize: Number(values.window),
    maxBlksize: Number(values.blksize),
    initialTimeoutMs: Number(values['timeout-ms']),
    retries: Number(values.retries),
    maxTransfers: 4096,
    maxTransfersPerClient: 1024,
    ...(values['busy-poll-us'] !== undefined ? { busyPollUs: Number(values['busy-poll-us']) } : {}),
    ...(values['cache-mb'] !== undefined ? { cacheTotalBytes: Number(values['cache-mb']) * 1024 * 1024 } : {}),
  },
  ipxe: { dir: values.root },
});
const logger = pino({ level: values.log ?? 'warn' }, pino.destination(2)) as unknown as Logger;
const server = tftpService(config, createTftpPolicy({ config, logger }), logger);
const controller = new AbortController();
const running = await server.start(controller.signal);
// As main.ts does once its services run (src/common/thread-priority.ts); BENCH_NO_THREAD_NICE=1 skips it to compare.
const background = process.env.BENCH_NO_THREAD_NICE === '1' ? null : keepOtherThreadsInBackground();
process.stdout.write(`listening ${server.address.address}:${server.address.port}\n`);
const stop = (): void => controller.abort();
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
const keepAlive = setInterval(() => undefined, 1 << 30);
await running.done;
background?.stop();
clearInterval(keepAlive);
