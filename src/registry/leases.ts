import type { Clock } from '../common/logger.js';
import type { Db } from './db.js';

export type LeaseState = 'offered' | 'bound' | 'released' | 'declined' | 'expired';

export interface Lease {
  ip: string;
  mac: string | null;
  clientId: string | null;
  hostname: string | null;
  subnet: string;
  state: LeaseState;
  expiresAt: Date;
  updatedAt: Date;
}

interface LeaseRow {
  ip: string;
  mac: string | null;
  client_id: string | null;
  hostname: string | null;
  subnet: string;
  state: LeaseState;
  expires_at: number;
  updated_at: number;
}

export interface LeaseWrite {
  ip: string;
  mac: string | null;
  clientId?: string | null;
  hostname?: string | null;
  subnet: string;
  state: LeaseState;
  expiresAt: Date;
}

export interface Reservation {
  mac: string;
  ip: string;
  hostname: string | null;
}

/** DHCP leases, persisted so a restart never hands an address out twice. */
export class LeaseRepo {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #upsert;
  // Prepared once: DHCP calls these several times per message (preparing costs more than running).
  readonly #get;
  readonly #byMac;
  readonly #byMacSubnet;
  readonly #reservation;

  constructor(db: Db, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
    this.#get = db.prepare('SELECT * FROM leases WHERE ip = ?');
    this.#byMac = db.prepare('SELECT * FROM leases WHERE mac = ? ORDER BY updated_at DESC LIMIT 1');
    this.#byMacSubnet = db.prepare('SELECT * FROM leases WHERE mac = ? AND subnet = ? ORDER BY updated_at DESC LIMIT 1');
    this.#reservation = db.prepare('SELECT mac, ip, hostname FROM reservations WHERE mac = ?');
    this.#upsert = db.prepare(
      `INSERT INTO leases (ip, mac, client_id, hostname, subnet, state, expires_at, updated_at)
       VALUES (@ip, @mac, @clientId, @hostname, @subnet, @state, @expiresAt, @now)
       ON CONFLICT(ip) DO UPDATE SET mac = excluded.mac, client_id = excluded.client_id, hostname = excluded.hostname,
         subnet = excluded.subnet, state = excluded.state, expires_at = excluded.expires_at, updated_at = excluded.updated_at`,
    );
  }

  write(lease: LeaseWrite): Lease {
    this.put(lease);
    return this.get(lease.ip)!;
  }

  /** As `write`, without reading the row back (the DHCP hot path). */
  put(lease: LeaseWrite): void {
    this.#upsert.run({
      ip: lease.ip,
      mac: lease.mac,
      clientId: lease.clientId ?? null,
      hostname: lease.hostname ?? null,
      subnet: lease.subnet,
      state: lease.state,
      expiresAt: lease.expiresAt.getTime(),
      now: this.#clock.now().getTime(),
    });
  }

  get(ip: string): Lease | null {
    const row = this.#get.get(ip) as LeaseRow | undefined;
    return row ? toLease(row) : null;
  }

  /** The newest lease a MAC holds in a subnet, whatever its state. */
  findByMac(mac: string, subnet?: string): Lease | null {
    const row = (
      subnet === undefined ? this.#byMac.get(mac) : this.#byMacSubnet.get(mac, subnet)
    ) as LeaseRow | undefined;
    return row ? toLease(row) : null;
  }

  /** Addresses in a subnet that may not be offered to a new client: unexpired offers, bindings and quarantines. */
  unavailable(subnet: string): Set<string> {
    const now = this.#clock.now().getTime();
    const rows = this.#db
      .prepare(`SELECT ip FROM leases WHERE subnet = ? AND state IN ('offered', 'bound', 'declined') AND expires_at > ?`)
      .all(subnet, now) as Array<{ ip: string }>;
    return new Set(rows.map((r) => r.ip));
  }

  /** TFTP carries no MAC: this maps a client address back to the MAC that holds it now. */
  macForIp(ip: string): string | null {
    const row = this.#db
      .prepare(`SELECT mac FROM leases WHERE ip = ? AND state IN ('offered', 'bound') AND expires_at > ?`)
      .get(ip, this.#clock.now().getTime()) as { mac: string | null } | undefined;
    return row?.mac ?? null;
  }

  list(options: { subnet?: string; mac?: string; activeOnly?: boolean; limit?: number } = {}): Lease[] {
    const where: string[] = [];
    const params: Record<string, unknown> = { limit: Math.min(Math.max(options.limit ?? 1000, 1), 100_000) };
    if (options.subnet) (where.push('subnet = @subnet'), (params.subnet = options.subnet));
    if (options.mac) (where.push('mac = @mac'), (params.mac = options.mac));
    if (options.activeOnly) (where.push(`state = 'bound' AND expires_at > @now`), (params.now = this.#clock.now().getTime()));
    const sql = `SELECT * FROM leases ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY ip LIMIT @limit`;
    return (this.#db.prepare(sql).all(params) as LeaseRow[]).map(toLease);
  }

  /** The static reservation of a MAC (reservations table), or null. */
  reservationFor(mac: string): Reservation | null {
    const row = this.#reservation.get(mac) as Reservation | undefined;
    return row ?? null;
  }

  /** Every reserved address; the pool never hands these to anyone else. */
  reservedIps(): Set<string> {
    return new Set((this.#db.prepare('SELECT ip FROM reservations').all() as Array<{ ip: string }>).map((r) => r.ip));
  }

  /** Reserves an address for a MAC that belongs to a machine (the foreign key); replaces an earlier one. */
  reserve(reservation: Reservation): void {
    this.#db
      .prepare('INSERT INTO reservations (mac, ip, hostname) VALUES (@mac, @ip, @hostname) ON CONFLICT(mac) DO UPDATE SET ip = excluded.ip, hostname = excluded.hostname')
      .run({ mac: reservation.mac, ip: reservation.ip, hostname: reservation.hostname ?? null });
  }

  unreserve(mac: string): boolean {
    return this.#db.prepare('DELETE FROM reservations WHERE mac = ?').run(mac).changes > 0;
  }

  /**
   * Group commit for the DHCP hot path: opens a write transaction unless one is open. The caller
   * must `commitBatch()` before it acknowledges anything (a DHCP server commits before it sends the
   * replies of a batch), so one commit covers every datagram of a batch.
   * Returns whether this call opened it.
   */
  beginBatch(): boolean {
    if (this.#db.inTransaction) return false;
    this.#db.exec('BEGIN IMMEDIATE');
    return true;
  }

  commitBatch(): void {
    if (this.#db.inTransaction) this.#db.exec('COMMIT');
  }

  /** Marks lapsed offers and bindings expired; returns how many changed. */
  expire(): number {
    const now = this.#clock.now().getTime();
    return this.#db.prepare(`UPDATE leases SET state = 'expired', updated_at = ? WHERE state IN ('offered', 'bound') AND expires_at <= ?`).run(now, now).changes;
  }
}

function toLease(row: LeaseRow): Lease {
  return {
    ip: row.ip,
    mac: row.mac,
    clientId: row.client_id,
    hostname: row.hostname,
    subnet: row.subnet,
    state: row.state,
    expiresAt: new Date(row.expires_at),
    updatedAt: new Date(row.updated_at),
  };
}
