import { Counter, Histogram } from 'prom-client';
import type { Metrics } from '../../common/metrics.js';

export interface HttpMetrics {
  observe(route: string, method: string, status: number, bytes: number, seconds: number): void;
}

/** Registers the boot HTTP metrics once per Metrics registry (a second service reuses them). */
export function httpMetrics(registry: Metrics | undefined): HttpMetrics {
  if (!registry) return { observe: () => undefined };
  const existing = registry.getSingleMetric('bootrack_http_requests_total');
  const requests =
    (existing as Counter<'route' | 'method' | 'status'> | undefined) ??
    new Counter({ name: 'bootrack_http_requests_total', help: 'Boot HTTP requests by route, method and status', labelNames: ['route', 'method', 'status'], registers: [registry] });
  const bytes =
    (registry.getSingleMetric('bootrack_http_response_bytes_total') as Counter<'route'> | undefined) ??
    new Counter({ name: 'bootrack_http_response_bytes_total', help: 'Boot HTTP bytes sent (headers and body) by route', labelNames: ['route'], registers: [registry] });
  const duration =
    (registry.getSingleMetric('bootrack_http_request_duration_seconds') as Histogram<'route'> | undefined) ??
    new Histogram({
      name: 'bootrack_http_request_duration_seconds',
      help: 'Boot HTTP request duration (first byte read to last byte written) by route',
      labelNames: ['route'],
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers: [registry],
    });
  return {
    observe(route, method, status, sent, seconds) {
      requests.inc({ route, method, status: String(status) });
      if (sent > 0) bytes.inc({ route }, sent);
      duration.observe({ route }, seconds);
    },
  };
}
