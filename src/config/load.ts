import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { BootrackError } from '../common/errors.js';
import { configSchema, SECRET_PATHS, type Config } from './schema.js';

export const DEFAULT_CONFIG_PATH = '/etc/bootrack/bootrack.yaml';
const ENV_PREFIX = 'BOOTRACK_';

export interface ConfigSources {
  /** Explicit --config path; a missing explicit file is an error, a missing default file is not. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  /** `--set a.b=value` pairs, applied last. */
  overrides?: readonly string[];
}

export interface ConfigIssue {
  path: string;
  message: string;
}

export interface LoadedConfig {
  config: Readonly<Config>;
  /** Where the file came from, or null when only defaults, env and flags applied. */
  file: string | null;
}

type Tree = Record<string, unknown>;

/** Precedence: embedded defaults < YAML file < BOOTRACK_* environment < --set flags. Validated once, deep-frozen. */
export function loadConfig(sources: ConfigSources = {}): LoadedConfig {
  const env = sources.env ?? process.env;
  const explicit = sources.configPath ?? (env.BOOTRACK_CONFIG || undefined);
  const { tree: fromFile, file } = readConfigFile(explicit);
  const merged: Tree = structuredClone(fromFile);
  for (const [path, value] of envAssignments(env)) setPath(merged, path, value);
  for (const pair of sources.overrides ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw configInvalid([{ path: pair, message: 'expected key.path=value' }]);
    setPath(merged, pair.slice(0, eq).split('.'), parseScalar(pair.slice(eq + 1)));
  }
  const result = configSchema.safeParse(merged);
  if (!result.success) throw configInvalid(issuesOf(result.error));
  return { config: deepFreeze(resolveDerived(result.data)), file };
}

function readConfigFile(explicit: string | undefined): { tree: Tree; file: string | null } {
  const path = explicit ?? DEFAULT_CONFIG_PATH;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (explicit === undefined && code === 'ENOENT') return { tree: {}, file: null };
    throw new BootrackError('CONFIG_UNREADABLE', `cannot read config file ${path}: ${code ?? String(err)}`, { path }, { cause: err });
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` at line ${err.linePos[0].line}` : '';
    throw new BootrackError('CONFIG_UNREADABLE', `config file ${path} is not valid YAML${where}: ${(err as Error).message}`, { path }, { cause: err });
  }
  if (doc === null || doc === undefined) return { tree: {}, file: path };
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw configInvalid([{ path: '(root)', message: 'the config file must hold a mapping' }]);
  }
  return { tree: doc as Tree, file: path };
}

/** BOOTRACK_HTTP__PORT=8081 sets http.port; `__` separates levels, UPPER_SNAKE maps to camelCase. */
function envAssignments(env: NodeJS.ProcessEnv): Array<[string[], unknown]> {
  const out: Array<[string[], unknown]> = [];
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined || name === 'BOOTRACK_CONFIG') continue;
    // Client-side settings of the CLI share the prefix but are not daemon config.
    if (name.startsWith('BOOTRACK_API_URL') || name === 'BOOTRACK_TOKEN' || name === 'BOOTRACK_CA') continue;
    const path = name
      .slice(ENV_PREFIX.length)
      .split('__')
      .map((seg) => seg.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()));
    out.push([path, parseScalar(value)]);
  }
  return out;
}

/** Values from env and flags are YAML scalars or flow collections: 8080, true, [eth1, eth2]. */
function parseScalar(raw: string): unknown {
  try {
    return parseYaml(raw);
  } catch {
    return raw;
  }
}

function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  path.forEach((key, i) => {
    if (i === path.length - 1) {
      node[key] = value;
      return;
    }
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Tree;
  });
}

function resolveDerived(config: Config): Config {
  return {
    ...config,
    database: { ...config.database, path: config.database.path || join(config.stateDir, 'bootrack.db') },
    secrets: { ...config.secrets, keyPath: config.secrets.keyPath || join(config.stateDir, 'secret.key') },
    discovery: { ...config.discovery, imageDir: config.discovery.imageDir || join(config.stateDir, 'images') },
    api: {
      ...config.api,
      certPath: config.api.certPath || join(config.stateDir, 'tls', 'api.crt'),
      keyPath: config.api.keyPath || join(config.stateDir, 'tls', 'api.key'),
    },
  };
}

function issuesOf(error: z.ZodError): ConfigIssue[] {
  const join = (path: readonly PropertyKey[]): string => (path.length ? path.map(String).join('.') : '(root)');
  return error.issues.flatMap((issue) =>
    // An unknown key is reported at its own path, so a typo names itself.
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: join([...issue.path, key]), message: 'unknown field' }))
      : [{ path: join(issue.path), message: issue.message }],
  );
}

function configInvalid(issues: ConfigIssue[]): BootrackError {
  const lines = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  return new BootrackError('CONFIG_INVALID', `invalid configuration: ${lines}`, { issues });
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** The effective config as printed by `bootrack config check`, with secret values replaced. */
export function redactConfig(config: Readonly<Config>): unknown {
  const copy = structuredClone(config) as unknown as Tree;
  for (const path of SECRET_PATHS) {
    const keys = path.split('.');
    let node: unknown = copy;
    for (const key of keys.slice(0, -1)) node = (node as Tree | undefined)?.[key];
    const last = keys[keys.length - 1]!;
    if (node && typeof node === 'object' && (node as Tree)[last] !== undefined) (node as Tree)[last] = '<redacted>';
  }
  return copy;
}
