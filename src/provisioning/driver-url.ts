import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BootrackError } from '../common/errors.js';
import { BUILTIN_DRIVERS } from './builtin-drivers.js';
import type { Driver, DriverClass, DriverConfig } from './driver.js';
import { mergeOptions } from './options.js';

/** RFC 3986 scheme syntax, bounded; nothing else may reach a package name. */
const SCHEME = /^[a-z][a-z0-9+.-]{0,31}$/;

/** The third-party package naming convention: scheme `foo` → package `bootrack-driver-foo`. */
export function driverPackageName(scheme: string): string {
  return `bootrack-driver-${scheme}`;
}

/** The scheme of a driver URL ("pxe:http://a:8080" → "pxe"; a bare "vagrant" is its own scheme). */
export function schemeOf(url: string): string {
  if (typeof url !== 'string' || url.trim() === '') throw new BootrackError('INVALID_DRIVER_URL', 'the driver URL is empty', { url });
  const colon = url.indexOf(':');
  const scheme = (colon < 0 ? url : url.slice(0, colon)).toLowerCase();
  if (!SCHEME.test(scheme)) throw new BootrackError('INVALID_DRIVER_URL', `driver URL ${JSON.stringify(url)} does not start with a scheme such as "pxe:"`, { url });
  return scheme;
}

function withDriverLayer(config: DriverConfig, url: string): DriverConfig {
  const layer = config.drivers?.[url];
  if (!layer) return config;
  return {
    ...config,
    driverOptions: mergeOptions(config.driverOptions, layer.driverOptions),
    machineOptions: mergeOptions(config.machineOptions, layer.machineOptions),
  };
}

function isDriverClass(value: unknown): value is DriverClass {
  const v = value as Partial<DriverClass> | null;
  return (typeof v === 'function' || (typeof v === 'object' && v !== null)) && typeof v.scheme === 'string' && typeof v.canonicalizeUrl === 'function' && typeof v.fromUrl === 'function';
}

export type ModuleImporter = (specifier: string) => Promise<unknown>;

/**
 * Scheme → driver class. Built-ins come from an explicit typed map; plug-ins call `register`;
 * third-party packages are imported by naming convention, only for allow-listed schemes.
 */
export class DriverRegistry {
  readonly #builtins: Readonly<Record<string, DriverClass>>;
  readonly #registered = new Map<string, DriverClass>();
  readonly #import: ModuleImporter;

  constructor(builtins: Readonly<Record<string, DriverClass>> = BUILTIN_DRIVERS, importModule: ModuleImporter = (s) => import(s)) {
    this.#builtins = builtins;
    this.#import = importModule;
  }

  /** Registers a plug-in driver. Built-in schemes cannot be replaced. */
  register(scheme: string, driverClass: DriverClass): void {
    const s = scheme.toLowerCase();
    if (!SCHEME.test(s)) throw new BootrackError('INVALID_DRIVER_URL', `${JSON.stringify(scheme)} is not a valid URL scheme`, { scheme });
    if (Object.hasOwn(this.#builtins, s)) throw new BootrackError('VALIDATION_FAILED', `scheme "${s}" is a built-in driver and cannot be replaced`, { scheme: s });
    this.#registered.set(s, driverClass);
  }

  unregister(scheme: string): void {
    this.#registered.delete(scheme.toLowerCase());
  }

  known(): string[] {
    return [...new Set([...Object.keys(this.#builtins), ...this.#registered.keys()])].sort();
  }

  async classFor(scheme: string, config: DriverConfig = {}): Promise<DriverClass> {
    const found = this.#registered.get(scheme) ?? (Object.hasOwn(this.#builtins, scheme) ? this.#builtins[scheme] : undefined);
    if (found) return found;
    if ((config.allowedDriverPackages ?? []).map((s) => s.toLowerCase()).includes(scheme)) {
      const loaded = await this.#loadPackage(scheme, config);
      this.#registered.set(scheme, loaded);
      return loaded;
    }
    throw new BootrackError(
      'UNKNOWN_DRIVER_SCHEME',
      `no driver for scheme "${scheme}"; known: ${this.known().join(', ')}. A third-party driver is loaded from the package ${driverPackageName(scheme)} only when "${scheme}" is listed in allowedDriverPackages`,
      { scheme, known: this.known(), package: driverPackageName(scheme) },
    );
  }

  async #loadPackage(scheme: string, config: DriverConfig): Promise<DriverClass> {
    const name = driverPackageName(scheme);
    const dirs = (config.driverPackageSearchPaths ?? [process.cwd()]).map((d) => resolve(d));
    let resolved: string | undefined;
    for (const dir of dirs) {
      try {
        resolved = createRequire(join(dir, 'bootrack-driver-resolver.js')).resolve(name);
        break;
      } catch {
        // try the next directory
      }
    }
    if (resolved === undefined) throw new BootrackError('DRIVER_LOAD_FAILED', `package ${name} (for scheme "${scheme}") is not installed; searched from ${dirs.join(', ')}`, { scheme, package: name, searched: dirs });
    let mod: unknown;
    try {
      mod = await this.#import(pathToFileURL(resolved).href);
    } catch (err) {
      throw new BootrackError('DRIVER_LOAD_FAILED', `package ${name} failed to load: ${(err as Error).message}`, { scheme, package: name }, { cause: err });
    }
    const m = mod as { driverClass?: unknown; default?: unknown };
    const candidate = m.driverClass ?? m.default;
    if (!isDriverClass(candidate)) throw new BootrackError('DRIVER_LOAD_FAILED', `package ${name} must export driverClass (or default) with scheme, canonicalizeUrl and fromUrl`, { scheme, package: name });
    if (candidate.scheme.toLowerCase() !== scheme) throw new BootrackError('DRIVER_LOAD_FAILED', `package ${name} exports a driver for scheme "${candidate.scheme}", not "${scheme}"`, { scheme, package: name });
    return candidate;
  }

  /**
   * Chef's driver_for_url: class by scheme → merge drivers[url] → canonicalizeUrl → merge
   * drivers[canonical] (when different) → fromUrl(canonical). The driver's driverUrl is canonical.
   */
  async driverForUrl(url: string, config: DriverConfig = {}): Promise<Driver> {
    const scheme = schemeOf(url);
    const cls = await this.classFor(scheme, config);
    const first = withDriverLayer(config, url);
    const canonical = await cls.canonicalizeUrl(url, first);
    const finalConfig = canonical.url === url ? canonical.config : withDriverLayer(canonical.config, canonical.url);
    return cls.fromUrl(canonical.url, finalConfig);
  }
}

/** The process-wide registry of the built-ins plus whatever plug-ins register. */
export const defaultDriverRegistry = new DriverRegistry();

export function registerDriver(scheme: string, driverClass: DriverClass): void {
  defaultDriverRegistry.register(scheme, driverClass);
}

export function driverForUrl(url: string, config: DriverConfig = {}): Promise<Driver> {
  return defaultDriverRegistry.driverForUrl(url, config);
}
