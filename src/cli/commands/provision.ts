import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { z } from 'zod';
import { BootrackError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { ConsoleActionHandler } from '../../provisioning/action-handler.js';
import { driverForUrl } from '../../provisioning/driver-url.js';
import type { DriverConfig, MachineOptions } from '../../provisioning/driver.js';
import { FileEntryStore } from '../../provisioning/file-entry-store.js';
import { mergeOptions } from '../../provisioning/options.js';
import { runMachineAction } from '../../provisioning/orchestrator.js';
import { reportError, table, type CliIo, type Command } from '../io.js';

/**
 * A machine-set file (YAML), e.g.
 *
 *   driverUrl: pxe:https://appliance.lan:8443
 *   driverOptions: { token: "${BOOTRACK_TOKEN}", ca: ./ca.pem }   # ${VAR}: from the environment
 *   privateKeys: { bootstrap: ~/.ssh/bootrack_ed25519 }
 *   machineOptions: { arch: amd64, readyTimeoutMs: 1800000 }        # for every machine of the set
 *   convergence: { script: "#!/bin/sh\napt-get -y install nginx\n" } # or scriptPath: ./setup.sh
 *   concurrency: 4
 *   store: ./.bootrack/web                                          # default .bootrack/<file name>
 *   machines:
 *     - name: web1
 *       options: { tags: [web] }                                    # last wins (mergeOptions)
 *
 * Relative paths are relative to the file. Options merge: machineOptions → convergence (as
 * convergenceOptions) → the machine's options, with mergeOptions (objects deep, arrays replaced).
 */
const machineSetSchema = z.strictObject({
  driverUrl: z.string().min(1),
  driverOptions: z.record(z.string(), z.unknown()).default({}),
  privateKeys: z.record(z.string(), z.string()).default({}),
  privateKeyPaths: z.array(z.string()).default([]),
  allowedDriverPackages: z.array(z.string()).default([]),
  machineOptions: z.record(z.string(), z.unknown()).default({}),
  convergence: z.strictObject({ script: z.string().optional(), scriptPath: z.string().optional(), remotePath: z.string().optional(), timeoutMs: z.number().int().positive().optional() }).optional(),
  concurrency: z.number().int().min(1).max(1000).default(10),
  store: z.string().optional(),
  machines: z
    .array(z.strictObject({ name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, . _ - (max 63)'), options: z.record(z.string(), z.unknown()).default({}) }))
    .min(1)
    .refine((ms) => new Set(ms.map((m) => m.name)).size === ms.length, 'machine names must be unique'),
});

export type MachineSet = z.infer<typeof machineSetSchema>;

function expandEnv(value: unknown, env: NodeJS.ProcessEnv, path: string): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) throw new BootrackError('MACHINE_SET_INVALID', `${path} uses \${${name}}, which is not set in the environment`, { path, variable: name });
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => expandEnv(v, env, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env, `${path}.${k}`)]));
  return value;
}

export interface LoadedMachineSet {
  set: MachineSet;
  config: DriverConfig;
  storeDir: string;
}

export async function loadMachineSet(file: string, env: NodeJS.ProcessEnv): Promise<LoadedMachineSet> {
  let raw: unknown;
  try {
    raw = parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new BootrackError('MACHINE_SET_INVALID', `${file}: ${(err as Error).message}`, { file }, { cause: err });
  }
  const parsed = machineSetSchema.safeParse(raw);
  if (!parsed.success) {
    throw new BootrackError('MACHINE_SET_INVALID', `${file} is not a valid machine set`, { file, issues: parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })) });
  }
  const set = parsed.data;
  const base = dirname(resolve(file));
  const abs = (p: string): string => (p.startsWith('~/') ? join(homedir(), p.slice(2)) : isAbsolute(p) ? p : resolve(base, p));
  const driverOptions = expandEnv(set.driverOptions, env, 'driverOptions') as Record<string, unknown>;
  if (typeof driverOptions.ca === 'string' && !driverOptions.ca.includes('-----BEGIN')) driverOptions.ca = abs(driverOptions.ca);
  const convergence = set.convergence ? { ...set.convergence, ...(set.convergence.scriptPath ? { scriptPath: abs(set.convergence.scriptPath) } : {}) } : undefined;
  const config: DriverConfig = {
    driverOptions,
    privateKeys: Object.fromEntries(Object.entries(set.privateKeys).map(([k, v]) => [k, abs(v)])),
    privateKeyPaths: set.privateKeyPaths.map(abs),
    allowedDriverPackages: set.allowedDriverPackages,
    driverPackageSearchPaths: [base, process.cwd()],
    machineOptions: mergeOptions<MachineOptions>(set.machineOptions, convergence ? { convergenceOptions: convergence } : undefined),
    logger: silentLogger,
  };
  const storeDir = set.store ? abs(set.store) : join(base, '.bootrack', basename(file).replace(/\.(ya?ml|json)$/i, ''));
  return { set, config, storeDir };
}

