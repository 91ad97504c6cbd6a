import type * as Ec2Sdk from '@aws-sdk/client-ec2';
import { BootrackError } from '../../../common/errors.js';
import type { Ec2Instance, Ec2Port, InstanceState, LaunchRequest } from './port.js';
import { mapEc2Error } from './port.js';

export type Ec2SdkModule = typeof Ec2Sdk;
export const EC2_SDK_PACKAGE = '@aws-sdk/client-ec2';

/**
 * Loads the optional @aws-sdk/client-ec2 with a dynamic import() on first use (it is 40 MB and only
 * ec2: users need it). Absent → CLOUD_SDK_MISSING naming the package to install.
 */
export async function loadEc2Sdk(specifier: string = EC2_SDK_PACKAGE): Promise<Ec2SdkModule> {
  try {
    return (await import(specifier)) as Ec2SdkModule;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new BootrackError('CLOUD_SDK_MISSING', `the ec2: driver needs the optional package ${EC2_SDK_PACKAGE}, which is not installed: run \`npm install ${EC2_SDK_PACKAGE}@3\` next to bootrack`, { package: specifier }, { cause: err });
    }
    throw new BootrackError('DRIVER_LOAD_FAILED', `${specifier} failed to load: ${(err as Error).message}`, { package: specifier }, { cause: err });
  }
}

/** Client settings, all from driverOptions (never from a reference). */
export interface Ec2ClientSettings {
  region: string;
  /** Custom endpoint, e.g. the test double or a VPC endpoint. */
  endpoint?: string;
  profile?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Bound on one HTTP request (default 30 s). */
  requestTimeoutMs?: number;
}

const STATES = new Set<InstanceState>(['pending', 'running', 'shutting-down', 'terminated', 'stopping', 'stopped']);

