/**
 * ec2: driver specifics on the REAL @aws-sdk/client-ec2 against the EC2 Query API TEST DOUBLE
 * (SigV4 verified; no EC2 can run here) with a real loopback sshd as the instances' SSH:
 * canonicalisation, error mapping (auth, capacity, throttling with retry), idempotent reruns,
 * crash recovery through the idempotency token / tags, and one RunInstances call per batch.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import { RecordingActionHandler } from '../../src/provisioning/action-handler.js';
import { DriverRegistry } from '../../src/provisioning/driver-url.js';
import type { Ec2Driver, Ec2Reference } from '../../src/provisioning/drivers/ec2/driver.js';
import { startEc2TestEnv, TEST_ACCESS_KEY, TEST_SECRET, type Ec2TestEnv } from '../helpers/ec2-env.js';
import { freePort } from '../helpers/provisioning-sshd.js';

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string; details: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    if (!isBootrackError(err)) throw err;
    return { code: err.code, message: err.message, details: err.details };
  }
  throw new Error('expected a BootrackError, but it resolved');
}

describe('ec2: driver (EC2 API test double + real sshd)', () => {
  let env: Ec2TestEnv;
  beforeAll(async () => {
    env = await startEc2TestEnv();
  });
  afterAll(async () => {
    await env?.cleanup();
  });

  it('canonicalises ec2:<region>[:<profile>] to ec2:<account>:<region> with ONE EC2 call, or none when the account is known', async () => {
    expect(env.driver.driverUrl).toBe(`ec2:${env.api.accountId}:us-east-1`);
    const before = env.api.count('DescribeSecurityGroups');
    const profiled = await env.driverWith({}, 'ec2:eu-west-1:ops');
    expect(profiled.driverUrl).toBe(`ec2:${env.api.accountId}:eu-west-1`);
    expect(profiled.driverOptions.profile).toBe('ops');
    expect(env.api.count('DescribeSecurityGroups')).toBe(before + 1);
    // Known account: no network at all (works offline).
    const offline = { endpoint: `http://127.0.0.1:${await freePort()}` };
    expect((await env.driverWith({ ...offline, accountId: '210987654321' })).driverUrl).toBe('ec2:210987654321:us-east-1');
    expect((await env.driverWith(offline, 'ec2:111122223333:ap-south-1')).driverUrl).toBe('ec2:111122223333:ap-south-1');
    expect(env.api.count('DescribeSecurityGroups')).toBe(before + 1);
    // Offline without the account: a clear error saying how to work offline.
    const err = await codeOf(env.driverWith(offline, 'ec2:us-west-2'));
    expect(err.code).toBe('DRIVER_API_ERROR');
    expect(err.message).toMatch(/driverOptions\.accountId|ec2:<account>:<region>/);
    for (const bad of ['ec2:/tmp/x', 'ec2:not-a-region', 'ec2:us-east-1:ops:extra', 'ec2:us-east-1:bad profile']) {
      expect((await codeOf(new DriverRegistry().driverForUrl(bad, env.config))).code, bad).toBe('INVALID_DRIVER_URL');
    }
  });

  it('credentials come from the standard AWS chain: a profile (named in the URL) of a shared credentials file, or AWS_* variables', async () => {
    const files = { AWS_SHARED_CREDENTIALS_FILE: join(env.dir, 'credentials'), AWS_CONFIG_FILE: join(env.dir, 'config') };
    writeFileSync(files.AWS_SHARED_CREDENTIALS_FILE, `[ops]\naws_access_key_id = ${TEST_ACCESS_KEY}\naws_secret_access_key = ${TEST_SECRET}\n`);
    writeFileSync(files.AWS_CONFIG_FILE, '');
    const saved = { ...process.env };
    const config = { driverOptions: { endpoint: env.api.url }, privateKeys: env.config.privateKeys ?? {} };
    try {
      Object.assign(process.env, files);
      const viaProfile = (await new DriverRegistry().driverForUrl('ec2:us-east-1:ops', config)) as Ec2Driver;
      expect(viaProfile.driverUrl).toBe(`ec2:${env.api.accountId}:us-east-1`);
      const spec = await env.store.getMachine('e-chain');
      await viaProfile.allocateMachine(new RecordingActionHandler(), spec, env.machineOptions);
      expect(JSON.stringify((await env.store.getMachine('e-chain')).data)).not.toMatch(new RegExp(`${TEST_SECRET}|${TEST_ACCESS_KEY}|ops`));
      await viaProfile.destroyMachine(new RecordingActionHandler(), spec, env.machineOptions);
      await viaProfile.close();
      Object.assign(process.env, { AWS_ACCESS_KEY_ID: TEST_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: TEST_SECRET });
      const viaEnv = (await new DriverRegistry().driverForUrl('ec2:ca-central-1', config)) as Ec2Driver;
      expect(viaEnv.driverUrl).toBe(`ec2:${env.api.accountId}:ca-central-1`);
      await viaEnv.close();
    } finally {
      for (const k of ['AWS_SHARED_CREDENTIALS_FILE', 'AWS_CONFIG_FILE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) if (saved[k] === undefined) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('a missing SDK package is CLOUD_SDK_MISSING naming what to install', async () => {
    const d = await env.driverWith({ sdkPackage: '@aws-sdk/client-ec2-not-installed', accountId: env.api.accountId });
    const err = await codeOf(d.allocateMachine(new RecordingActionHandler(), await env.store.getMachine('e-nosdk'), env.machineOptions));
    expect(err.code).toBe('CLOUD_SDK_MISSING');
    expect(err.message).toContain('npm install @aws-sdk/client-ec2');
  });

  it('a wrong secret or an unknown access key is CLOUD_AUTH_FAILED (the double checks the SigV4 signature)', async () => {
    const spec = await env.store.getMachine('e-auth');
    for (const creds of [{ secretAccessKey: 'wrong-secret' }, { accessKeyId: 'AKIDUNKNOWN', secretAccessKey: TEST_SECRET }]) {
      const d = await env.driverWith({ ...creds, accountId: env.api.accountId });
      const err = await codeOf(d.allocateMachine(new RecordingActionHandler(), spec, env.machineOptions));
      expect(err.code).toBe('CLOUD_AUTH_FAILED');
      expect(err.details.awsCode).toBe('AuthFailure');
    }
    expect(env.api.calls.filter((c) => c.error === 'AuthFailure').length).toBe(2);
    expect(spec.reference).toBeUndefined();
  });

  it('no capacity is CLOUD_CAPACITY at once (not retried), and nothing is saved', async () => {
    const spec = await env.store.getMachine('e-capacity');
    env.api.inject('RunInstances', 'InsufficientInstanceCapacity', 1);
    const before = env.api.instances.size;
    const err = await codeOf(env.driver.allocateMachine(new RecordingActionHandler(), spec, env.machineOptions));
    expect(err.code).toBe('CLOUD_CAPACITY');
    expect(err.message).toMatch(/another instance type or availability zone/);
    expect(env.api.instances.size).toBe(before);
    expect((await env.store.getMachine('e-capacity')).reference).toBeUndefined();
  });

  it('throttling is retried with backoff (reported), and CLOUD_THROTTLED once the attempts run out', async () => {
    const spec = await env.store.getMachine('e-throttle');
    env.api.inject('RunInstances', 'RequestLimitExceeded', 2);
    const ah = new RecordingActionHandler();
    await env.driver.allocateMachine(ah, spec, env.machineOptions);
    expect(ah.texts('progress').filter((t) => /RunInstances throttled by EC2 \(attempt \d\/4\); retrying in \d+ ms/.test(t))).toHaveLength(2);
    expect(env.api.calls.filter((c) => c.action === 'RunInstances' && c.error === 'RequestLimitExceeded')).toHaveLength(2);
    expect(env.api.stateOf(String(spec.reference?.machineId))).toBeDefined();

    const other = await env.store.getMachine('e-throttle-out');
    env.api.inject('DescribeKeyPairs', 'RequestLimitExceeded', 10);
    const err = await codeOf(env.driver.allocateMachine(new RecordingActionHandler(), other, env.machineOptions));
    expect(err.code).toBe('CLOUD_THROTTLED');
    expect(err.details.attempts).toBe(4);
    env.api.clearFaults();
    await env.driver.destroyMachine(new RecordingActionHandler(), spec, env.machineOptions);
  });

  it('reruns change nothing and say so; a lost reference is found again instead of launching a second instance', async () => {
    const spec = await env.store.getMachine('e-rerun');
    const ah = new RecordingActionHandler();
    await env.driver.allocateMachine(ah, spec, env.machineOptions);
    const ref = spec.reference as Ec2Reference;
    expect(JSON.stringify(ref)).not.toContain(TEST_SECRET);
    expect(JSON.stringify(ref)).not.toContain(TEST_ACCESS_KEY);
    expect(env.api.instances.get(ref.machineId)?.tags.get('Name')).toBe('e-rerun');
    const launches = env.api.count('RunInstances');

    const again = new RecordingActionHandler();
    await env.driver.allocateMachine(again, spec, env.machineOptions);
    expect(again.texts('action')).toEqual([]);
    expect(again.texts('progress').join('\n')).toMatch(/still ours.*nothing to do/);
    const m = await env.driver.readyMachine(new RecordingActionHandler(), spec, env.machineOptions);
    await m.disconnect();
    const readyAgain = new RecordingActionHandler();
    await (await env.driver.readyMachine(readyAgain, spec, env.machineOptions)).disconnect();
    expect(readyAgain.texts('action')).toEqual([]);
    expect(readyAgain.texts('progress').join('\n')).toMatch(/is running; not starting it/);

    // A crash between RunInstances and the save: the reference is lost, the instance is not.
    const lost = await env.store.getMachine('e-rerun');
    lost.reference = undefined;
    const recover = new RecordingActionHandler();
    await env.driver.allocateMachine(recover, lost, env.machineOptions);
    expect(recover.texts('action').join('\n')).toMatch(new RegExp(`adopt instance ${ref.machineId}`));
    expect((lost.reference as Ec2Reference | undefined)?.machineId).toBe(ref.machineId);
    expect(env.api.count('RunInstances')).toBe(launches);
    await env.driver.destroyMachine(new RecordingActionHandler(), lost, env.machineOptions);
    expect(env.api.stateOf(ref.machineId)).toMatch(/shutting-down|terminated/);
  });

  it('the idempotency token makes a repeated RunInstances return the same instance; a destroyed machine gets a fresh token', async () => {
    const spec = await env.store.getMachine('e-token');
    await env.driver.allocateMachine(new RecordingActionHandler(), spec, env.machineOptions);
    const first = spec.reference as Ec2Reference;
    await env.driver.destroyMachine(new RecordingActionHandler(), spec, env.machineOptions);
    await env.driver.allocateMachine(new RecordingActionHandler(), spec, env.machineOptions);
    const second = spec.reference as Ec2Reference;
    expect(second.machineId).not.toBe(first.machineId);
    expect(second.launchId).not.toBe(first.launchId);
    expect(env.api.tokens.get(first.launchId)?.ids).toEqual([first.machineId]);
    await env.driver.destroyMachine(new RecordingActionHandler(), spec, env.machineOptions);
  });

  it('a batch of machines with equal options is ONE RunInstances call, each instance tagged with its machine by launch index', async () => {
    const names = ['e-b1', 'e-b2', 'e-b3'];
    const items = await Promise.all(names.map(async (n) => ({ spec: await env.store.getMachine(n), options: env.machineOptions })));
    const before = env.api.count('RunInstances');
    const ah = new RecordingActionHandler();
    await env.driver.allocateMachines(ah, items);
    expect(env.api.count('RunInstances')).toBe(before + 1);
    const call = env.api.calls.filter((c) => c.action === 'RunInstances' && !c.error).at(-1);
    expect(call?.params?.MinCount).toBe('3');
    for (const [i, { spec }] of items.entries()) {
      const inst = env.api.instances.get(String(spec.reference?.machineId));
      expect(inst?.launchIndex).toBe(i);
      expect(inst?.tags.get('Name')).toBe(spec.name);
      expect((await env.store.getMachine(spec.name)).reference?.machineId).toBe(inst?.instanceId);
    }
    const again = new RecordingActionHandler();
    await env.driver.allocateMachines(again, items);
    expect(again.texts('action')).toEqual([]);
    expect(env.api.count('RunInstances')).toBe(before + 1);
    await env.driver.destroyMachines(new RecordingActionHandler(), items);
  });

  it('bad input: no imageId, or a key pair EC2 does not know, is refused before anything is launched', async () => {
    const spec = await env.store.getMachine('e-bad');
    const noImage = { ...env.machineOptions };
    delete noImage.imageId;
    expect((await codeOf(env.driver.allocateMachine(new RecordingActionHandler(), spec, noImage))).code).toBe('VALIDATION_FAILED');
    const err = await codeOf(env.driver.allocateMachine(new RecordingActionHandler(), spec, { ...env.machineOptions, keyName: 'nobody' }));
    expect(err.code).toBe('CLOUD_NOT_FOUND');
    expect(err.message).toMatch(/import-key-pair/);
  });
});
