import { freePort } from '../helpers/provisioning-sshd.js';
import { startPxeTestEnv } from '../helpers/provisioning-pxe-env.js';
import { driverContract } from './contract.js';

/**
 * The same contract against the pxe: driver, talking to the appliance API TEST DOUBLE whose
 * machines "boot" into the real loopback sshd. The e2e against the real appliance comes later.
 */
driverContract('pxe: against the appliance API test double + real sshd', async () => {
  const env = await startPxeTestEnv();
  const owned = (id: string): boolean => env.api.machines.get(id)?.owner !== null && env.api.machines.has(id);
  return {
    driver: env.driver,
    store: env.store,
    machineOptions: env.driver.machineOptionsFor({}),
    unreachableOptions: env.driver.machineOptionsFor({ sshPort: await freePort(), readyTimeoutMs: 1500 }),
    observe: async (id) => ({ exists: owned(id), power: env.api.machines.get(id)?.power ?? 'unknown' }),
    snapshot: async () => JSON.stringify([...env.api.machines.values()]),
    vanish: async (id) => void env.api.machines.delete(id),
    remoteDir: env.dir, // the machines are this host: keep their files in the test's temp dir
    cleanup: env.cleanup,
  };
});
