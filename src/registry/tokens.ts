import { createHash, randomBytes } from 'node:crypto';
import { BootrackError } from '../common/errors.js';
import type { Clock } from '../common/logger.js';
import type { Db } from './db.js';

export type TokenRole = 'admin' | 'driver' | 'agent';

export interface TokenRecord {
  id: string;
  name: string;
  role: TokenRole;
  /** For driver tokens: the owner name allocations are made under. */
  owner: string | null;
  /** For agent tokens: the one machine it may speak for. */
  machineId: string | null;
  singleUse: boolean;
  createdAt: string;
  expiresAt: string | null;
  usedAt: string | null;
  revokedAt: string | null;
}

interface TokenRow {
  id: string;
  name: string;
  role: TokenRole;
  hash: string;
  owner: string | null;
  machine_id: string | null;
  single_use: number;
  created_at: number;
  expires_at: number | null;
  used_at: number | null;
  revoked_at: number | null;
}

export interface TokenInput {
  name: string;
  role: TokenRole;
  owner?: string | null;
  machineId?: string | null;
  singleUse?: boolean;
  expiresAt?: Date | null;
}

const PREFIX = 'brk_';

/**
 * API tokens. Only a SHA-256 of each token is stored: tokens are 256 random bits, so a fast hash
 * is enough (no dictionary to slow down), and the plaintext is shown exactly once, at creation.
 */
export class TokenRepo {
  readonly #db: Db;
  readonly #clock: Clock;

  constructor(db: Db, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  create(input: TokenInput): { token: string; record: TokenRecord } {
    const id = 't' + randomBytes(6).toString('hex');
    const token = PREFIX + randomBytes(32).toString('base64url');
    this.#db
      .prepare(
        `INSERT INTO api_tokens (id, name, role, hash, owner, machine_id, single_use, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(id, input.name, input.role, hashToken(token), input.owner ?? null, input.machineId ?? null, input.singleUse ? 1 : 0, this.#clock.now().getTime(), input.expiresAt?.getTime() ?? null);
    return { token, record: this.get(id) };
  }

  get(id: string): TokenRecord {
    const row = this.#db.prepare('SELECT * FROM api_tokens WHERE id = ?').get(id) as TokenRow | undefined;
    if (!row) throw new BootrackError('TOKEN_NOT_FOUND', `no token ${id}`, { id });
    return toRecord(row);
  }

  /** The live record for a presented token, or null when unknown, revoked, expired or already used. */
  verify(token: string): TokenRecord | null {
    if (typeof token !== 'string' || !token.startsWith(PREFIX)) return null;
    const row = this.#db.prepare('SELECT * FROM api_tokens WHERE hash = ?').get(hashToken(token)) as TokenRow | undefined;
    if (!row) return null;
    const now = this.#clock.now().getTime();
    if (row.revoked_at !== null || (row.expires_at !== null && row.expires_at <= now)) return null;
    if (row.single_use === 1 && row.used_at !== null) return null;
    return toRecord(row);
  }

  /** Atomically marks a single-use token used; false when someone else already did (a replay). */
  consume(id: string): boolean {
    return this.#db.prepare('UPDATE api_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL AND revoked_at IS NULL').run(this.#clock.now().getTime(), id).changes === 1;
  }

  revoke(id: string): TokenRecord {
    const changed = this.#db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(this.#clock.now().getTime(), id).changes;
    if (changed === 0) this.get(id);
    return this.get(id);
  }

  /** Revokes every live agent token of a machine: a new boot gets a new token. */
  revokeAgentTokens(machineId: string): number {
    return this.#db.prepare(`UPDATE api_tokens SET revoked_at = ? WHERE machine_id = ? AND role = 'agent' AND revoked_at IS NULL`).run(this.#clock.now().getTime(), machineId).changes;
  }

  list(): TokenRecord[] {
    return (this.#db.prepare('SELECT * FROM api_tokens ORDER BY created_at').all() as TokenRow[]).map(toRecord);
  }
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function toRecord(row: TokenRow): TokenRecord {
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    owner: row.owner,
    machineId: row.machine_id,
    singleUse: row.single_use === 1,
    createdAt: iso(row.created_at)!,
    expiresAt: iso(row.expires_at),
    usedAt: iso(row.used_at),
    revokedAt: iso(row.revoked_at),
  };
}
