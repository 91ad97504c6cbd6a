/**
 * The ec2: driver's test environment: the EC2 Query API TEST DOUBLE (test/helpers/ec2-api-double.ts)
 * on 127.0.0.1, the REAL @aws-sdk/client-ec2 pointed at it (driverOptions.endpoint), and a REAL
 * loopback sshd standing in for every instance's SSH (public IP 127.0.0.1, sshPort = the sshd's
 * port, its host key printed on the "console" the way cloud-init does).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriverRegistry } from '../../src/provisioning/driver-url.js';
import type { DriverConfig } from '../../src/provisioning/driver.js';
import { Ec2Driver } from '../../src/provisioning/drivers/ec2/driver.js';
import type { Ec2MachineOptions } from '../../src/provisioning/drivers/ec2/launch.js';
import { FileEntryStore } from '../../src/provisioning/file-entry-store.js';
import { Ec2ApiDouble, type Ec2DoubleOptions } from './ec2-api-double.js';
import { startSshd, type TestSshd } from './provisioning-sshd.js';

export const TEST_ACCESS_KEY = 'AKIDBOOTRACKTEST';
export const TEST_SECRET = 'double-secret-key';

export interface Ec2TestEnv {
  api: Ec2ApiDouble;
  sshd: TestSshd;
  driver: Ec2Driver;
  store: FileEntryStore;
  dir: string;
  config: DriverConfig;
  machineOptions: Ec2MachineOptions;
  /** Another driver on the same double with other driverOptions (e.g. a wrong secret). */
  driverWith(extra: Record<string, unknown>, url?: string): Promise<Ec2Driver>;
  cleanup(): Promise<void>;
}

export async function startEc2TestEnv(doubleOptions: Ec2DoubleOptions = {}): Promise<Ec2TestEnv> {
  const sshd = await startSshd();
  const api = new Ec2ApiDouble({ credentials: { [TEST_ACCESS_KEY]: TEST_SECRET }, consoleHostKeys: [sshd.hostKey.publicKey], transitionMs: 100, ...doubleOptions });
  const endpoint = await api.start();
  const dir = mkdtempSync(join(tmpdir(), 'bootrack-ec2-'));
  const registry = new DriverRegistry();
  const config: DriverConfig = {
    driverOptions: { endpoint, accessKeyId: TEST_ACCESS_KEY, secretAccessKey: TEST_SECRET, retry: { baseDelayMs: 20, maxAttempts: 4 } },
    privateKeys: { bootstrap: sshd.userKey.privateKeyPath },
  };
  const drivers: Ec2Driver[] = [];
  const driverWith = async (extra: Record<string, unknown>, url = 'ec2:us-east-1'): Promise<Ec2Driver> => {
    const d = (await registry.driverForUrl(url, { ...config, driverOptions: { ...config.driverOptions, ...extra } })) as Ec2Driver;
    drivers.push(d);
    return d;
  };
  const driver = await driverWith({});
  const machineOptions: Ec2MachineOptions = { imageId: 'ami-0b00742ac0ffee000', instanceType: 't3.micro', keyName: 'bootstrap', sshUsername: 'root', sshPort: sshd.port, pollIntervalMs: 50, readyTimeoutMs: 20_000 };
  return {
    api,
    sshd,
    driver,
    store: new FileEntryStore(join(dir, 'store')),
    dir,
    config,
    machineOptions,
    driverWith,
    cleanup: async () => {
      for (const d of drivers) await d.close();
      await api.stop();
      await sshd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
