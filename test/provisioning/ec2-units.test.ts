/** ec2: driver units with no network: URL parsing and canonicalisation, error mapping, retry, tokens, host keys. */
import { describe, expect, it } from 'vitest';
import { BootrackError, isBootrackError } from '../../src/common/errors.js';
import { canonicalizeEc2Url } from '../../src/provisioning/drivers/ec2/canonical.js';
import { clientToken, hostKeyFromConsole, launchDigest, launchParamsOf } from '../../src/provisioning/drivers/ec2/launch.js';
import { mapEc2Error, withRetry } from '../../src/provisioning/drivers/ec2/port.js';
import { loadEc2Sdk } from '../../src/provisioning/drivers/ec2/sdk.js';
import { parseEc2Url } from '../../src/provisioning/drivers/ec2/url.js';

describe('ec2: URLs', () => {
  it('parses ec2:<region>[:<profile>] and ec2:<account>:<region>, refuses anything else', () => {
    expect(parseEc2Url('ec2:us-east-1')).toEqual({ region: 'us-east-1' });
    expect(parseEc2Url('ec2:eu-west-1:ops')).toEqual({ region: 'eu-west-1', profile: 'ops' });
    expect(parseEc2Url('ec2:123456789012:us-gov-west-1')).toEqual({ account: '123456789012', region: 'us-gov-west-1' });
    expect(parseEc2Url('ec2')).toEqual({});
    for (const bad of ['ec2:http://x', 'ec2:US-EAST-1', 'ec2:12345:us-east-1', 'ec2:us-east-1:a:b', 'vagrant:x']) {
      expect(() => parseEc2Url(bad), bad).toThrow(expect.objectContaining({ code: 'INVALID_DRIVER_URL' }));
    }
  });

  it('canonicalises with the account from the URL or accountId without calling out; offline otherwise fails saying how to avoid the call', async () => {
    const never = async (): Promise<string> => {
      throw new Error('no network call expected');
    };
    expect((await canonicalizeEc2Url('ec2:210987654321:eu-west-1', {}, never)).url).toBe('ec2:210987654321:eu-west-1');
    const viaOption = await canonicalizeEc2Url('ec2:eu-west-1:ops', { driverOptions: { accountId: '111122223333' } }, never);
    expect(viaOption.url).toBe('ec2:111122223333:eu-west-1');
    expect(viaOption.config.driverOptions).toMatchObject({ profile: 'ops', region: 'eu-west-1' });
    expect((await canonicalizeEc2Url('ec2', { driverOptions: { region: 'ap-south-1' } }, async () => '444455556666')).url).toBe('ec2:444455556666:ap-south-1');
    const offline = async (): Promise<string> => {
      throw new BootrackError('DRIVER_API_ERROR', 'connect ECONNREFUSED');
    };
    const err = await canonicalizeEc2Url('ec2:us-east-1', {}, offline).catch((e: unknown) => e);
    expect(isBootrackError(err, 'DRIVER_API_ERROR')).toBe(true);
    expect((err as Error).message).toMatch(/set driverOptions\.accountId or write the URL as ec2:<account>:<region>/);
  });
});

