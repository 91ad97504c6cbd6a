import { collectDefaultMetrics, Registry } from 'prom-client';

/** One Prometheus registry per daemon, passed to each part; parts register their own metrics on it. */
export type Metrics = Registry;

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'bootrack_' });
  return registry;
}
