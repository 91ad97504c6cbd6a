import { z } from 'zod';
import { BootrackError } from '../../common/errors.js';
import type { PowerTarget } from '../types.js';

/** FreeIPMI privilege names (ipmipower -l). */
export const PRIVILEGES = ['USER', 'OPERATOR', 'ADMIN'] as const;
export type Privilege = (typeof PRIVILEGES)[number];

/** Driver-wide defaults, from config.power.ipmi. */
export interface IpmiDefaults {
  ipmipowerPath: string;
  ipmitoolPath: string;
  /** 3 = RAKP-HMAC-SHA1/AES (the lab's ipmi_sim); 17 = HMAC-SHA256, often the only suite modern BMCs allow. */
  cipherSuite: number;
  privilege: Privilege;
  /** FreeIPMI -W flags, e.g. opensesspriv (needed against ipmi_sim), intel20, supermicro20, sun20. */
  workarounds: string[];
  sessionTimeoutMs: number;
  retransmissionTimeoutMs: number;
  /** Hard kill bound for one tool run, above the session timeout. */
  commandTimeoutMs: number;
  /** Run the tools inside this network namespace (a BMC network kept in its own netns). */
  netns: string;
}

/** Per-machine overrides, from the machine's power options. Unknown keys are refused. */
export const ipmiMachineOptionsSchema = z
  .object({
    port: z.number().int().min(1).max(65535).optional(),
    cipherSuite: z.number().int().min(0).max(17).optional(),
    privilege: z.enum(PRIVILEGES).optional(),
    workarounds: z.array(z.string().regex(/^[a-z0-9]+$/)).optional(),
    /** lanplus = IPMI 2.0 / RMCP+ (default); lan = IPMI 1.5 (slow with ipmipower: ~437 ms/call). */
    interface: z.enum(['lanplus', 'lan']).optional(),
    /** Which tool sets the boot device: ipmitool (default: ipmi_sim and picky BMCs) or ipmi-chassis. */
    bootdevTool: z.enum(['ipmitool', 'ipmi-chassis']).optional(),
  })
  .strict();

export interface ResolvedIpmi {
  host: string;
  port: number;
  username: string;
  password: string;
  cipherSuite: number;
  privilege: Privilege;
  workarounds: string[];
  interface: 'lanplus' | 'lan';
  bootdevTool: 'ipmitool' | 'ipmi-chassis';
}

/**
 * A host name or IPv4 address. No leading '-', no ',' (ipmipower would read a host list), no
 * brackets (FreeIPMI host ranges like node[1-4]), no ':' (FreeIPMI's port separator; the port is
 * options.port). IPv6 BMC addresses are therefore not supported.
 */
const HOST = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Merges defaults with the machine's options; BMC_ERROR names the offending field (never a secret). */
export function resolveIpmi(target: PowerTarget, defaults: IpmiDefaults): ResolvedIpmi {
  if (!target.address || !HOST.test(target.address)) {
    throw new BootrackError('VALIDATION_FAILED', `IPMI address ${JSON.stringify(target.address)} is not a host name or IP`, { machine: target.machineId });
  }
  const parsed = ipmiMachineOptionsSchema.safeParse(target.options);
  if (!parsed.success) {
    throw new BootrackError('VALIDATION_FAILED', 'invalid IPMI power options', { machine: target.machineId, issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) });
  }
  const o = parsed.data;
  return {
    host: target.address,
    port: o.port ?? 623,
    username: target.credentials?.username ?? '',
    password: target.credentials?.password ?? '',
    cipherSuite: o.cipherSuite ?? defaults.cipherSuite,
    privilege: o.privilege ?? defaults.privilege,
    workarounds: o.workarounds ?? defaults.workarounds,
    interface: o.interface ?? 'lanplus',
    bootdevTool: o.bootdevTool ?? 'ipmitool',
  };
}

/** Everything except host/port: targets sharing this key can ride one batched ipmipower call. */
export function sessionKey(r: ResolvedIpmi): string {
  return JSON.stringify([r.username, r.password, r.cipherSuite, r.privilege, [...r.workarounds].sort(), r.interface]);
}

/** FreeIPMI host syntax: host or host:port (port omitted for 623). */
export function freeipmiHost(r: Pick<ResolvedIpmi, 'host' | 'port'>): string {
  return r.port === 623 ? r.host : `${r.host}:${r.port}`;
}

/**
 * A FreeIPMI config file (freeipmi.conf(5)) holding the credentials, so they never reach argv.
 * Values are written bare; a newline in a value would inject another directive, so it is refused.
 */
export function freeipmiConfig(r: ResolvedIpmi): string {
  for (const [field, value] of [['username', r.username], ['password', r.password]] as const) {
    if (/[\r\n]/.test(value)) throw new BootrackError('VALIDATION_FAILED', `the IPMI ${field} contains a line break`, { field });
  }
  const lines = [];
  if (r.username) lines.push(`username ${r.username}`);
  if (r.password) lines.push(`password ${r.password}`);
  return lines.join('\n') + '\n';
}

/** argv shared by ipmipower and ipmi-chassis (no credentials). */
export function freeipmiCommonArgs(r: ResolvedIpmi, configPath: string, d: IpmiDefaults): string[] {
  const args = ['--config-file', configPath, '-D', r.interface === 'lan' ? 'LAN' : 'LAN_2_0', '-l', r.privilege];
  if (r.interface === 'lanplus') args.push('-I', String(r.cipherSuite));
  if (r.workarounds.length) args.push('-W', r.workarounds.join(','));
  // FreeIPMI refuses a retransmission timeout above the session timeout; clamp rather than fail.
  args.push(`--session-timeout=${d.sessionTimeoutMs}`, `--retransmission-timeout=${Math.min(d.retransmissionTimeoutMs, d.sessionTimeoutMs)}`);
  return args;
}
