import { Counter, Histogram } from 'prom-client';
import type { Metrics } from '../common/metrics.js';

export interface ApiMetrics {
  observe(route: string, method: string, status: number, seconds: number): void;
}

/** Request counters of the API; registered once per Metrics registry (several apps may share one). */
export function apiMetrics(registry: Metrics): ApiMetrics {
  const requests =
    (registry.getSingleMetric('bootrack_api_requests_total') as Counter<'route' | 'method' | 'status'> | undefined) ??
    new Counter({ name: 'bootrack_api_requests_total', help: 'API requests by route template, method and status', labelNames: ['route', 'method', 'status'], registers: [registry] });
  const duration =
    (registry.getSingleMetric('bootrack_api_request_seconds') as Histogram<'route' | 'method'> | undefined) ??
    new Histogram({ name: 'bootrack_api_request_seconds', help: 'API request duration', labelNames: ['route', 'method'], buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10], registers: [registry] });
  return {
    observe(route, method, status, seconds) {
      requests.inc({ route, method, status: String(status) });
      duration.observe({ route, method }, seconds);
    },
  };
}
