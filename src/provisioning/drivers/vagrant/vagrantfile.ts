import { BootrackError } from '../../../common/errors.js';
import type { MachineOptions } from '../../driver.js';

/**
 * vagrant: machine options (beside CommonMachineOptions):
 *   vagrantOptions: { box (required), boxVersion, hostname (default: the machine name when it is a
 *     valid hostname), cpus, memory (MiB), networks: [{ type: "private_network", ip: "…" }, …] }
 *   vagrantConfig: a free-form Ruby fragment appended inside the machine's define block; the
 *     machine's config object is `machine` (e.g. `machine.vm.boot_timeout = 120`)
 *   vagrantProvider: the provider (default driverOptions.provider, else "libvirt")
 *   upTimeoutMs: bound on one `vagrant up` (default: what is left of readyTimeoutMs)
 */
export interface VagrantMachineOptions extends MachineOptions {
  vagrantOptions?: {
    box?: string;
    boxVersion?: string;
    hostname?: string;
    cpus?: number;
    memory?: number;
    networks?: Array<Record<string, unknown> & { type: string }>;
  };
  vagrantConfig?: string;
  vagrantProvider?: string;
  upTimeoutMs?: number;
}

/** Machine names become file names and Vagrant `define` names: keep them plain. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const PROVIDER = /^[a-z][a-z0-9_-]{0,31}$/;

export function assertVagrantName(name: string): void {
  if (!NAME.test(name)) throw new BootrackError('VALIDATION_FAILED', `machine name ${JSON.stringify(name)} cannot be a Vagrant machine: use letters, digits, ".", "_" or "-" (it names <name>.vm and the VM)`, { name });
}

export function assertProvider(provider: string): void {
  if (!PROVIDER.test(provider)) throw new BootrackError('VALIDATION_FAILED', `${JSON.stringify(provider)} is not a Vagrant provider name`, { provider });
}

/** A Ruby literal for a JSON-like value. Strings are double-quoted with `\`, `"` and `#` escaped (no interpolation). */
export function rubyLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new BootrackError('VALIDATION_FAILED', `${value} cannot be written into a Vagrantfile`);
    return String(value);
  }
  if (typeof value === 'string') return `"${value.replace(/[\\"#]/g, (c) => `\\${c}`).replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`;
  if (Array.isArray(value)) return `[${value.map(rubyLiteral).join(', ')}]`;
  if (typeof value === 'object') return `{ ${Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).map(([k, v]) => `${rubyLiteral(k)} => ${rubyLiteral(v)}`).join(', ')} }`;
  throw new BootrackError('VALIDATION_FAILED', `a ${typeof value} cannot be written into a Vagrantfile`);
}

/** The cluster Vagrantfile: loads every `<name>.vm` of its directory (chef-provisioning-vagrant's layout). */
export const CLUSTER_VAGRANTFILE = `# Written by bootrack's vagrant: driver. Each machine lives in its own <name>.vm file here.
Dir.glob(File.join(__dir__, "*.vm")).sort.each { |f| eval(File.read(f), binding, f) }
`;

/** The `<name>.vm` file of one machine, from its options. Deterministic: same options, same bytes. */
export function machineVagrantfile(name: string, options: VagrantMachineOptions, provider: string): string {
  assertVagrantName(name);
  assertProvider(provider);
  const v = options.vagrantOptions ?? {};
  if (typeof v.box !== 'string' || v.box === '') {
    throw new BootrackError('VALIDATION_FAILED', `${name}: machine option vagrantOptions.box (the Vagrant box to boot) is required`, { machine: name });
  }
  const hostname = v.hostname ?? (HOSTNAME.test(name) ? name : undefined);
  if (hostname !== undefined && !HOSTNAME.test(hostname)) throw new BootrackError('VALIDATION_FAILED', `${name}: ${JSON.stringify(hostname)} is not a valid hostname`, { machine: name });
  const lines = [
    `# Written by bootrack's vagrant: driver for machine ${rubyLiteral(name)}; it is rewritten from the machine options.`,
    'Vagrant.configure("2") do |config|',
    `  config.vm.define ${rubyLiteral(name)} do |machine|`,
    `    machine.vm.box = ${rubyLiteral(v.box)}`,
  ];
  if (v.boxVersion) lines.push(`    machine.vm.box_version = ${rubyLiteral(v.boxVersion)}`);
  if (hostname) lines.push(`    machine.vm.hostname = ${rubyLiteral(hostname)}`);
  for (const net of v.networks ?? []) {
    const { type, ...rest } = net;
    if (typeof type !== 'string' || !/^[a-z_]+$/.test(type)) throw new BootrackError('VALIDATION_FAILED', `${name}: a network needs a type such as "private_network"`, { machine: name });
    const args = Object.entries(rest).map(([k, val]) => `${/^[a-z_][a-z0-9_]*$/.test(k) ? `${k}:` : `${rubyLiteral(k)} =>`} ${rubyLiteral(val)}`);
    lines.push(`    machine.vm.network :${type}${args.length ? `, ${args.join(', ')}` : ''}`);
  }
  if (v.cpus !== undefined || v.memory !== undefined) {
    lines.push(`    machine.vm.provider :${provider} do |p|`);
    if (v.cpus !== undefined) lines.push(`      p.cpus = ${rubyLiteral(Math.floor(Number(v.cpus)))}`);
    if (v.memory !== undefined) lines.push(`      p.memory = ${rubyLiteral(Math.floor(Number(v.memory)))}`);
    lines.push('    end');
  }
  if (options.vagrantConfig) {
    lines.push('    # --- vagrantConfig (free-form) ---');
    for (const l of options.vagrantConfig.replace(/\s+$/, '').split('\n')) lines.push(`    ${l}`);
  }
  lines.push('  end', 'end', '');
  return lines.join('\n');
}
