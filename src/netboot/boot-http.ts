import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import type { Logger } from '../common/logger.js';
import { parseMac } from '../common/mac.js';
import type { Registry } from '../registry/index.js';
import { createAssetEventRecorder, type AssetTransfer } from './boot-events.js';
import { createBootScriptHandler, type BootScriptHandler } from './boot-script.js';
import { loadIpxeTemplates, type IpxeTemplates } from './ipxe-template.js';
import { BOOT_PATHS, bootBase } from './urls.js';

/** The policy half of the boot HTTP side, for main.ts to hand to servers/http. */
export interface BootHttpPolicy {
  /** GET <prefix>/<mac>.ipxe (BOOT_PATHS.ipxeScript). */
  script: { prefix: string; handler: BootScriptHandler };
  /** config.ipxe.dir, served under BOOT_PATHS.ipxeProgram's prefix, with its transfer hook. */
  ipxe: { prefix: string; root: string; trustedLinks: string[]; onTransfer: (t: AssetTransfer) => void };
  /** config.discovery.imageDir, served where BOOT_PATHS.discoveryKernel/Initrd point, with its transfer hook. */
  discovery: { prefix: string; root: string; onTransfer: (t: AssetTransfer) => void };
}

export function createBootHttpPolicy(deps: { config: Readonly<Config>; registry: Registry; logger: Logger; templates?: IpxeTemplates }): BootHttpPolicy {
  const { config, registry, logger } = deps;
  return {
    script: {
      prefix: prefixOf(BOOT_PATHS.ipxeScript(parseMac('00:00:00:00:00:00'))),
      handler: createBootScriptHandler({
        registry,
        logger,
        base: bootBase(config.advertiseAddress, config.http.port),
        templates: deps.templates ?? loadIpxeTemplates(),
        discoveryImageDir: config.discovery.imageDir,
        discoverySshKeys: config.discovery.sshPublicKeys,
      }),
    },
    ipxe: {
      prefix: prefixOf(BOOT_PATHS.ipxeProgram('x')),
      root: config.ipxe.dir,
      // The configured boot programs may be symlinks out of the directory (Debian: ipxe.efi -> /boot/ipxe.efi).
      trustedLinks: [config.ipxe.biosFile, config.ipxe.uefiX64File, config.ipxe.uefiArm64File].map((f) => join(config.ipxe.dir, f)),
      onTransfer: createAssetEventRecorder({ registry, logger, area: 'ipxe' }),
    },
    discovery: { prefix: prefixOf(BOOT_PATHS.discoveryKernel), root: config.discovery.imageDir, onTransfer: createAssetEventRecorder({ registry, logger, area: 'images/discovery' }) },
  };
}

/** `/images/discovery/vmlinuz` → `/images/discovery`: the mount point is the URL layout's directory. */
function prefixOf(path: string): string {
  return path.slice(0, path.lastIndexOf('/'));
}
