import type { Clock } from '../common/logger.js';
import type { Db } from './db.js';
import type { EventInput, EventKind, EventRecord } from './types.js';

interface EventRow {
  id: number;
  at: number;
  machine_id: string | null;
  mac: string | null;
  kind: string;
  type: string;
  actor: string;
  from_state: string | null;
  to_state: string | null;
  reason: string | null;
  data: string;
}

export interface EventQuery {
  machineId?: string;
  mac?: string;
  kinds?: EventKind[];
  sinceId?: number;
  /** Newest N, returned oldest first. */
  limit?: number;
}

/** The append-only audit trail and boot timeline. */
export class EventLog {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #insert;

  constructor(db: Db, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
    this.#insert = db.prepare(
      `INSERT INTO events (at, machine_id, mac, kind, type, actor, from_state, to_state, reason, data)
       VALUES (@at, @machineId, @mac, @kind, @type, @actor, @fromState, @toState, @reason, @data)`,
    );
  }

  append(event: EventInput): number {
    const info = this.#insert.run({
      at: this.#clock.now().getTime(),
      machineId: event.machineId ?? null,
      mac: event.mac ?? null,
      kind: event.kind,
      type: event.type,
      actor: event.actor,
      fromState: event.fromState ?? null,
      toState: event.toState ?? null,
      reason: event.reason ?? null,
      data: JSON.stringify(event.data ?? {}),
    });
    return Number(info.lastInsertRowid);
  }

  list(query: EventQuery = {}): EventRecord[] {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    if (query.machineId !== undefined && query.mac !== undefined) {
      // A machine's timeline includes what happened to its MACs before it was enlisted.
      where.push('(machine_id = @machineId OR mac = @mac)');
      params.machineId = query.machineId;
      params.mac = query.mac;
    } else if (query.machineId !== undefined) {
      where.push('machine_id = @machineId');
      params.machineId = query.machineId;
    } else if (query.mac !== undefined) {
      where.push('mac = @mac');
      params.mac = query.mac;
    }
    if (query.kinds?.length) {
      where.push(`kind IN (${query.kinds.map((_, i) => `@k${i}`).join(', ')})`);
      query.kinds.forEach((k, i) => (params[`k${i}`] = k));
    }
    if (query.sinceId !== undefined) {
      where.push('id > @sinceId');
      params.sinceId = query.sinceId;
    }
    params.limit = Math.min(Math.max(query.limit ?? 500, 1), 10_000);
    const sql = `SELECT * FROM (SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                 ORDER BY id DESC LIMIT @limit) ORDER BY id ASC`;
    return (this.#db.prepare(sql).all(params) as EventRow[]).map(toRecord);
  }
}

function toRecord(row: EventRow): EventRecord {
  return {
    id: row.id,
    at: new Date(row.at).toISOString(),
    machineId: row.machine_id,
    mac: row.mac,
    kind: row.kind as EventKind,
    type: row.type,
    actor: row.actor,
    fromState: row.from_state,
    toState: row.to_state,
    reason: row.reason,
    data: JSON.parse(row.data) as Record<string, unknown>,
  };
}
