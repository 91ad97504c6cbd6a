import { BootrackError, isBootrackError } from '../../../common/errors.js';

/**
 * The narrow structural port the ec2: driver needs from EC2 (kysely's "narrow port" shape): the
 * driver never sees SDK types, so the SDK stays an optional, lazily loaded dependency and the
 * driver logic is written against plain values. `sdk.ts` implements it on @aws-sdk/client-ec2.
 */
export type InstanceState = 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';

export interface Ec2Instance {
  instanceId: string;
  state: InstanceState;
  publicIp?: string;
  privateIp?: string;
  /** Position of this instance in its RunInstances call (how a batch maps instances to machines). */
  launchIndex: number;
  clientToken?: string;
  keyName?: string;
  tags: Record<string, string>;
}

export interface LaunchRequest {
  imageId: string;
  instanceType: string;
  keyName?: string;
  subnetId?: string;
  securityGroupIds?: string[];
  availabilityZone?: string;
  /** Plain text; the adapter base64-encodes it. */
  userData?: string;
  /** Tags every launched instance gets (per-machine tags of a batch are added with createTags). */
  tags: Record<string, string>;
  count: number;
  /** RunInstances idempotency token (≤ 64 ASCII characters). */
  clientToken: string;
}

export interface Ec2Port {
  runInstances(request: LaunchRequest): Promise<Ec2Instance[]>;
  /** Unknown ids are not an error: they are simply absent from the result. */
  describeInstances(query: { instanceIds?: string[]; filters?: Record<string, string[]> }): Promise<Ec2Instance[]>;
  startInstances(ids: string[]): Promise<void>;
  stopInstances(ids: string[]): Promise<void>;
  terminateInstances(ids: string[]): Promise<void>;
  createTags(ids: string[], tags: Record<string, string>): Promise<void>;
  /** undefined when no key pair of that name exists in the region. */
  describeKeyPair(name: string): Promise<{ name: string; fingerprint?: string } | undefined>;
  /** The decoded console output, or undefined while there is none yet. */
  consoleOutput(instanceId: string): Promise<string | undefined>;
  /** The account id the credentials belong to (owner of the region's default security group). */
  accountId(): Promise<string>;
  close(): void;
}

/** What an SDK / HTTP failure looks like structurally (ServiceException or a Node socket error). */
interface AwsLikeError {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const AUTH = new Set(['AuthFailure', 'SignatureDoesNotMatch', 'InvalidClientTokenId', 'UnrecognizedClientException', 'IncompleteSignature', 'MissingAuthenticationToken', 'ExpiredToken', 'RequestExpired', 'UnauthorizedOperation', 'OptInRequired', 'CredentialsProviderError']);
const CAPACITY = new Set(['InsufficientInstanceCapacity', 'InsufficientHostCapacity', 'InsufficientReservedInstanceCapacity', 'InsufficientCapacity', 'InstanceLimitExceeded', 'VcpuLimitExceeded']);
const THROTTLE = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'SlowDown']);
const NOT_FOUND = /\.NotFound$|^InvalidAMIID\.|^InvalidKeyPair\.|^InvalidSubnetID\.|^InvalidGroup\./;

/**
 * Maps an EC2 failure to one of our stable codes, keeping the AWS code and request id in details:
 * auth/signature/permission → CLOUD_AUTH_FAILED, no capacity or quota → CLOUD_CAPACITY,
 * throttling → CLOUD_THROTTLED (retried by `withRetry`), unknown ids → CLOUD_NOT_FOUND, sockets and
 * timeouts → DRIVER_API_ERROR / TIMEOUT, anything else → CLOUD_REQUEST_FAILED.
 */
export function mapEc2Error(err: unknown, operation: string, endpoint: string): BootrackError {
  if (isBootrackError(err)) return err;
  const e = (err ?? {}) as AwsLikeError;
  const awsCode = e.name && e.name !== 'Error' ? e.name : (e.code ?? 'Unknown');
  const status = e.$metadata?.httpStatusCode;
  const details = { operation, awsCode, httpStatus: status, requestId: e.$metadata?.requestId, endpoint };
  const text = `${operation}: ${awsCode}${e.message ? `: ${e.message}` : ''}`;
  // The SDK error carries the whole HTTP exchange (signed headers included): keep only its words.
  err = Object.assign(new Error(e.message ?? awsCode), { name: awsCode });
  if (AUTH.has(awsCode) || (status === 401 && !THROTTLE.has(awsCode))) {
    const hint = awsCode === 'UnauthorizedOperation' ? 'the credentials are valid but lack the IAM permission for this call' : 'check the access key, secret and clock (driverOptions, AWS_* environment, or the profile in ~/.aws)';
    return new BootrackError('CLOUD_AUTH_FAILED', `${text} — ${hint}`, details, { cause: err });
  }
  if (CAPACITY.has(awsCode)) return new BootrackError('CLOUD_CAPACITY', `${text} — try another instance type or availability zone, or later`, details, { cause: err });
  if (THROTTLE.has(awsCode)) return new BootrackError('CLOUD_THROTTLED', `${text} — EC2 throttled this account's API calls`, details, { cause: err });
  if (NOT_FOUND.test(awsCode)) return new BootrackError('CLOUD_NOT_FOUND', text, details, { cause: err });
  if (awsCode === 'TimeoutError' || awsCode === 'ETIMEDOUT' || /timed? ?out/i.test(e.message ?? '')) return new BootrackError('TIMEOUT', `${text} (endpoint ${endpoint})`, details, { cause: err });
  if (status === undefined) return new BootrackError('DRIVER_API_ERROR', `${text} (endpoint ${endpoint} unreachable?)`, details, { cause: err });
  return new BootrackError('CLOUD_REQUEST_FAILED', text, details, { cause: err });
}

export interface RetryPolicy {
  /** Total tries of one call, the first included (default 5). */
  maxAttempts?: number;
  /** First backoff; doubles each retry, with full jitter, capped by maxDelayMs (defaults 500 ms / 20 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `fn`, retrying ONLY on CLOUD_THROTTLED (AWS's advice: exponential backoff with jitter).
 * Capacity and auth errors are answers, not congestion: they are thrown at once. When the tries
 * run out, the last CLOUD_THROTTLED is thrown with `details.attempts`.
 */
export async function withRetry<T>(what: string, fn: () => Promise<T>, policy: RetryPolicy = {}, onRetry?: (message: string) => void): Promise<T> {
  const max = Math.max(1, policy.maxAttempts ?? 5);
  const base = Math.max(1, policy.baseDelayMs ?? 500);
  const cap = Math.max(base, policy.maxDelayMs ?? 20_000);
  const sleep = policy.sleep ?? defaultSleep;
  const random = policy.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isBootrackError(err, 'CLOUD_THROTTLED')) throw err;
      if (attempt >= max) {
        throw new BootrackError('CLOUD_THROTTLED', `${what}: still throttled after ${attempt} attempts — ${err.message}`, { ...err.details, attempts: attempt }, { cause: err });
      }
      const delay = Math.round(random() * Math.min(cap, base * 2 ** (attempt - 1)));
      onRetry?.(`${what} throttled by EC2 (attempt ${attempt}/${max}); retrying in ${delay} ms`);
      await sleep(delay);
    }
  }
}
