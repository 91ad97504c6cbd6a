import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { BootrackError, isBootrackError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { parseMac, type Mac } from '../common/mac.js';
import type { Machine, Registry } from '../registry/index.js';
import { archFromBuildarch, chooseFirmware, firmwareFromPlatform, KERNEL_CMDLINE_MAX, renderBootScript, scriptKindFor, type ScriptKind } from './ipxe.js';
import type { IpxeTemplates } from './ipxe-template.js';
import { BOOT_PATHS, type BootBase } from './urls.js';

export interface BootScriptDeps {
  registry: Registry;
  logger: Logger;
  base: BootBase;
  templates: IpxeTemplates;
  /** config.discovery.imageDir: holds vmlinuz and initrd.img, served under /images/discovery/. */
  discoveryImageDir: string;
  /** config.discovery.sshPublicKeys: root's authorized keys in the discovery OS. */
  discoverySshKeys?: readonly string[];
}

/** Connect-style handler (the shape servers/http mounts), declared structurally so netboot imports no server. */
export type BootScriptHandler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

const ACTOR = { actor: 'http' } as const;

/**
 * GET /boot/<mac>.ipxe — the per-machine iPXE script, mounted at BOOT_PATHS' `/boot` prefix.
 * Unknown MACs are enlisted as `new`; `new` moves to `commissioning` when it fetches the discovery
 * script; discovery and deploy scripts carry a fresh agent token (the machine's earlier agent tokens
 * are revoked first, so one boot = one live token). Every answer, refusal included, is a `http`
 * event on the machine's timeline.
 */
export function createBootScriptHandler(deps: BootScriptDeps): BootScriptHandler {
  const logger = deps.logger.child({ part: 'boot-script' });
  return (req, res, next) => {
    // GET only: fetching a script has effects (enlisting, a state move, a new agent token), so a HEAD
    // probe must not pretend to be harmless.
    if (req.method !== 'GET') {
      res.writeHead(405, { Allow: 'GET', 'Content-Length': 0 }).end();
      return;
    }
    let mac: Mac;
    let query: URLSearchParams;
    try {
      ({ mac, query } = parseScriptUrl(req.url ?? '/'));
    } catch (err) {
      next(err);
      return;
    }
    const remote = req.socket.remoteAddress ?? null;
    let machine: Machine | null = null;
    try {
      machine = enlist(deps.registry, mac, query, logger);
      const served = serveScript(deps, machine, mac, query, logger);
      deps.registry.events.append({
        machineId: machine.id,
        mac,
        kind: 'http',
        type: 'script_served',
        actor: 'http',
        data: { script: served.kind, firmware: served.firmware, state: served.state, platform: query.get('platform'), arch: query.get('arch'), remote, tokenId: served.tokenId },
      });
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(served.text), 'Cache-Control': 'no-store' });
      res.end(served.text);
    } catch (err) {
      try {
        deps.registry.events.append({
          machineId: machine?.id ?? null,
          mac,
          kind: 'http',
          type: 'script_refused',
          actor: 'http',
          data: { code: isBootrackError(err) ? err.code : 'INTERNAL', message: err instanceof Error ? err.message : String(err), remote },
        });
      } catch (eventErr) {
        logger.error({ err: eventErr }, 'could not record script_refused');
      }
      next(err);
    }
  };
}

/** `/<mac>.ipxe[?platform=..&arch=..]`, the MAC in any spelling parseMac takes (iPXE sends hexhyp). */
export function parseScriptUrl(url: string): { mac: Mac; query: URLSearchParams } {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const m = /^\/([0-9A-Za-z:.-]{12,17})\.ipxe$/.exec(path);
  if (!m) throw new BootrackError('INVALID_MAC', `expected /boot/<mac>.ipxe, got ${JSON.stringify(path.slice(0, 100))}`, { path: path.slice(0, 100) });
  return { mac: parseMac(m[1]!), query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)) };
}