const USAGE = 'usage: bootrack provision up|down|status <machine-set.yaml> [--why-run] [--concurrency N] [--only name,...] [--json]';

/** `bootrack provision up|down|status <file>`: converge or destroy a declarative set of machines. */
export const provisionCommand: Command = async (argv, io) => {
  const [sub, ...rest] = argv;
  if (sub !== 'up' && sub !== 'down' && sub !== 'status') {
    io.err(USAGE);
    return 2;
  }
  let values: { 'why-run'?: boolean; concurrency?: string; only?: string; json?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, allowPositionals: true, strict: true, options: { 'why-run': { type: 'boolean' }, concurrency: { type: 'string' }, only: { type: 'string' }, json: { type: 'boolean' } } }));
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const file = positionals[0];
  if (!file || positionals.length > 1) {
    io.err(USAGE);
    return 2;
  }
  try {
    const loaded = await loadMachineSet(file, io.env);
    const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = only?.filter((n) => !loaded.set.machines.some((m) => m.name === n)) ?? [];
    if (unknown.length) throw new BootrackError('MACHINE_SET_INVALID', `--only names machines not in ${file}: ${unknown.join(', ')}`, { unknown });
    const machines = loaded.set.machines.filter((m) => !only || only.includes(m.name));
    const store = new FileEntryStore(loaded.storeDir);
    if (sub === 'status') return await status(io, store, machines.map((m) => m.name), values.json === true);
    const driver = await driverForUrl(loaded.set.driverUrl, loaded.config);
    const whyRun = values['why-run'] === true;
    const ah = new ConsoleActionHandler((line) => io.out(line), { whyRun });
    const items = await Promise.all(machines.map(async (m) => ({ spec: await store.getMachine(m.name), options: driver.machineOptionsFor(m.options) })));
    const concurrency = values.concurrency !== undefined ? Number(values.concurrency) : loaded.set.concurrency;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new BootrackError('VALIDATION_FAILED', `--concurrency must be a positive integer, got ${values.concurrency ?? ''}`);
    io.out(`${whyRun ? 'why-run: ' : ''}${sub === 'up' ? 'converging' : 'destroying'} ${items.length} machine(s) with ${driver.driverUrl} (state in ${loaded.storeDir})`);
    await runMachineAction(driver, ah, sub === 'up' ? 'converge' : 'destroy', items, { concurrency });
    io.out(`${sub}: ${items.length} machine(s) ${whyRun ? 'planned' : 'done'}${ah.isUpdated ? '' : ', nothing changed'}`);
    return 0;
  } catch (err) {
    return reportError(err, io, values.json === true);
  }
};

async function status(io: CliIo, store: FileEntryStore, names: string[], json: boolean): Promise<number> {
  const rows = await Promise.all(
    names.map(async (name) => {
      const spec = await store.getMachine(name);
      const ref = spec.reference;
      return { name, driverUrl: spec.driverUrl ?? null, machineId: ref?.machineId ?? null, mac: ref?.mac ?? null, allocatedAt: ref?.allocatedAt ?? null, state: ref ? 'allocated' : 'absent' };
    }),
  );
  if (json) io.out(JSON.stringify({ items: rows }));
  else io.out(table(rows, ['name', 'state', 'machineId', 'mac', 'allocatedAt', 'driverUrl']));
  return 0;
}
