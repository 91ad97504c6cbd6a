import { silentLogger, type Logger } from '../../src/common/logger.js';
import { IpmiDriver } from '../../src/power/ipmi/driver.js';
import type { IpmiDefaults } from '../../src/power/ipmi/options.js';
import type { PowerTarget } from '../../src/power/types.js';
import { BMC_PASS, BMC_USER, type SimBmc } from './power-bmc.js';

/** Driver settings for ipmi_sim: opensesspriv is required (lab pitfall 9), suite 3 (no SHA-256 in ipmi_sim). */
export function ipmiTestDefaults(over: Partial<IpmiDefaults> = {}): IpmiDefaults {
  return {
    ipmipowerPath: 'ipmipower',
    ipmitoolPath: 'ipmitool',
    cipherSuite: 3,
    privilege: 'ADMIN',
    workarounds: ['opensesspriv'],
    // Generous: starting QEMU under TCG on a loaded 2-core CI box can hold ipmi_sim (single-threaded,
    // blocked in its chassis program) for seconds; a retransmission that arrives meanwhile is run
    // twice (lab pitfall 4), so retransmit late too. Failure tests set their own tight bounds.
    sessionTimeoutMs: 15_000,
    retransmissionTimeoutMs: 3000,
    commandTimeoutMs: 20_000,
    netns: '',
    ...over,
  };
}

export function ipmiDriver(over: Partial<IpmiDefaults> = {}, logger: Logger = silentLogger): IpmiDriver {
  return new IpmiDriver(ipmiTestDefaults(over), logger);
}

export function ipmiTarget(bmc: Pick<SimBmc, 'host' | 'port' | 'index'>, over: { password?: string; options?: Record<string, unknown> } = {}): PowerTarget {
  return { machineId: `m-bmc${bmc.index}`, address: bmc.host, credentials: { username: BMC_USER, password: over.password ?? BMC_PASS }, options: { port: bmc.port, ...over.options } };
}
