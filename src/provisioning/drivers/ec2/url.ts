import { BootrackError } from '../../../common/errors.js';

/** The parts of an ec2: URL: `ec2:<region>[:<profile>]` or `ec2:<account>:<region>[:<profile>]`. */
export interface Ec2UrlParts {
  account?: string;
  region?: string;
  profile?: string;
}

const ACCOUNT = /^\d{12}$/;
/** us-east-1, eu-central-2, us-gov-west-1, ap-southeast-5 … (never a hostname or a path). */
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const PROFILE = /^[A-Za-z0-9_.+@-]{1,64}$/;

const usage = 'expected ec2:<region>[:<profile>] or ec2:<12-digit account>:<region>, e.g. ec2:us-east-1 or ec2:123456789012:eu-west-1';

/** Pure parse; no I/O. A bare `ec2` has no region (it comes from driverOptions.region or AWS_REGION). */
export function parseEc2Url(url: string): Ec2UrlParts {
  const m = /^ec2(?::(.*))?$/i.exec(url.trim());
  if (!m) throw new BootrackError('INVALID_DRIVER_URL', `${usage}; got ${JSON.stringify(url)}`, { url });
  const rest = m[1] ?? '';
  if (rest === '') return {};
  const parts = rest.split(':');
  const out: Ec2UrlParts = {};
  if (ACCOUNT.test(parts[0] ?? '')) out.account = parts.shift();
  const region = parts.shift();
  if (region === undefined || !REGION.test(region)) throw new BootrackError('INVALID_DRIVER_URL', `${JSON.stringify(region ?? '')} is not an AWS region; ${usage}`, { url });
  out.region = region;
  const profile = parts.shift();
  if (profile !== undefined) {
    if (!PROFILE.test(profile)) throw new BootrackError('INVALID_DRIVER_URL', `${JSON.stringify(profile)} is not a profile name; ${usage}`, { url });
    out.profile = profile;
  }
  if (parts.length > 0) throw new BootrackError('INVALID_DRIVER_URL', `too many parts in ${JSON.stringify(url)}; ${usage}`, { url });
  return out;
}

export function canonicalEc2Url(account: string, region: string): string {
  return `ec2:${account}:${region}`;
}

export function isAccountId(value: unknown): value is string {
  return typeof value === 'string' && ACCOUNT.test(value);
}

export function isRegion(value: unknown): value is string {
  return typeof value === 'string' && REGION.test(value);
}
