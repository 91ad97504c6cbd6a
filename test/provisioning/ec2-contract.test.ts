import { startEc2TestEnv } from '../helpers/ec2-env.js';
import { freePort } from '../helpers/provisioning-sshd.js';
import { driverContract } from './contract.js';

/**
 * The driver contract against the ec2: driver on the REAL @aws-sdk/client-ec2, talking to the EC2
 * Query API TEST DOUBLE (SigV4-verified), whose instances' SSH is a real loopback sshd. A real
 * cloud run would additionally need: AWS credentials, an AMI with cloud-init, a key pair, a subnet
 * and security group letting port 22 in, and minutes per boot instead of 100 ms.
 */
driverContract('ec2: against the EC2 API test double + real sshd', async () => {
  const env = await startEc2TestEnv();
  const exists = (id: string): boolean => {
    const s = env.api.stateOf(id);
    return s !== undefined && s !== 'terminated' && s !== 'shutting-down';
  };
  return {
    driver: env.driver,
    store: env.store,
    machineOptions: env.driver.machineOptionsFor(env.machineOptions),
    unreachableOptions: env.driver.machineOptionsFor({ ...env.machineOptions, sshPort: await freePort(), readyTimeoutMs: 1500 }),
    observe: async (id) => {
      const s = env.api.stateOf(id);
      return { exists: exists(id), power: s === 'running' || s === 'pending' ? 'on' : s === 'stopped' || s === 'stopping' ? 'off' : 'unknown' };
    },
    snapshot: async () => env.api.snapshot(),
    vanish: async (id) => env.api.vanish(id),
    cleanup: env.cleanup,
  };
});
