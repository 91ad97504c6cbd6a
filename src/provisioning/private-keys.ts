import { readFile, readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { BootrackError } from '../common/errors.js';

export interface KeyConfig {
  /** name → a path to the key file, or `{ pem }` with the key text itself. */
  privateKeys?: Record<string, string | { pem: string }>;
  /** Directories searched (in order) for a file named `<name>` or `<name>.pem`. */
  privateKeyPaths?: string[];
}

function expand(path: string): string {
  return path.startsWith('~/') ? join(homedir(), path.slice(2)) : resolve(path);
}

/**
 * Resolves a key NAME to key text (Cheffish.get_private_key): `privateKeys[name]` first, then each
 * directory of `privateKeyPaths` (the driver's merged config, which includes the global paths:
 * CP PR#503). Unlike Chef, a miss throws PRIVATE_KEY_NOT_FOUND listing every place it looked.
 */
export async function getPrivateKey(name: string, config: KeyConfig): Promise<string> {
  const looked: string[] = [];
  const entry = config.privateKeys?.[name];
  if (entry !== undefined) {
    if (typeof entry !== 'string') return entry.pem;
    const path = expand(entry);
    looked.push(`privateKeys.${name} = ${path}`);
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new BootrackError('PRIVATE_KEY_NOT_FOUND', `private key "${name}" is configured as ${path}, which cannot be read: ${(err as Error).message}`, { name, looked }, { cause: err });
    }
  } else {
    looked.push(`privateKeys.${name} (not set; known: ${Object.keys(config.privateKeys ?? {}).join(', ') || 'none'})`);
  }
  for (const dir of config.privateKeyPaths ?? []) {
    for (const file of [name, `${name}.pem`]) {
      const path = join(expand(dir), file);
      looked.push(path);
      const isFile = await stat(path).then((s) => s.isFile(), () => false);
      if (isFile) return readFile(path, 'utf8');
    }
  }
  const dirs = config.privateKeyPaths ?? [];
  const present = await Promise.all(dirs.map((d) => readdir(expand(d)).then(() => true, () => false)));
  throw new BootrackError(
    'PRIVATE_KEY_NOT_FOUND',
    `private key "${name}" not found; looked in: ${looked.join('; ')}${dirs.length === 0 ? ' (privateKeyPaths is empty)' : ''}. Set privateKeys.${name} to a key file or add its directory to privateKeyPaths`,
    { name, looked, missingDirs: dirs.filter((_, i) => !present[i]) },
  );
}
