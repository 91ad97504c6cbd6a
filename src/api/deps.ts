import type { Clock, Logger } from '../common/logger.js';
import type { Metrics } from '../common/metrics.js';
import type { PowerControl } from '../power/types.js';
import type { Registry } from '../registry/index.js';

/** What the API needs; main.ts fills it. `power` is null when no power module is wired. */
export interface ApiDeps {
  registry: Registry;
  logger: Logger;
  metrics: Metrics;
  power: PowerControl | null;
  /** Move commissioned machines to ready without an operator (config.discovery.autoAccept). */
  autoAccept: boolean;
  maxBodyBytes: number;
  clock: Clock;
  version: string;
}

export type ApiOptions = Omit<ApiDeps, 'clock' | 'version' | 'autoAccept' | 'maxBodyBytes'> &
  Partial<Pick<ApiDeps, 'clock' | 'version' | 'autoAccept' | 'maxBodyBytes'>>;

export function withDefaults(options: ApiOptions, defaults: { clock: Clock }): ApiDeps {
  return {
    ...options,
    autoAccept: options.autoAccept ?? true,
    maxBodyBytes: options.maxBodyBytes ?? 256 * 1024,
    clock: options.clock ?? defaults.clock,
    version: options.version ?? '0.1.0',
  };
}
