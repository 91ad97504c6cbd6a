import type { Clock } from '../common/logger.js';
import type { Db } from './db.js';

export type LeaseState = 'offered' | 'bound' | 'released' | 'declined' | 'expired';

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

/**
 * A lease as the DHCP server keeps it in memory (times in ms since the epoch). The DHCP policy is
 * the only writer of the leases table while it runs: it loads every row at start (`loadAll`) and
 * writes its changes back in group commits (`store`), as Kea's memfile backend does with its CSV.
 */
export interface LeaseRecord {
  ip: string;
  mac: string | null;
  clientId: string | null;
  hostname: string | null;
  subnet: string;
  state: LeaseState;
  expiresAt: number;
  updatedAt: number;
}

/** A lease as the API and CLI see it: the same fields, times as Dates. */
export type Lease = Omit<LeaseRecord, 'expiresAt' | 'updatedAt'> & { expiresAt: Date; updatedAt: Date };

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
  readonly #reservationOfIp;
  readonly #all;
  readonly #allReservations;
  readonly #dataVersion;
  readonly #activeByMac;
  /** Bumped by every reserve/unreserve through this repo (PRAGMA data_version only sees other connections). */
  #reservationEdits = 0;

  constructor(db: Db, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
    this.#get = db.prepare('SELECT * FROM leases WHERE ip = ?');
    this.#byMac = db.prepare('SELECT * FROM leases WHERE mac = ? ORDER BY updated_at DESC LIMIT 1');
    this.#byMacSubnet = db.prepare('SELECT * FROM leases WHERE mac = ? AND subnet = ? ORDER BY updated_at DESC LIMIT 1');
    this.#reservation = db.prepare('SELECT mac, ip, hostname FROM reservations WHERE mac = ?');
    this.#reservationOfIp = db.prepare('SELECT mac, ip, hostname FROM reservations WHERE ip = ?');
    this.#all = db.prepare('SELECT * FROM leases ORDER BY updated_at, ip');
    this.#allReservations = db.prepare('SELECT mac, ip, hostname FROM reservations');
    this.#dataVersion = db.prepare('PRAGMA data_version').pluck();
    this.#activeByMac = db.prepare(`SELECT mac, ip FROM leases WHERE mac IS NOT NULL AND state = 'bound' AND expires_at > ? ORDER BY ip`);
    // Positional parameters: binding from an object costs a property lookup per column per row.
    this.#upsert = db.prepare(
      `INSERT INTO leases (ip, mac, client_id, hostname, subnet, state, expires_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
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
    this.#upsert.run(lease.ip, lease.mac, lease.clientId ?? null, lease.hostname ?? null, lease.subnet, lease.state, lease.expiresAt.getTime(), this.#clock.now().getTime());
  }

  /** Every lease row, least recently updated first (a MAC's newest lease comes last). */
  loadAll(): LeaseRecord[] {
    return (this.#all.all() as LeaseRow[]).map(toRecord);
  }

  /**
   * Writes these leases (their own updatedAt kept) in ONE write transaction: the DHCP server's group
   * commit. Inside an enclosing registry.transaction it is part of that transaction.
   */
  store(records: Iterable<LeaseRecord>): void {
    const write = () => {
      for (const r of records) {
        this.#upsert.run(r.ip, r.mac, r.clientId, r.hostname, r.subnet, r.state, r.expiresAt, r.updatedAt);
      }
    };
    // Not nested as a SAVEPOINT: inside one, every upsert opens a statement journal (a temp file).
    if (this.#db.inTransaction) write();
    else this.#db.transaction(write).immediate();
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

  /** TFTP carries no MAC: this maps a client address back to the MAC that holds it now. */
  macForIp(ip: string): string | null {
    const row = this.#db
      .prepare(`SELECT mac FROM leases WHERE ip = ? AND state IN ('offered', 'bound') AND expires_at > ?`)
      .get(ip, this.#clock.now().getTime()) as { mac: string | null } | undefined;
    return row?.mac ?? null;
  }

  /**
   * The addresses each MAC holds on a live binding, from one pass over the table (there is no index
   * on mac, see migration 2): a page of machine views asks once, not once per interface.
   */
  activeIpsByMac(): Map<string, string[]> {
    const rows = this.#activeByMac.all(this.#clock.now().getTime()) as Array<{ mac: string; ip: string }>;
    const byMac = new Map<string, string[]>();
    for (const { mac, ip } of rows) {
      const ips = byMac.get(mac);
      if (ips) ips.push(ip);
      else byMac.set(mac, [ip]);
    }
    return byMac;
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

  /** The reservation holding an address, or null. */
  reservationOf(ip: string): Reservation | null {
    const row = this.#reservationOfIp.get(ip) as Reservation | undefined;
    return row ?? null;
  }

  /** Every static reservation. */
  allReservations(): Reservation[] {
    return this.#allReservations.all() as Reservation[];
  }

  /** Bumped by every reserve/unreserve through this repo (the connection the daemon shares). */
  get reservationEdits(): number {
    return this.#reservationEdits;
  }

  /**
   * Changes with every commit by another connection (PRAGMA data_version; this connection's own
   * commits do not change it): reservations edited by another process. A cascaded delete through
   * this connection (a machine or interface removed) changes neither: a cache must also refresh
   * on a timer.
   */
  dataVersion(): number {
    return this.#dataVersion.get() as number;
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
    this.#reservationEdits++;
  }

  unreserve(mac: string): boolean {
    this.#reservationEdits++;
    return this.#db.prepare('DELETE FROM reservations WHERE mac = ?').run(mac).changes > 0;
  }

  /** Marks lapsed offers and bindings expired; returns how many changed. */
  expire(): number {
    const now = this.#clock.now().getTime();
    return this.#db.prepare(`UPDATE leases SET state = 'expired', updated_at = ? WHERE state IN ('offered', 'bound') AND expires_at <= ?`).run(now, now).changes;
  }
}

function toRecord(row: LeaseRow): LeaseRecord {
  return {
    ip: row.ip,
    mac: row.mac,
    clientId: row.client_id,
    hostname: row.hostname,
    subnet: row.subnet,
    state: row.state,
    expiresAt: row.expires_at,
    updatedAt: row.updated_at,
  };
}

function toLease(row: LeaseRow): Lease {
  return { ...toRecord(row), expiresAt: new Date(row.expires_at), updatedAt: new Date(row.updated_at) };
}
