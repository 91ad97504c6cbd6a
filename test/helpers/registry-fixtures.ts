import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBootrackError } from '../../src/common/errors.js';
import { openRegistry, type MachineState, type Registry } from '../../src/registry/index.js';

export interface TempRegistry {
  registry: Registry;
  dir: string;
  dbPath: string;
  key: Buffer;
  cleanup(): void;
}

/** A real registry on a temporary SQLite file, removed by cleanup(). */
export function tempRegistry(prefix = 'bootrack-reg-'): TempRegistry {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const dbPath = join(dir, 'bootrack.db');
  const key = randomBytes(32);
  const registry = openRegistry({ databasePath: dbPath, secretKey: key });
  return {
    registry,
    dir,
    dbPath,
    key,
    cleanup() {
      registry.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A MAC derived from a number, for fixtures that need many distinct machines. */
export function macFor(n: number): string {
  const hex = n.toString(16).padStart(8, '0');
  return `52:54:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}`;
}

export const SYSTEM = { actor: 'test' } as const;

/** Creates n machines directly in `ready` with hardware columns set, for allocation tests and benches. */
export function seedReady(registry: Registry, n: number, start = 0): string[] {
  const ids: string[] = [];
  registry.transaction(() => {
    for (let i = start; i < start + n; i++) {
      const m = registry.machines.create({ name: `node${String(i).padStart(6, '0')}`, macs: [macFor(i)], arch: i % 4 === 3 ? 'arm64' : 'amd64', tags: i % 2 ? ['odd'] : ['even'], state: 'ready' }, SYSTEM);
      registry.machines.setFacts(m.id, {}, { cpuCount: 2 + (i % 8), memoryMib: 1024 * (1 + (i % 16)), diskGib: 10 * (1 + (i % 50)) }, SYSTEM);
      ids.push(m.id);
    }
  });
  return ids;
}

/** Legal paths through the lifecycle table from `new`, to put a fixture machine in any state. */
export const PATH_FROM_NEW: Readonly<Record<MachineState, readonly MachineState[]>> = {
  new: [],
  commissioning: ['commissioning'],
  failed_commissioning: ['commissioning', 'failed_commissioning'],
  ready: ['ready'],
  allocated: ['ready', 'allocated'],
  deploying: ['ready', 'allocated', 'deploying'],
  deployed: ['ready', 'allocated', 'deploying', 'deployed'],
  failed_deployment: ['ready', 'allocated', 'deploying', 'failed_deployment'],
  releasing: ['ready', 'allocated', 'releasing'],
  broken: ['broken'],
};

/** The BootrackError code a call throws, a marked string for any other error, undefined when it succeeds. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isBootrackError(err) ? err.code : `non-bootrack: ${String(err)}`;
  }
  return undefined;
}
