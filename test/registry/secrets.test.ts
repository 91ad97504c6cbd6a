import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import { openRegistry, SecretBox } from '../../src/registry/index.js';
import { loadOrCreateSecretKey } from '../../src/registry/secrets.js';
import { SYSTEM, tempRegistry } from '../helpers/registry-fixtures.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'bootrack-secret-'));
  dirs.push(d);
  return d;
};

describe('secrets at rest', () => {
  it('round-trips and binds the ciphertext to its context', () => {
    const box = new SecretBox(randomBytes(32));
    const sealed = box.seal('hunter2', 'power:m1');
    expect(sealed).not.toContain('hunter2');
    expect(box.open(sealed, 'power:m1')).toBe('hunter2');
    expect(() => box.open(sealed, 'power:m2')).toThrow(expect.objectContaining({ code: 'SECRET_DECRYPT_FAILED' }));
  });

  it('fails with SECRET_DECRYPT_FAILED under the wrong key or tampering', () => {
    const sealed = new SecretBox(randomBytes(32)).seal('hunter2', 'c');
    expect(() => new SecretBox(randomBytes(32)).open(sealed, 'c')).toThrow(expect.objectContaining({ code: 'SECRET_DECRYPT_FAILED' }));
    const box = new SecretBox(randomBytes(32));
    const good = box.seal('hunter2', 'c');
    const raw = Buffer.from(good.slice(3), 'base64');
    raw[raw.length - 1]! ^= 1;
    expect(() => box.open(`v1:${raw.toString('base64')}`, 'c')).toThrow(expect.objectContaining({ code: 'SECRET_DECRYPT_FAILED' }));
    expect(() => box.open('garbage', 'c')).toThrow(expect.objectContaining({ code: 'SECRET_DECRYPT_FAILED' }));
  });

  it('creates the key file 0600 once and reuses it', () => {
    const path = join(tempDir(), 'sub', 'secret.key');
    const a = loadOrCreateSecretKey(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(loadOrCreateSecretKey(path).equals(a)).toBe(true);
    writeFileSync(path, 'too short');
    expect(() => loadOrCreateSecretKey(path)).toThrow(expect.objectContaining({ code: 'SECRET_KEY_INVALID' }));
  });

  it('stores BMC credentials encrypted: never in the row, the record or the events', () => {
    const t = tempRegistry();
    try {
      const m = t.registry.machines.create({ macs: ['02:00:00:00:00:01'] }, SYSTEM);
      const view = t.registry.machines.setPower(m.id, { type: 'ipmi', address: '10.0.0.5', credentials: { username: 'admin', password: 'S3cr3t-pw' } }, SYSTEM);
      expect(view.power).toMatchObject({ type: 'ipmi', hasCredentials: true });
      expect(JSON.stringify(view)).not.toContain('S3cr3t-pw');
      expect(JSON.stringify(t.registry.events.list({ machineId: m.id }))).not.toContain('S3cr3t-pw');
      expect(t.registry.machines.getPowerCredentials(m.id)).toEqual({ username: 'admin', password: 'S3cr3t-pw' });
      t.registry.close();
      expect(readFileSync(t.dbPath).includes('S3cr3t-pw')).toBe(false);
      const db = new Database(t.dbPath, { readonly: true });
      const row = db.prepare('SELECT power_secret FROM machines WHERE id = ?').get(m.id) as { power_secret: string };
      db.close();
      expect(row.power_secret.startsWith('v1:')).toBe(true);
      // Reopened with a different key: the record still loads, the secret does not.
      const other = openRegistry({ databasePath: t.dbPath, secretKey: randomBytes(32) });
      try {
        expect(other.machines.get(m.id).power.hasCredentials).toBe(true);
        let caught: unknown;
        try {
          other.machines.getPowerCredentials(m.id);
        } catch (err) {
          caught = err;
        }
        expect(isBootrackError(caught, 'SECRET_DECRYPT_FAILED')).toBe(true);
      } finally {
        other.close();
      }
    } finally {
      t.cleanup();
    }
  });
});
