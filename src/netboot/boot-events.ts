import type { Logger } from '../common/logger.js';
import { isMac, parseMac, type Mac } from '../common/mac.js';
import type { Registry } from '../registry/index.js';

/**
 * What the static file handler reports per answered request (servers/http's TransferReport,
 * restated structurally: netboot imports no server).
 */
export interface AssetTransfer {
  phase: 'started' | 'completed';
  path: string;
  method: string;
  status: number;
  remoteAddress: string | null;
  query: URLSearchParams;
  size: number;
  range: { start: number; end: number } | null;
  bytes: number;
  durationMs: number;
  aborted: boolean;
}

/**
 * Turns asset downloads into timeline events (kind `http`): asset_started when the body starts,
 * asset_completed (or asset_aborted) with bytes and duration at the end; HEAD, 304 and 416 are a
 * single asset_completed. The machine is found by the `?mac=` our scripts put on asset URLs, else by
 * the client address's active DHCP lease. A download nobody can be tied to is only logged. Never throws.
 */
export function createAssetEventRecorder(deps: { registry: Registry; logger: Logger; area: string }): (t: AssetTransfer) => void {
  const logger = deps.logger.child({ part: 'boot-events', area: deps.area });
  return (t) => {
    try {
      const mac = macOf(deps.registry, t);
      if (mac === null) {
        logger.debug({ path: t.path, remote: t.remoteAddress, status: t.status, phase: t.phase }, 'asset transfer from an unknown client');
        return;
      }
      const machineId = deps.registry.machines.findId(mac);
      const type = t.phase === 'started' ? 'asset_started' : t.aborted ? 'asset_aborted' : 'asset_completed';
      deps.registry.events.append({
        machineId,
        mac,
        kind: 'http',
        type,
        actor: 'http',
        data: {
          asset: `${deps.area}/${t.path}`,
          method: t.method,
          status: t.status,
          size: t.size,
          range: t.range,
          ...(t.phase === 'completed' ? { bytes: t.bytes, durationMs: Math.round(t.durationMs * 10) / 10 } : {}),
          remote: t.remoteAddress,
        },
      });
    } catch (err) {
      logger.error({ err, path: t.path }, 'could not record an asset event');
    }
  };
}

function macOf(registry: Registry, t: AssetTransfer): Mac | null {
  const fromQuery = t.query.get('mac');
  if (fromQuery !== null && isMac(fromQuery)) return parseMac(fromQuery);
  if (t.remoteAddress === null) return null;
  const ip = t.remoteAddress.startsWith('::ffff:') ? t.remoteAddress.slice(7) : t.remoteAddress;
  const leased = registry.leases.macForIp(ip);
  return leased !== null && isMac(leased) ? parseMac(leased) : null;
}
