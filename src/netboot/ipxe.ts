import { BootrackError } from '../common/errors.js';
import type { Mac } from '../common/mac.js';
import type { BootProfile, Firmware, Machine, MachineState } from '../registry/index.js';
import type { IpxeTemplates, TemplateView } from './ipxe-template.js';
import { BOOT_PATHS, macPathSegment, type BootBase } from './urls.js';

/**
 * Which iPXE script a machine gets, by state. A pure function of the machine record, the firmware,
 * the appliance's base URL and a freshly minted agent token; the handler in boot-script.ts does the
 * registry side (enlisting, state moves, tokens, events).
 */
export type ScriptKind = 'discovery' | 'deploy' | 'local';

/** `auto` = the firmware is unknown: the script asks iPXE (`iseq ${platform} efi`). */
export type FirmwareChoice = Firmware | 'auto';

const KIND_BY_STATE: Readonly<Record<MachineState, ScriptKind>> = {
  new: 'discovery',
  commissioning: 'discovery',
  deploying: 'deploy',
  // Everything else must not network-boot into anything: installed, idle, owned, or broken boxes
  // boot their disk, so a stray PXE boot can never wipe or hijack them.
  failed_commissioning: 'local',
  ready: 'local',
  allocated: 'local',
  deployed: 'local',
  failed_deployment: 'local',
  releasing: 'local',
  broken: 'local',
};

export function scriptKindFor(state: MachineState): ScriptKind {
  return KIND_BY_STATE[state];
}

/** iPXE's ${platform}: `pcbios` or `efi` (also `efi` on arm64); anything else is unknown. */
export function firmwareFromPlatform(platform: string | null | undefined): Firmware | null {
  if (platform === 'efi') return 'uefi';
  if (platform === 'pcbios') return 'bios';
  return null;
}

/** iPXE's ${buildarch} → our arch names; i386 says nothing (undionly is i386 on 64-bit boxes too). */
export function archFromBuildarch(buildarch: string | null | undefined): string | null {
  if (buildarch === 'x86_64') return 'amd64';
  if (buildarch === 'arm64') return 'arm64';
  return null;
}

/** The request's ?platform= wins (it is what is running now), then the record, else ask iPXE. */
export function chooseFirmware(machine: Pick<Machine, 'firmware'>, platform: string | null | undefined): FirmwareChoice {
  return firmwareFromPlatform(platform) ?? machine.firmware ?? 'auto';
}

export interface ScriptInput {
  machine: Pick<Machine, 'id' | 'state' | 'bootProfile'>;
  mac: Mac;
  firmware: FirmwareChoice;
  base: BootBase;
  /** Plaintext agent token for this boot; required for discovery and deploy. */
  agentToken?: string;
  /** Operators' keys for root in the discovery OS (config.discovery.sshPublicKeys). */
  discoverySshKeys?: readonly string[];
}

export function renderBootScript(templates: IpxeTemplates, kind: ScriptKind, input: ScriptInput): string {
  const common = {
    machineId: input.machine.id,
    state: input.machine.state,
    firmware: input.firmware,
    bios: input.firmware === 'bios',
    uefi: input.firmware === 'uefi',
    auto: input.firmware === 'auto',
  };
  if (kind === 'local') return templates.local.render(common);
  if (input.agentToken === undefined) throw new BootrackError('INTERNAL', `a ${kind} script needs an agent token`, { kind });
  if (kind === 'discovery') {
    return templates.discovery.render({ ...common, ...linuxView(input, discoveryTarget(input.base, input.mac), 'discovery', input.discoverySshKeys ?? []) });
  }
  const profile: BootProfile = input.machine.bootProfile ?? { kind: 'ephemeral', sshPublicKeys: [] };
  return templates.deploy.render({ ...common, ...linuxView(input, deployTarget(input.base, input.mac, profile), 'deploy', profile.sshPublicKeys, profile) });
}

interface LinuxTarget {
  kernelUrl: string;
  initrdUrl: string | null;
  cmdline: string;
}

/** Our own asset URLs carry the MAC so the download lands on the machine's timeline. */
function ownAsset(base: BootBase, path: string, mac: Mac): string {
  return `${base.httpBase}${path}?mac=${macPathSegment(mac)}`;
}

function discoveryTarget(base: BootBase, mac: Mac): LinuxTarget {
  return {
    kernelUrl: ownAsset(base, BOOT_PATHS.discoveryKernel, mac),
    initrdUrl: ownAsset(base, BOOT_PATHS.discoveryInitrd, mac),
    cmdline: 'console=tty0 console=ttyS0,115200 panic=30',
  };
}

/** A profile without a kernel boots the discovery OS in deploy mode (an ephemeral, SSH-able box). */
function deployTarget(base: BootBase, mac: Mac, profile: BootProfile): LinuxTarget {
  if (!profile.kernel) {
    const target = discoveryTarget(base, mac);
    return { ...target, cmdline: [target.cmdline, profile.cmdline ?? ''].filter(Boolean).join(' ') };
  }
  const resolve = (ref: string): string => (/^https?:\/\//i.test(ref) ? ref : ownAsset(base, ref.startsWith('/') ? ref : `/${ref}`, mac));
  return { kernelUrl: resolve(profile.kernel), initrdUrl: profile.initrd ? resolve(profile.initrd) : null, cmdline: profile.cmdline ?? '' };
}

function linuxView(input: ScriptInput, target: LinuxTarget, mode: 'discovery' | 'deploy', sshKeys: readonly string[], profile?: BootProfile): TemplateView {
  const words = [
    // The EFI stub loads the initrd by the name iPXE gave it (lab pitfall 8); harmless under BIOS.
    target.initrdUrl !== null && input.firmware !== 'bios' ? 'initrd=initrd.img' : '',
    target.cmdline,
    `bootrack.url=${input.base.httpBase}`,
    `bootrack.token=${input.agentToken}`,
    `bootrack.mac=${input.mac}`,
    `bootrack.mode=${mode}`,
    // pxelinux's convention, which initramfs tools understand: the interface that booted.
    `BOOTIF=01-${macPathSegment(input.mac)}`,
    // Keys hold spaces and comments: one base64url word keeps the command line unambiguous.
    sshKeys.length ? `bootrack.ssh_keys=${Buffer.from(sshKeys.join('\n'), 'utf8').toString('base64url')}` : '',
    profile?.kind === 'image' && profile.image ? `bootrack.image=${profile.image}` : '',
  ];
  return {
    kernelUrl: encodeSpaces(target.kernelUrl),
    initrdUrl: target.initrdUrl === null ? '' : encodeSpaces(target.initrdUrl),
    hasInitrd: target.initrdUrl !== null,
    cmdline: words.filter(Boolean).join(' '),
  };
}

/** A URL is one iPXE word: whitespace inside it is percent-encoded. */
function encodeSpaces(url: string): string {
  return url.replace(/\s/g, (c) => encodeURIComponent(c));
}

/** x86 Linux truncates the command line at 2048 bytes (COMMAND_LINE_SIZE); callers warn past it. */
export const KERNEL_CMDLINE_MAX = 2048;
