import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { BootrackError } from '../common/errors.js';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;

export interface OpenOptions {
  busyTimeoutMs?: number;
  readonly?: boolean;
}

/** Opens (creating if needed) the database with WAL, foreign keys and a busy timeout, then migrates it. */
export function openDatabase(path: string, options: OpenOptions = {}): Db {
  if (path !== ':memory:' && !options.readonly) mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  const db = new Database(path, { readonly: options.readonly ?? false });
  db.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs ?? 5000)}`);
  if (!options.readonly) {
    db.pragma('journal_mode = WAL');
    // NORMAL is durable against process crashes under WAL; only power loss can drop the last commits.
    db.pragma('synchronous = NORMAL');
  }
  db.pragma('foreign_keys = ON');
  if (!options.readonly) migrate(db);
  return db;
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

export const LATEST_SCHEMA_VERSION = MIGRATIONS.length;

function migrate(db: Db): void {
  const current = schemaVersion(db);
  if (current > MIGRATIONS.length) {
    throw new BootrackError(
      'DB_NEWER_THAN_CODE',
      `database schema version ${current} is newer than this bootrack (${MIGRATIONS.length}); upgrade bootrack`,
      { current, supported: MIGRATIONS.length },
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    const apply = db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    });
    try {
      apply.immediate();
    } catch (err) {
      throw new BootrackError('DB_MIGRATION_FAILED', `migration ${version + 1} failed: ${(err as Error).message}`, { version: version + 1 }, { cause: err });
    }
  }
}

export interface DbCheck {
  integrity: string[];
  foreignKeyViolations: number;
  schemaVersion: number;
  latestVersion: number;
}

export function checkDatabase(db: Db): DbCheck {
  const integrity = (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check);
  const fk = db.pragma('foreign_key_check') as unknown[];
  return { integrity, foreignKeyViolations: fk.length, schemaVersion: schemaVersion(db), latestVersion: LATEST_SCHEMA_VERSION };
}