describe('ec2: errors and retries', () => {
  const aws = (name: string, status: number): Error => Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: status } });

  it('maps AWS error codes to stable codes', () => {
    const cases: Array<[Error, string]> = [
      [aws('AuthFailure', 401), 'CLOUD_AUTH_FAILED'],
      [aws('SignatureDoesNotMatch', 403), 'CLOUD_AUTH_FAILED'],
      [aws('UnauthorizedOperation', 403), 'CLOUD_AUTH_FAILED'],
      [aws('InsufficientInstanceCapacity', 500), 'CLOUD_CAPACITY'],
      [aws('VcpuLimitExceeded', 400), 'CLOUD_CAPACITY'],
      [aws('RequestLimitExceeded', 503), 'CLOUD_THROTTLED'],
      [aws('InvalidAMIID.NotFound', 400), 'CLOUD_NOT_FOUND'],
      [aws('InvalidParameterValue', 400), 'CLOUD_REQUEST_FAILED'],
      [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'DRIVER_API_ERROR'],
    ];
    for (const [e, code] of cases) expect(mapEc2Error(e, 'RunInstances', 'ec2.test').code, e.name).toBe(code);
    expect(mapEc2Error(aws('UnauthorizedOperation', 403), 'X', 'e').message).toMatch(/IAM permission/);
  });

  it('retries throttling with capped exponential backoff and full jitter, never capacity or auth', async () => {
    const slept: number[] = [];
    let calls = 0;
    const policy = { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 300, sleep: async (ms: number) => void slept.push(ms), random: () => 1 };
    const value = await withRetry('Op', async () => {
      if (++calls < 5) throw new BootrackError('CLOUD_THROTTLED', 'slow down');
      return 'ok';
    }, policy);
    expect(value).toBe('ok');
    expect(slept).toEqual([100, 200, 300, 300]);
    const out = await withRetry('Op', async () => {
      throw new BootrackError('CLOUD_THROTTLED', 'slow down');
    }, { ...policy, maxAttempts: 3 }).catch((e: unknown) => e);
    expect(isBootrackError(out, 'CLOUD_THROTTLED') && out.details.attempts).toBe(3);
    let capacityCalls = 0;
    await withRetry('Op', async () => {
      capacityCalls++;
      throw new BootrackError('CLOUD_CAPACITY', 'none');
    }, policy).catch(() => undefined);
    expect(capacityCalls).toBe(1);
  });

  it('a missing SDK package is CLOUD_SDK_MISSING', async () => {
    const err = await loadEc2Sdk('@aws-sdk/client-ec2-absent').catch((e: unknown) => e);
    expect(isBootrackError(err, 'CLOUD_SDK_MISSING')).toBe(true);
    expect((await loadEc2Sdk()).EC2Client).toBeTypeOf('function');
  });
});

describe('ec2: launch tokens and host keys', () => {
  it('the idempotency token is stable for the same machine and parameters, differs otherwise, and fits EC2 (≤ 64 chars)', () => {
    const p = launchParamsOf({ imageId: 'ami-1', securityGroupIds: ['sg-b', 'sg-a'] }, 'web1');
    const q = launchParamsOf({ imageId: 'ami-1', securityGroupIds: ['sg-a', 'sg-b'] }, 'web1');
    expect(launchDigest(p)).toBe(launchDigest(q));
    const t = clientToken('ec2:1:us-east-1', ['file:///s/web1'], launchDigest(p));
    expect(t).toBe(clientToken('ec2:1:us-east-1', ['file:///s/web1'], launchDigest(q)));
    expect(t).not.toBe(clientToken('ec2:1:us-east-1', ['file:///s/web2'], launchDigest(p)));
    expect(t).not.toBe(clientToken('ec2:1:us-east-1', ['file:///s/web1'], launchDigest(p), 'i-old'));
    expect(t.length).toBeLessThanOrEqual(64);
    expect(() => launchParamsOf({}, 'web1')).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });

  it('takes the host key cloud-init prints on the console, preferring ed25519 (what ssh2 negotiates first)', () => {
    const console = 'Cloud-init v. 23.1 running\n-----BEGIN SSH HOST KEY KEYS-----\necdsa-sha2-nistp256 AAAAE2VjZHNh root@ip-10-0-0-5\nssh-ed25519 AAAAC3NzaC1lZDI1 root@ip-10-0-0-5\nssh-rsa AAAAB3NzaC1yc2E root@ip-10-0-0-5\n-----END SSH HOST KEY KEYS-----\nlogin:';
    expect(hostKeyFromConsole(console)).toBe('ssh-ed25519 AAAAC3NzaC1lZDI1');
    expect(hostKeyFromConsole('booting…')).toBeUndefined();
    expect(hostKeyFromConsole(undefined)).toBeUndefined();
  });
});
