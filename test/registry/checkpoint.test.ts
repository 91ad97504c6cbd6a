/**
 * WAL checkpoints in the background (the daemon's registry) and migration 2 (leases WITHOUT ROWID,
 * no mac index), on SQLite files on disk.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../src/registry/migrations.js';
import { openRegistry } from '../../src/registry/index.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'bootrack-ckpt-'));
  dirs.push(d);
  return d;
}

const lease = (i: number) => ({
  ip: `10.1.${i >> 8}.${i & 255}`,
  mac: `52:54:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
  subnet: '10.1.0.0/16',
  state: 'bound' as const,
  expiresAt: new Date(Date.now() + 3_600_000),
});

describe('background WAL checkpoints', () => {
  it('the daemon connection stops checkpointing; the worker folds the WAL back; stop restores the default', async () => {
    const dir = tempDir();
    const path = join(dir, 'r.db');
    const registry = openRegistry({ databasePath: path, secretKey: Buffer.alloc(32, 1), backgroundCheckpoint: { intervalMs: 60_000 } });
    try {
      expect(registry.checkpointer).not.toBeNull();
      // 3000 single-lease commits: far past the 1000-page threshold at which the connection would checkpoint itself.
      for (let i = 0; i < 3000; i++) registry.leases.put(lease(i));
      const walPages = statSync(`${path}-wal`).size / 4096;
      expect(walPages).toBeGreaterThan(1000);
      const result = await registry.checkpointer!.checkpoint();
      expect(result).not.toBeNull();
      expect(result!.log).toBeGreaterThan(1000);
      expect(result!.checkpointed).toBe(result!.log);
      expect(registry.leases.list({ limit: 5000 })).toHaveLength(3000);
    } finally {
      registry.close();
    }
    const reopened = openRegistry({ databasePath: path, secretKey: Buffer.alloc(32, 1) });
    try {
      expect(reopened.leases.list({ limit: 5000 })).toHaveLength(3000);
      expect(reopened.check().integrity).toEqual(['ok']);
    } finally {
      reopened.close();
    }
  });

  it('a worker that cannot open the database hands checkpoints back to the daemon connection and says so', async () => {
    const dir = tempDir();
    const path = join(dir, 'r.db');
    const errors: Error[] = [];
    const registry = openRegistry({ databasePath: path, secretKey: Buffer.alloc(32, 1), backgroundCheckpoint: { onError: (e) => errors.push(e) } });
    // The worker opens the file by name moments later; it is gone by then (moved away under the daemon).
    unlinkSync(path);
    try {
      for (let i = 0; i < 200 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toMatch(/cannot open .*r\.db: unable to open database file/);
      expect(await registry.checkpointer!.checkpoint()).toBeNull();
      // The daemon's own connection checkpoints again and keeps serving writes.
      for (let i = 0; i < 10; i++) registry.leases.put(lease(i));
      expect(registry.leases.list()).toHaveLength(10);
    } finally {
      registry.close();
    }
  });
});

describe('migration 2: leases keyed by address alone', () => {
  it('keeps every lease of a version-1 database, drops the mac index, and MAC lookups still answer', () => {
    const dir = tempDir();
    const path = join(dir, 'v1.db');
    const v1 = new Database(path);
    v1.pragma('journal_mode = WAL');
    v1.exec(MIGRATIONS[0]!);
    v1.pragma('user_version = 1');
    const insert = v1.prepare('INSERT INTO leases (ip, mac, client_id, hostname, subnet, state, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const later = Date.now() + 3_600_000;
    insert.run('10.1.0.5', '52:54:00:00:00:05', '01aa', 'five', '10.1.0.0/16', 'bound', later, 1);
    insert.run('10.1.0.6', '52:54:00:00:00:06', null, null, '10.1.0.0/16', 'expired', 5, 2);
    v1.close();

    const registry = openRegistry({ databasePath: path, secretKey: Buffer.alloc(32, 1) });
    try {
      expect(registry.leases.get('10.1.0.5')).toMatchObject({ mac: '52:54:00:00:00:05', clientId: '01aa', hostname: 'five', state: 'bound' });
      expect(registry.leases.get('10.1.0.6')?.state).toBe('expired');
      expect(registry.leases.list({ mac: '52:54:00:00:00:05', activeOnly: true }).map((l) => l.ip)).toEqual(['10.1.0.5']);
      expect(registry.leases.activeIpsByMac()).toEqual(new Map([['52:54:00:00:00:05', ['10.1.0.5']]]));
      expect(registry.check()).toMatchObject({ integrity: ['ok'], foreignKeyViolations: 0, schemaVersion: MIGRATIONS.length });
    } finally {
      registry.close();
    }
    const db = new Database(path, { readonly: true });
    try {
      const sql = (db.prepare(`SELECT sql FROM sqlite_master WHERE name = 'leases'`).get() as { sql: string }).sql;
      expect(sql).toMatch(/WITHOUT ROWID\s*$/);
      const indexes = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'leases' AND sql IS NOT NULL`).all() as Array<{ name: string }>).map((r) => r.name);
      expect(indexes).toEqual([]);
    } finally {
      db.close();
    }
  });
});
