import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { driverForUrl } from '../../src/provisioning/driver-url.js';
import type { DriverConfig } from '../../src/provisioning/driver.js';
import { PxeDriver } from '../../src/provisioning/drivers/pxe/driver.js';
import { FileEntryStore } from '../../src/provisioning/file-entry-store.js';
import { startPxeApiDouble, type PxeApiDouble } from './provisioning-pxe-api-double.js';
import { startSshd, type TestSshd } from './provisioning-sshd.js';

export const TEST_TOKEN = 'brt_test_double_token_123';

export interface PxeTestEnv {
  sshd: TestSshd;
  api: PxeApiDouble;
  dir: string;
  store: FileEntryStore;
  config: DriverConfig;
  driver: PxeDriver;
  cleanup(): Promise<void>;
}

/** A real sshd + the API test double (8 ready machines whose SSH is that sshd) + a pxe: driver. */
export async function startPxeTestEnv(): Promise<PxeTestEnv> {
  const sshd = await startSshd();
  const api = await startPxeApiDouble({ token: TEST_TOKEN, sshHostKey: sshd.hostKey.publicKey, ipAddress: '127.0.0.1' });
  for (let i = 1; i <= 8; i++) api.addMachine(`m-${i}`, `52:54:00:00:00:0${i}`, { tags: i % 2 ? ['odd'] : [] });
  const dir = mkdtempSync(join(tmpdir(), 'bootrack-pxe-'));
  const config: DriverConfig = {
    driverOptions: { token: TEST_TOKEN },
    privateKeys: { bootstrap: sshd.userKey.privateKeyPath },
    machineOptions: { sshPort: sshd.port, pollIntervalMs: 50, readyTimeoutMs: 20_000 },
  };
  const driver = (await driverForUrl(`pxe:${api.url}/`, config)) as PxeDriver;
  return {
    sshd,
    api,
    dir,
    store: new FileEntryStore(join(dir, 'store')),
    config,
    driver,
    cleanup: async () => {
      await api.close();
      await sshd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