function enlist(registry: Registry, mac: Mac, query: URLSearchParams, logger: Logger): Machine {
  const known = registry.machines.findByMac(mac);
  if (known) {
    const firmware = firmwareFromPlatform(query.get('platform'));
    // First sight of the firmware from iPXE itself: remember it for DHCP and later scripts.
    if (known.firmware === null && firmware !== null) return registry.machines.update(known.id, { firmware }, { ...ACTOR, reason: 'iPXE ${platform}' });
    return known;
  }
  try {
    const created = registry.machines.create(
      { macs: [mac], firmware: firmwareFromPlatform(query.get('platform')), arch: archFromBuildarch(query.get('arch')) },
      { ...ACTOR, reason: 'enlisted by its first iPXE script fetch' },
    );
    logger.info({ machine: created.id, mac }, 'enlisted unknown MAC');
    return created;
  } catch (err) {
    // Two fetches for the same new MAC at once: the loser reads what the winner created.
    if (isBootrackError(err, 'DUPLICATE_MAC') || isBootrackError(err, 'DUPLICATE_NAME')) {
      const raced = registry.machines.findByMac(mac);
      if (raced) return raced;
    }
    throw err;
  }
}

interface Served {
  kind: ScriptKind;
  firmware: string;
  state: string;
  text: string;
  tokenId: string | null;
}

function serveScript(deps: BootScriptDeps, machine: Machine, mac: Mac, query: URLSearchParams, logger: Logger): Served {
  const kind = scriptKindFor(machine.state);
  const firmware = chooseFirmware(machine, query.get('platform'));
  if (kind === 'local') {
    const text = renderBootScript(deps.templates, 'local', { machine, mac, firmware, base: deps.base });
    return { kind, firmware, state: machine.state, text, tokenId: null };
  }
  const needsDiscoveryImage = kind === 'discovery' || !machine.bootProfile?.kernel;
  if (needsDiscoveryImage) assertDiscoveryImage(deps.discoveryImageDir);
  const { registry } = deps;
  return registry.transaction((): Served => {
    // Re-read inside the write transaction: the state may have moved since the first look.
    let current = registry.machines.get(machine.id);
    if (scriptKindFor(current.state) !== kind) {
      throw new BootrackError('ILLEGAL_TRANSITION', `${current.name} changed state to ${current.state} while its script was rendered`, { machine: current.id, state: current.state });
    }
    if (current.state === 'new') {
      current = registry.machines.transitionInTx(current, 'commissioning', { ...ACTOR, reason: 'fetched the discovery script' }, { expectFrom: ['new'] });
    }
    registry.tokens.revokeAgentTokens(current.id);
    const { token, record } = registry.tokens.create({ role: 'agent', machineId: current.id, name: `boot:${current.name}:${kind}` });
    const text = renderBootScript(deps.templates, kind, { machine: current, mac, firmware, base: deps.base, agentToken: token, discoverySshKeys: deps.discoverySshKeys ?? [] });
    const cmdline = /^kernel \S+ (.*) \|\| goto failed$/m.exec(text)?.[1] ?? '';
    if (cmdline.length > KERNEL_CMDLINE_MAX) {
      logger.warn({ machine: current.id, length: cmdline.length }, 'kernel command line longer than x86 COMMAND_LINE_SIZE; the kernel will truncate it');
    }
    return { kind, firmware, state: current.state, text, tokenId: record.id };
  });
}

/** The discovery OS is built by `bootrack image build`; without it no machine can be commissioned. */
export function assertDiscoveryImage(imageDir: string): void {
  const missing = [BOOT_PATHS.discoveryKernel, BOOT_PATHS.discoveryInitrd]
    .map((p) => join(imageDir, p.slice(p.lastIndexOf('/') + 1)))
    .filter((file) => !existsSync(file));
  if (missing.length) {
    throw new BootrackError('IMAGE_MISSING', `the discovery image is not built (missing ${missing.join(', ')}); build it with \`bootrack image build\``, {
      missing,
      command: 'bootrack image build',
    });
  }
}
