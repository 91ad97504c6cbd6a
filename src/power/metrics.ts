import { Counter, Histogram, type Registry } from 'prom-client';

export interface PowerMetrics {
  commands: Counter<'driver' | 'action' | 'outcome'>;
  bmcErrors: Counter<'driver' | 'code'>;
  latency: Histogram<'driver' | 'action'>;
  retries: Counter<'driver'>;
}

/** Registers (once per registry) the power metrics. Labels never carry addresses or secrets. */
export function powerMetrics(registry: Registry): PowerMetrics {
  const existing = registry.getSingleMetric('bootrack_power_commands_total');
  if (existing) {
    return {
      commands: existing as Counter<'driver' | 'action' | 'outcome'>,
      bmcErrors: registry.getSingleMetric('bootrack_power_bmc_errors_total') as Counter<'driver' | 'code'>,
      latency: registry.getSingleMetric('bootrack_power_command_duration_seconds') as Histogram<'driver' | 'action'>,
      retries: registry.getSingleMetric('bootrack_power_busy_retries_total') as Counter<'driver'>,
    };
  }
  return {
    commands: new Counter({ name: 'bootrack_power_commands_total', help: 'Power commands by driver, action and outcome', labelNames: ['driver', 'action', 'outcome'], registers: [registry] }),
    bmcErrors: new Counter({ name: 'bootrack_power_bmc_errors_total', help: 'BMC errors by driver and error code', labelNames: ['driver', 'code'], registers: [registry] }),
    latency: new Histogram({
      name: 'bootrack_power_command_duration_seconds',
      help: 'Power command latency, including queueing and retries',
      labelNames: ['driver', 'action'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    retries: new Counter({ name: 'bootrack_power_busy_retries_total', help: 'Retries after a busy BMC', labelNames: ['driver'], registers: [registry] }),
  };
}
