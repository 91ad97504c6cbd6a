import type { Logger } from '../../common/logger.js';
import type { Metrics } from '../../common/metrics.js';
import type { Config } from '../../config/schema.js';
import { DhcpServer, type DhcpHandler } from './server.js';

export { DhcpServer, type DhcpHandler, type DhcpRequest, type DhcpServerOptions } from './server.js';
export { replyDestination, CLIENT_PORT } from './destination.js';
export { boundDeviceOf, interfaceAddress, loadBindAddon } from './bind.js';

/** The DHCP service from its config section: port 67 always, the PXE port (4011) in proxy mode only. */
export function dhcpService(config: Readonly<Config['dhcp']>, handler: DhcpHandler, logger: Logger, metrics?: Metrics): DhcpServer {
  return new DhcpServer({
    interfaces: config.interfaces,
    port: config.port,
    pxePort: config.mode === 'proxy' ? config.proxyPort : null,
    handler,
    sweepIntervalMs: config.leaseSweepSeconds * 1000,
    commitIntervalMs: config.commitIntervalMs,
    logger: logger.child({ part: 'dhcp' }),
    metrics,
  });
}
