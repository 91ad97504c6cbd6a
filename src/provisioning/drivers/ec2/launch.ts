import { createHash } from 'node:crypto';
import { BootrackError } from '../../../common/errors.js';
import type { MachineOptions } from '../../driver.js';
import type { RetryPolicy } from './port.js';

/**
 * ec2: machine options (beside CommonMachineOptions). Credentials never go here: see driverOptions.
 *   imageId (required to allocate), instanceType (default t3.micro), keyName (the EC2 key pair AND
 *   the private key name for getPrivateKey; default bootstrapKey or "bootstrap"), subnetId,
 *   securityGroupIds, availabilityZone, userData (plain text), tags,
 *   usePrivateIp (SSH to the private address), hostKeySource ("console": pin the host key cloud-init
 *   prints on the console, the default; "any": accept any key, for throwaway instances only),
 *   pollIntervalMs (how often ready polls EC2, default 5 s), sshUsername (default ec2-user).
 */
export interface Ec2MachineOptions extends MachineOptions {
  imageId?: string;
  instanceType?: string;
  keyName?: string;
  subnetId?: string;
  securityGroupIds?: string[];
  availabilityZone?: string;
  userData?: string;
  tags?: Record<string, string>;
  usePrivateIp?: boolean;
  hostKeySource?: 'console' | 'any';
  pollIntervalMs?: number;
}

/** The launch parameters that must be equal for machines to share one RunInstances call. */
export interface LaunchParams {
  imageId: string;
  instanceType: string;
  keyName: string;
  subnetId?: string;
  securityGroupIds?: string[];
  availabilityZone?: string;
  userData?: string;
  tags: Record<string, string>;
}

export const DEFAULT_INSTANCE_TYPE = 't3.micro';

export function keyNameOf(options: Ec2MachineOptions): string {
  return options.keyName ?? options.bootstrapKey ?? 'bootstrap';
}

export function launchParamsOf(options: Ec2MachineOptions, machineName: string): LaunchParams {
  if (typeof options.imageId !== 'string' || options.imageId === '') {
    throw new BootrackError('VALIDATION_FAILED', `${machineName}: machine option imageId (an AMI id such as ami-0abc…) is required to allocate an EC2 instance`, { machine: machineName });
  }
  return {
    imageId: options.imageId,
    instanceType: options.instanceType ?? DEFAULT_INSTANCE_TYPE,
    keyName: keyNameOf(options),
    ...(options.subnetId ? { subnetId: options.subnetId } : {}),
    ...(options.securityGroupIds?.length ? { securityGroupIds: [...options.securityGroupIds].sort() } : {}),
    ...(options.availabilityZone ? { availabilityZone: options.availabilityZone } : {}),
    ...(options.userData ? { userData: options.userData } : {}),
    tags: { ...(options.tags ?? {}) },
  };
}

/** Stable JSON (sorted keys), so equal parameters digest equally. */
function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function launchDigest(params: LaunchParams): string {
  return createHash('sha256').update(stable(params)).digest('hex');
}

/**
 * The RunInstances idempotency token: derived from the driver URL, the machine entries and the
 * launch parameters, so a rerun after a crash between "launched" and "saved" gets the SAME
 * instance back instead of a second one (CPA#158). `salt` chains past a token whose instance was
 * terminated (EC2 keeps answering a used token with its old instance).
 */
export function clientToken(driverUrl: string, entryIds: readonly string[], digest: string, salt = ''): string {
  const h = createHash('sha256').update(`${driverUrl}\n${[...entryIds].sort().join('\n')}\n${digest}\n${salt}`).digest('hex');
  return `bootrack-${h.slice(0, 48)}`;
}

/** Tags naming the machine; `bootrack:entry` is how a lost reference is found again. */
export function machineTags(driverUrl: string, name: string, entryId: string): Record<string, string> {
  return { Name: name, 'bootrack:machine': name, 'bootrack:entry': entryId, 'bootrack:driver': driverUrl };
}

export function retryPolicyOf(driverOptions: Record<string, unknown>): RetryPolicy {
  const r = (driverOptions.retry ?? {}) as { maxAttempts?: unknown; baseDelayMs?: unknown; maxDelayMs?: unknown };
  return {
    ...(typeof r.maxAttempts === 'number' ? { maxAttempts: r.maxAttempts } : {}),
    ...(typeof r.baseDelayMs === 'number' ? { baseDelayMs: r.baseDelayMs } : {}),
    ...(typeof r.maxDelayMs === 'number' ? { maxDelayMs: r.maxDelayMs } : {}),
  };
}

const HOST_KEYS = /-----BEGIN SSH HOST KEY KEYS-----([\s\S]*?)-----END SSH HOST KEY KEYS-----/;
const PREFERENCE = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'ssh-rsa'];

/**
 * The host key cloud-init prints on the serial console between the BEGIN/END SSH HOST KEY KEYS
 * markers. Picks the type ssh2 negotiates first (ed25519, then ECDSA, then RSA), so the pin is the
 * key the server will present. undefined while the block has not been printed yet.
 */
export function hostKeyFromConsole(output: string | undefined): string | undefined {
  const block = output ? HOST_KEYS.exec(output)?.[1] : undefined;
  if (!block) return undefined;
  const keys = block.split('\n').map((l) => l.trim().split(/\s+/)).filter((p) => p.length >= 2 && /^[A-Za-z0-9+/=]+$/.test(p[1]!));
  for (const type of PREFERENCE) {
    const k = keys.find((p) => p[0] === type);
    if (k) return `${k[0]} ${k[1]}`;
  }
  return keys[0] ? `${keys[0][0]} ${keys[0][1]}` : undefined;
}
