import { z } from 'zod';
import { BootrackError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { Config } from '../config/schema.js';
import { IpmiDriver } from './ipmi/driver.js';
import { ipmiMachineOptionsSchema } from './ipmi/options.js';
import { ManualDriver, type ManualRequestSink } from './manual/driver.js';
import { RedfishDriver, redfishOptionsSchema } from './redfish/driver.js';
import type { PowerDriver } from './types.js';
import { WolDriver, wolOptionsSchema } from './wol/driver.js';

/** The built-in power types. A machine's power.type must be one of these (or a registered plug-in). */
export const BUILTIN_DRIVER_TYPES = ['ipmi', 'redfish', 'wol', 'manual'] as const;
export type BuiltinDriverType = (typeof BUILTIN_DRIVER_TYPES)[number];

export type DriverMap = Readonly<Record<string, PowerDriver>>;

/** The explicit map of built-in drivers by type; nothing registers itself by import. */
export function createDrivers(config: Readonly<Config['power']>, logger: Logger, manualSink: ManualRequestSink): Record<BuiltinDriverType, PowerDriver> {
  return {
    ipmi: new IpmiDriver({ ...config.ipmi, commandTimeoutMs: config.commandTimeoutMs }, logger),
    redfish: new RedfishDriver(config.redfish, logger),
    wol: new WolDriver(config.wol, logger),
    manual: new ManualDriver(manualSink),
  };
}

/** Adds a plug-in driver to a map; a type is registered once. */
export function registerDriver(map: Record<string, PowerDriver>, driver: PowerDriver): void {
  if (map[driver.type]) throw new BootrackError('VALIDATION_FAILED', `power driver ${driver.type} is already registered`, { type: driver.type });
  map[driver.type] = driver;
}

export function driverFor(map: DriverMap, type: string | null, machineId: string): PowerDriver {
  if (type === null) throw new BootrackError('POWER_NOT_CONFIGURED', `machine ${machineId} has no power driver configured`, { machine: machineId });
  const driver = map[type];
  if (!driver) throw new BootrackError('POWER_NOT_CONFIGURED', `unknown power type ${JSON.stringify(type)}; known: ${Object.keys(map).join(', ')}`, { machine: machineId, type, known: Object.keys(map) });
  return driver;
}

/** The per-machine power options each built-in type accepts (for the API's power-settings). */
export const POWER_OPTIONS_SCHEMAS: Readonly<Record<BuiltinDriverType, z.ZodType<Record<string, unknown>>>> = {
  ipmi: ipmiMachineOptionsSchema,
  redfish: redfishOptionsSchema,
  wol: wolOptionsSchema,
  manual: z.object({}).strict(),
};

/**
 * Checks power settings before they are stored: a known type, an address where the type needs one,
 * and options that type accepts. Throws VALIDATION_FAILED naming the offending fields (no values).
 */
export function validatePowerSettings(settings: { type: string; address?: string | null; options?: Record<string, unknown> }): void {
  const schema = (POWER_OPTIONS_SCHEMAS as Record<string, z.ZodType | undefined>)[settings.type];
  if (!schema) throw new BootrackError('VALIDATION_FAILED', `unknown power type ${JSON.stringify(settings.type)}; known: ${BUILTIN_DRIVER_TYPES.join(', ')}`, { field: 'type', known: [...BUILTIN_DRIVER_TYPES] });
  if ((settings.type === 'ipmi' || settings.type === 'redfish') && !settings.address) {
    throw new BootrackError('VALIDATION_FAILED', `power type ${settings.type} needs an address`, { field: 'address' });
  }
  const parsed = schema.safeParse(settings.options ?? {});
  if (!parsed.success) {
    throw new BootrackError('VALIDATION_FAILED', `invalid ${settings.type} power options`, { field: 'options', issues: parsed.error.issues.map((i) => ({ path: ['options', ...i.path].join('.'), message: i.message })) });
  }
  if (settings.type === 'redfish' && !(settings.options?.fingerprint256 || settings.options?.ca)) {
    throw new BootrackError('VALIDATION_FAILED', 'redfish needs options.fingerprint256 (pinned certificate) or options.ca', { field: 'options' });
  }
}