function toInstance(i: Ec2Sdk.Instance): Ec2Instance {
  const state = i.State?.Name as InstanceState | undefined;
  const tags: Record<string, string> = {};
  for (const t of i.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? '';
  return {
    instanceId: i.InstanceId ?? '',
    state: state && STATES.has(state) ? state : 'pending',
    ...(i.PublicIpAddress ? { publicIp: i.PublicIpAddress } : {}),
    ...(i.PrivateIpAddress ? { privateIp: i.PrivateIpAddress } : {}),
    launchIndex: i.AmiLaunchIndex ?? 0,
    ...(i.ClientToken ? { clientToken: i.ClientToken } : {}),
    ...(i.KeyName ? { keyName: i.KeyName } : {}),
    tags,
  };
}

const tagList = (tags: Record<string, string>): Ec2Sdk.Tag[] => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

/** The Ec2Port on the official SDK. The SDK's own retries are off (maxAttempts 1): withRetry owns them. */
export class SdkEc2Port implements Ec2Port {
  readonly #sdk: Ec2SdkModule;
  readonly #client: Ec2Sdk.EC2Client;
  readonly #where: string;

  constructor(sdk: Ec2SdkModule, settings: Ec2ClientSettings) {
    this.#sdk = sdk;
    this.#where = settings.endpoint ?? `ec2.${settings.region}.amazonaws.com`;
    const timeout = settings.requestTimeoutMs ?? 30_000;
    this.#client = new sdk.EC2Client({
      region: settings.region,
      maxAttempts: 1,
      requestHandler: { requestTimeout: timeout, connectionTimeout: Math.min(timeout, 10_000) },
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      ...(settings.profile ? { profile: settings.profile } : {}),
      ...(settings.accessKeyId && settings.secretAccessKey
        ? { credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey, ...(settings.sessionToken ? { sessionToken: settings.sessionToken } : {}) } }
        : {}),
    });
  }

  async #send<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw mapEc2Error(err, operation, this.#where);
    }
  }

  async runInstances(r: LaunchRequest): Promise<Ec2Instance[]> {
    const out = await this.#send('RunInstances', () =>
      this.#client.send(
        new this.#sdk.RunInstancesCommand({
          ImageId: r.imageId,
          InstanceType: r.instanceType as Ec2Sdk._InstanceType,
          MinCount: r.count,
          MaxCount: r.count,
          ClientToken: r.clientToken,
          ...(r.keyName ? { KeyName: r.keyName } : {}),
          ...(r.subnetId ? { SubnetId: r.subnetId } : {}),
          ...(r.securityGroupIds?.length ? { SecurityGroupIds: r.securityGroupIds } : {}),
          ...(r.availabilityZone ? { Placement: { AvailabilityZone: r.availabilityZone } } : {}),
          ...(r.userData ? { UserData: Buffer.from(r.userData).toString('base64') } : {}),
          TagSpecifications: [{ ResourceType: 'instance', Tags: tagList(r.tags) }],
        }),
      ),
    );
    return (out.Instances ?? []).map(toInstance);
  }

  async describeInstances(query: { instanceIds?: string[]; filters?: Record<string, string[]> }): Promise<Ec2Instance[]> {
    const found: Ec2Instance[] = [];
    let next: string | undefined;
    // Bounded pagination: 20 pages of up to 1000 is far beyond what one driver call asks for.
    for (let page = 0; page < 20; page++) {
      let out: Ec2Sdk.DescribeInstancesCommandOutput;
      try {
        out = await this.#send('DescribeInstances', () =>
          this.#client.send(
            new this.#sdk.DescribeInstancesCommand({
              ...(query.instanceIds ? { InstanceIds: query.instanceIds } : {}),
              ...(query.filters ? { Filters: Object.entries(query.filters).map(([Name, Values]) => ({ Name, Values })) } : {}),
              ...(next ? { NextToken: next } : {}),
            }),
          ),
        );
      } catch (err) {
        // An id EC2 no longer (or never) knew is "absent", not a failure (CPA#125).
        if ((err as BootrackError).details?.awsCode === 'InvalidInstanceID.NotFound') return found;
        throw err;
      }
      for (const r of out.Reservations ?? []) for (const i of r.Instances ?? []) found.push(toInstance(i));
      next = out.NextToken;
      if (!next) break;
    }
    return found;
  }

  async startInstances(ids: string[]): Promise<void> {
    await this.#send('StartInstances', () => this.#client.send(new this.#sdk.StartInstancesCommand({ InstanceIds: ids })));
  }

  async stopInstances(ids: string[]): Promise<void> {
    await this.#send('StopInstances', () => this.#client.send(new this.#sdk.StopInstancesCommand({ InstanceIds: ids })));
  }

  async terminateInstances(ids: string[]): Promise<void> {
    await this.#send('TerminateInstances', () => this.#client.send(new this.#sdk.TerminateInstancesCommand({ InstanceIds: ids })));
  }

  async createTags(ids: string[], tags: Record<string, string>): Promise<void> {
    await this.#send('CreateTags', () => this.#client.send(new this.#sdk.CreateTagsCommand({ Resources: ids, Tags: tagList(tags) })));
  }

  async describeKeyPair(name: string): Promise<{ name: string; fingerprint?: string } | undefined> {
    try {
      const out = await this.#send('DescribeKeyPairs', () => this.#client.send(new this.#sdk.DescribeKeyPairsCommand({ KeyNames: [name] })));
      const k = out.KeyPairs?.find((p) => p.KeyName === name);
      return k ? { name, ...(k.KeyFingerprint ? { fingerprint: k.KeyFingerprint } : {}) } : undefined;
    } catch (err) {
      if ((err as BootrackError).details?.awsCode === 'InvalidKeyPair.NotFound') return undefined;
      throw err;
    }
  }

  async consoleOutput(instanceId: string): Promise<string | undefined> {
    const out = await this.#send('GetConsoleOutput', () => this.#client.send(new this.#sdk.GetConsoleOutputCommand({ InstanceId: instanceId, Latest: true })));
    return out.Output ? Buffer.from(out.Output, 'base64').toString('utf8') : undefined;
  }

  async accountId(): Promise<string> {
    const out = await this.#send('DescribeSecurityGroups', () =>
      this.#client.send(new this.#sdk.DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['default'] }], MaxResults: 5 })),
    );
    const owner = out.SecurityGroups?.find((g) => g.OwnerId)?.OwnerId;
    if (!owner) throw new BootrackError('CLOUD_REQUEST_FAILED', `DescribeSecurityGroups on ${this.#where} returned no default security group, so the account id is unknown`, { endpoint: this.#where });
    return owner;
  }

  close(): void {
    this.#client.destroy();
  }
}
