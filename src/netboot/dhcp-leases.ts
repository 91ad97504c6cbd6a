import { ShardedMap } from '../common/sharded-map.js';
import type { LeaseRecord, LeaseState } from '../registry/index.js';

/** The narrow slice of the registry's LeaseRepo the lease table uses. */
export interface LeaseStore {
  loadAll(): LeaseRecord[];
  store(records: Iterable<LeaseRecord>): void;
}

/** States that hold an address until they lapse. */
const HOLDING: ReadonlySet<LeaseState> = new Set(['offered', 'bound', 'declined']);

/** Does this lease keep its address from others at `now`? (unexpired offer, binding or quarantine) */
export function holds(lease: LeaseRecord, now: number): boolean {
  return HOLDING.has(lease.state) && lease.expiresAt > now;
}

/**
 * The DHCP server's leases, in memory, backed by the registry (the way Kea's memfile backend keeps
 * its leases in memory and appends to a CSV). The policy is the leases table's only writer while it
 * runs: the table is loaded once at start, every change is applied here first and queued, and
 * `flush` writes the queue in one transaction (group commit). The server calls `flush` before it
 * sends the replies of a batch, so an ACK never leaves for a lease that is not stored; a failed
 * flush keeps the queue and the next one retries. Reads never touch SQLite (the hot path).
 *
 * Offers are kept in memory only: an offer is not a lease yet (RFC 2131 §4.3.1 asks the server to
 * reserve the offered address, which this process does for the offer's lifetime), and Kea does not
 * store offers either. A restart forgets them; a REQUEST for a forgotten offer gets a NAK and the
 * client starts over, so no address is ever bound twice. Every other state change is stored.
 */
export class LeaseTable {
  readonly #store: LeaseStore;
  // Sharded: a plain Map that grows past 32768 leases rehashes them all in one 7 ms step.
  readonly #byIp = new ShardedMap<LeaseRecord>();
  /** MAC → the addresses whose newest lease names it (usually one). */
  readonly #byMac = new ShardedMap<string[]>();
  /** ip → the record to write at the next flush (a newer change replaces an older one). */
  #dirty = new Map<string, LeaseRecord>();
  #queued = 0;

  constructor(store: LeaseStore) {
    this.#store = store;
    for (const lease of store.loadAll()) this.#index(lease);
  }

  get(ip: string): LeaseRecord | undefined {
    return this.#byIp.get(ip);
  }

  /** The most recently updated lease `mac` holds in `subnet`, whatever its state (none: undefined). */
  newest(mac: string, subnet: string): LeaseRecord | undefined {
    let best: LeaseRecord | undefined;
    for (const ip of this.#byMac.get(mac) ?? []) {
      const lease = this.#byIp.get(ip);
      if (lease?.subnet === subnet && (best === undefined || lease.updatedAt >= best.updatedAt)) best = lease;
    }
    return best;
  }

  /** Applies a change in memory and, when `stored` (everything but offers, see above), queues it for the next flush. */
  put(lease: LeaseRecord, stored = lease.state !== 'offered'): void {
    this.#index(lease);
    if (stored) {
      this.#dirty.set(lease.ip, lease);
      this.#queued++;
    }
  }

  get pending(): number {
    return this.#dirty.size;
  }

  /** How many changes were ever queued for a flush (a reply made after one must wait for it). */
  get queued(): number {
    return this.#queued;
  }

  /** Writes the queued changes in one transaction. Throws (keeping the queue) when the store fails. */
  flush(): void {
    if (this.#dirty.size === 0) return;
    this.#store.store(this.#dirty.values());
    this.#dirty = new Map();
  }

  /** Every lease of a subnet (the pool rebuilds its busy set from these). */
  *inSubnet(subnet: string): IterableIterator<LeaseRecord> {
    for (const lease of this.#byIp.values()) if (lease.subnet === subnet) yield lease;
  }

  /**
   * The lease sweep: marks at most `limit` lapsed offers and bindings of `subnet` expired, here and
   * (bindings; offers were never stored) in the registry, then flushes. The table holds every lease,
   * so the lapsed ones are found in memory: the registry needs no index on state and expiry, which
   * every group commit would otherwise have to update. Returns the addresses it expired.
   */
  sweep(subnet: string, now: number, limit: number): string[] {
    const expired: string[] = [];
    for (const lease of this.#byIp.values()) {
      if (expired.length >= limit) break;
      if (lease.subnet !== subnet || (lease.state !== 'offered' && lease.state !== 'bound') || lease.expiresAt > now) continue;
      expired.push(lease.ip);
      // An offer was never stored (see above): its lapse is not either.
      this.put({ ...lease, state: 'expired', updatedAt: now }, lease.state === 'bound');
    }
    this.flush();
    return expired;
  }

  #index(lease: LeaseRecord): void {
    const before = this.#byIp.get(lease.ip);
    this.#byIp.set(lease.ip, lease);
    if (before?.mac === lease.mac) return;
    if (before?.mac) {
      const list = this.#byMac.get(before.mac);
      const at = list?.indexOf(lease.ip) ?? -1;
      if (list && at >= 0) {
        list.splice(at, 1);
        if (list.length === 0) this.#byMac.delete(before.mac);
      }
    }
    if (lease.mac) {
      const list = this.#byMac.get(lease.mac);
      if (!list) this.#byMac.set(lease.mac, [lease.ip]);
      else if (!list.includes(lease.ip)) list.push(lease.ip);
    }
  }
}
