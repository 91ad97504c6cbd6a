import { BootrackError, isBootrackError } from '../../../common/errors.js';
import type { DriverConfig } from '../../driver.js';
import type { Options } from '../../options.js';
import type { Ec2Port } from './port.js';
import { loadEc2Sdk, SdkEc2Port, type Ec2ClientSettings } from './sdk.js';
import { canonicalEc2Url, isAccountId, isRegion, parseEc2Url } from './url.js';

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/**
 * Client settings from driverOptions: region (from the URL), endpoint, profile, accessKeyId,
 * secretAccessKey, sessionToken, requestTimeoutMs. Without explicit keys the SDK's standard chain
 * applies (AWS_* environment, ~/.aws/credentials and ~/.aws/config, the profile, SSO, IMDS).
 */
export function clientSettings(region: string, o: Options, requestTimeoutMs?: number): Ec2ClientSettings {
  const timeout = requestTimeoutMs ?? (typeof o.requestTimeoutMs === 'number' ? o.requestTimeoutMs : undefined);
  return {
    region,
    ...(str(o.endpoint) ? { endpoint: str(o.endpoint)! } : {}),
    ...(str(o.profile) ? { profile: str(o.profile)! } : {}),
    ...(str(o.accessKeyId) ? { accessKeyId: str(o.accessKeyId)! } : {}),
    ...(str(o.secretAccessKey) ? { secretAccessKey: str(o.secretAccessKey)! } : {}),
    ...(str(o.sessionToken) ? { sessionToken: str(o.sessionToken)! } : {}),
    ...(timeout !== undefined ? { requestTimeoutMs: timeout } : {}),
  };
}

export async function openPort(region: string, o: Options, requestTimeoutMs?: number): Promise<Ec2Port> {
  const sdk = await loadEc2Sdk(str(o.sdkPackage));
  return new SdkEc2Port(sdk, clientSettings(region, o, requestTimeoutMs));
}

/** One account lookup per (endpoint, region, profile, key id) per process. */
const accounts = new Map<string, Promise<string>>();

/** Bound on the one canonicalisation call (it must never hang a run: CP's fog:AWS did). */
export const CANONICALIZE_TIMEOUT_MS = 5000;

/**
 * `ec2:<region>[:<profile>]` → `ec2:<account>:<region>` (the account makes the URL the same for
 * every user and profile of that account, as Chef's fog:AWS:<account>:<region>). The account comes,
 * in order, from the URL itself, driverOptions.accountId (no network), or ONE EC2 call
 * (DescribeSecurityGroups: the owner of the region's default group) bounded by 5 s and cached.
 * Offline, with neither of the first two, it fails with the code of the failure and says how to
 * work offline. The profile moves to driverOptions.profile; a bare `ec2` takes its region from
 * driverOptions.region, then AWS_REGION / AWS_DEFAULT_REGION.
 */
export async function canonicalizeEc2Url(url: string, config: DriverConfig, lookup: (region: string, o: Options) => Promise<string> = lookupAccount): Promise<{ url: string; config: DriverConfig; region: string }> {
  const parts = parseEc2Url(url);
  const o = config.driverOptions ?? {};
  const region = parts.region ?? str(o.region) ?? str(process.env.AWS_REGION) ?? str(process.env.AWS_DEFAULT_REGION);
  if (!isRegion(region)) {
    throw new BootrackError('INVALID_DRIVER_URL', `${JSON.stringify(url)} names no AWS region and none is configured (driverOptions.region, AWS_REGION); write ec2:<region>, e.g. ec2:us-east-1`, { url });
  }
  const options: Options = { ...o, region, ...(parts.profile ? { profile: parts.profile } : {}) };
  const next: DriverConfig = { ...config, driverOptions: options };
  if (parts.account) return { url: canonicalEc2Url(parts.account, region), config: next, region };
  if (isAccountId(o.accountId)) return { url: canonicalEc2Url(o.accountId, region), config: next, region };
  try {
    return { url: canonicalEc2Url(await lookup(region, options), region), config: next, region };
  } catch (err) {
    const how = 'to canonicalise without a network call, set driverOptions.accountId or write the URL as ec2:<account>:<region>';
    if (isBootrackError(err)) throw new BootrackError(err.code, `cannot learn the AWS account for ${url}: ${err.message}; ${how}`, { ...err.details, url }, { cause: err });
    throw new BootrackError('DRIVER_API_ERROR', `cannot learn the AWS account for ${url}: ${(err as Error).message}; ${how}`, { url }, { cause: err });
  }
}

async function lookupAccount(region: string, o: Options): Promise<string> {
  const key = JSON.stringify([str(o.endpoint), region, str(o.profile), str(o.accessKeyId)]);
  let found = accounts.get(key);
  if (!found) {
    found = (async () => {
      const port = await openPort(region, o, CANONICALIZE_TIMEOUT_MS);
      try {
        return await port.accountId();
      } finally {
        port.close();
      }
    })();
    accounts.set(key, found);
    found.catch(() => accounts.delete(key));
  }
  return found;
}
