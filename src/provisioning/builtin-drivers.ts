import type { DriverClass } from './driver.js';
import { Ec2Driver } from './drivers/ec2/driver.js';
import { PxeDriver } from './drivers/pxe/driver.js';
import { VagrantDriver } from './drivers/vagrant/driver.js';

/**
 * The built-in drivers, explicitly (kysely's dialect map): nothing registers itself by import.
 * This is the only core file allowed to import drivers/ (.dependency-cruiser.cjs).
 */
export const BUILTIN_DRIVERS: Readonly<Record<string, DriverClass>> = Object.freeze({
  pxe: PxeDriver,
  ec2: Ec2Driver,
  vagrant: VagrantDriver,
});
