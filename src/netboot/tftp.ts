import type { Stats } from 'node:fs';
import { Counter, Registry as PromRegistry } from 'prom-client';
import type { Config } from '../config/schema.js';
import type { Logger } from '../common/logger.js';
import { isMac, parseMac, type Mac } from '../common/mac.js';
import type { Metrics } from '../common/metrics.js';
import type { Registry } from '../registry/index.js';
import { bootBase, ipxeScriptUrl, macPathSegment } from './urls.js';
import { checkTftpName, resolveUnderRoot, type RefusalReason } from './tftp-paths.js';

/**
 * TFTP boot policy: which bytes a client gets for a name. TFTP carries no MAC, so the client address
 * is mapped to its MAC through our own DHCP leases; that MAC picks per-machine files and puts each
 * transfer on the machine's boot timeline.
 *
 * The shapes below mirror servers/tftp's handler contract structurally (netboot may not import
 * servers/): `file | buffer | not-found | denied`.
 */
export interface TftpPolicyRequest {
  path: string;
  client: { address: string; port: number };
}
export type TftpPolicyAnswer = { kind: 'file'; path: string; stats?: Stats } | { kind: 'buffer'; data: Buffer } | { kind: 'not-found' } | { kind: 'denied'; reason: string };

export interface TftpTransferRecord {
  id: number;
  path: string;
  client: { address: string; port: number };
  startedAt: Date;
  durationMs: number;
  outcome: string;
  options: { blksize: number; windowsize: number; timeoutSeconds: number | null; tsize: number | null; oack: boolean };
  bytes: number;
  blocks: number;
  retransmits: number;
  ignoredAcks: number;
  error?: string;
}

/** The registry surface this policy uses (narrow, so tests may pass a real registry only). */
export type TftpRegistryPort = Pick<Registry, 'leases' | 'machines' | 'events' | 'transaction'>;

export interface TftpPolicyDeps {
  config: Pick<Config, 'tftp' | 'ipxe' | 'advertiseAddress' | 'http'>;
  registry?: TftpRegistryPort;
  logger: Logger;
  metrics?: Metrics;
}

/** Names iPXE fetches on its own (`autoexec.ipxe`) or that DHCP may hand out: a chain to our HTTP script. */
export const GENERATED_SCRIPT_NAMES: readonly string[] = ['autoexec.ipxe', 'bootrack.ipxe'];

export interface TftpPolicy {
  handler(request: TftpPolicyRequest): Promise<TftpPolicyAnswer>;
  observer: { transferEnded(summary: TftpTransferRecord): void };
}

export function createTftpPolicy(deps: TftpPolicyDeps): TftpPolicy {
  const log = deps.logger.child({ part: 'tftp-policy' });
  const refusals = new Counter({
    name: 'bootrack_tftp_refused_paths_total',
    help: 'TFTP names refused by the path-safety check',
    labelNames: ['reason'],
    registers: [deps.metrics ?? new PromRegistry()],
  });
  const roots = [...new Set([deps.config.tftp.root, deps.config.ipxe.dir].filter((r) => r.length > 0))];
  const base = bootBase(deps.config.advertiseAddress, deps.config.http.port);

  const macOf = (ip: string): Mac | null => {
    try {
      const mac = deps.registry?.leases.macForIp(ip) ?? null;
      return mac !== null && isMac(mac) ? parseMac(mac) : null;
    } catch (err) {
      log.warn({ err, client: ip }, 'tftp: lease lookup failed');
      return null;
    }
  };

  const record = (registry: TftpRegistryPort, ip: string, type: string, data: Record<string, unknown>): void => {
    try {
      const mac = macOf(ip);
      const machine = mac ? registry.machines.findByMac(mac) : null;
      registry.events.append({ machineId: machine?.id ?? null, mac, kind: 'tftp', type, actor: 'tftp', data: { client: ip, ...data } });
    } catch (err) {
      log.warn({ err, client: ip }, 'tftp: could not record the event');
    }
  };
  // Timeline writes never run on the packet path: they are queued and written after the current
  // I/O phase (setImmediate), a burst of them (a boot storm ending) in one SQLite transaction.
  const queued: Array<[ip: string, type: string, data: Record<string, unknown>]> = [];
  const flush = (): void => {
    const registry = deps.registry;
    const batch = queued.splice(0);
    if (!registry || batch.length === 0) return;
    const writeAll = (): void => {
      for (const [ip, type, data] of batch) record(registry, ip, type, data);
    };
    try {
      if (batch.length > 1) registry.transaction(writeAll);
      else writeAll();
    } catch (err) {
      log.warn({ err, events: batch.length }, 'tftp: could not record the events');
    }
  };
  const timeline = (ip: string, type: string, data: Record<string, unknown>): void => {
    if (!deps.registry) return;
    if (queued.push([ip, type, data]) === 1) setImmediate(flush);
  };

  const refuse = (request: TftpPolicyRequest, reason: RefusalReason): TftpPolicyAnswer => {
    refusals.inc({ reason });
    log.warn({ client: request.client.address, port: request.client.port, path: request.path, reason }, 'tftp: path refused');
    timeline(request.client.address, 'refused', { path: request.path, reason });
    return { kind: 'denied', reason };
  };

  return {
    async handler(request) {
      const checked = checkTftpName(request.path);
      if (!checked.ok) return refuse(request, checked.reason);
      const mac = macOf(request.client.address);
      const lower = checked.relative.toLowerCase();
      if (GENERATED_SCRIPT_NAMES.includes(lower)) {
        // iPXE knows its own MAC; when the lease tells us too we name the exact script.
        const url = mac ? ipxeScriptUrl(base, mac) : `${base.httpBase}/boot/\${net0/mac:hexhyp}.ipxe`;
        return { kind: 'buffer', data: Buffer.from(`#!ipxe\n# generated by bootrack for ${request.client.address}\nchain --autofree ${url}\n`) };
      }
      // Per-machine files first (<root>/<aa-bb-cc-dd-ee-ff>/<name>), then the shared ones.
      const candidates: Array<[root: string, relative: string]> = [];
      for (const root of roots) {
        if (mac) candidates.push([root, `${macPathSegment(mac)}/${checked.relative}`]);
        candidates.push([root, checked.relative]);
      }
      for (const [root, rel] of candidates) {
        const r = await resolveUnderRoot(root, rel, deps.config.tftp.allowedLinkTargets);
        // The lookup's stat travels with the answer: the server's file cache need not stat again.
        if (r.kind === 'file') return { kind: 'file', path: r.path, stats: r.stats };
        if (r.kind === 'refused') return refuse(request, r.reason);
      }
      log.info({ client: request.client.address, path: request.path, mac }, 'tftp: file not found');
      return { kind: 'not-found' };
    },
    observer: {
      transferEnded(s) {
        // The tsize probe UEFI makes before the real read is recorded, but not as a failure.
        timeline(s.client.address, s.outcome === 'probe' ? 'probe' : 'transfer', {
          path: s.path,
          port: s.client.port,
          startedAt: s.startedAt.toISOString(),
          options: s.options,
          bytes: s.bytes,
          retransmits: s.retransmits,
          ignoredAcks: s.ignoredAcks,
          durationMs: s.durationMs,
          outcome: s.outcome,
          ...(s.error !== undefined ? { error: s.error } : {}),
        });
      },
    },
  };
}
