import type { Logger } from '../common/logger.js';
import type { Metrics } from '../common/metrics.js';
import type { Config } from '../config/schema.js';
import { createDrivers, type DriverMap } from './drivers.js';
import type { ManualRequestSink } from './manual/driver.js';
import { PowerReconciler } from './reconciler.js';
import { PowerService, type PowerRegistry } from './service.js';

export interface PowerDeps {
  config: Readonly<Config['power']>;
  registry: PowerRegistry;
  logger: Logger;
  metrics: Metrics;
  /** Added to (or replacing entries of) the built-in driver map: plug-ins, tests. */
  drivers?: DriverMap;
}

export interface PowerParts {
  /** The PowerControl the API and provisioning use. */
  control: PowerService;
  /** The background poller, a Service for composeServices. */
  reconciler: PowerReconciler;
  drivers: DriverMap;
}

/** Builds the power subsystem: the explicit driver map, the PowerControl service and its reconciler. */
export function createPowerControl(deps: PowerDeps): PowerParts {
  const manualSink: ManualRequestSink = (request) => {
    const { machineId, ...data } = request;
    deps.registry.events.append({ machineId, kind: 'power', type: 'manual_request', actor: 'system:power', data: { ...data, note: 'waiting for the operator or the machine to check in' } });
  };
  const drivers: DriverMap = { ...createDrivers(deps.config, deps.logger, manualSink), ...deps.drivers };
  const control = new PowerService({ registry: deps.registry, drivers, logger: deps.logger, metrics: deps.metrics, retry: deps.config });
  const reconciler = new PowerReconciler({ registry: deps.registry, drivers, power: control, settings: deps.config, logger: deps.logger });
  return { control, reconciler, drivers };
}

export { PowerService, type PowerRegistry } from './service.js';
export { PowerReconciler } from './reconciler.js';
export { BUILTIN_DRIVER_TYPES, POWER_OPTIONS_SCHEMAS, createDrivers, registerDriver, validatePowerSettings, type DriverMap } from './drivers.js';
export type * from './types.js';
