import type { SubnetConfig } from '../config/schema.js';
import { broadcastOf, cidrContains, intToIp, ipToInt, maskToIp, parseCidr, type Cidr } from '../protocol/dhcp/ip.js';
import type { LeaseRecord, Reservation } from '../registry/index.js';
import { holds, type LeaseTable } from './dhcp-leases.js';

/** Static reservations, read from the registry on every use so a new one takes effect at once. */
export interface ReservationLookup {
  reservationFor(mac: string): Reservation | null;
  reservationOf(ip: string): Reservation | null;
}

/**
 * One subnet's dynamic range. The lease table is the truth (every candidate is re-checked against
 * it and against the reservations); the `busy` bitmap, one bit per address of the range, only skips
 * known-busy addresses fast. It is rebuilt from the table at start and whenever a scan wraps around,
 * so addresses whose leases lapsed come back. (A bitmap, not a Set: it never grows, so a filling
 * range never pauses to rehash, and a /16 costs 8 KiB.)
 */
export class AddressPool {
  readonly config: SubnetConfig;
  readonly key: string;
  readonly cidr: Cidr;
  readonly subnetMask: string;
  readonly broadcast: string;
  readonly #table: LeaseTable;
  readonly #reservations: ReservationLookup;
  readonly #start: number;
  readonly #end: number;
  readonly #never: Set<number>;
  readonly #busy: Uint32Array;
  #cursor: number;

  constructor(config: SubnetConfig, table: LeaseTable, reservations: ReservationLookup, serverAddresses: readonly string[], now: number) {
    this.config = config;
    this.key = config.cidr;
    this.cidr = parseCidr(config.cidr);
    this.subnetMask = maskToIp(this.cidr);
    this.broadcast = broadcastOf(this.cidr);
    this.#table = table;
    this.#reservations = reservations;
    this.#start = ipToInt(config.rangeStart);
    this.#end = ipToInt(config.rangeEnd);
    this.#never = new Set([...serverAddresses, ...(config.router ? [config.router] : []), this.broadcast].map(ipToInt));
    this.#busy = new Uint32Array(Math.ceil((this.#end - this.#start + 1) / 32));
    this.#cursor = this.#start;
    this.rebuild(now);
  }

  contains(ip: string): boolean {
    return cidrContains(this.cidr, ip);
  }

  inRange(ip: string): boolean {
    const n = ipToInt(ip);
    return n >= this.#start && n <= this.#end;
  }

  /** An address this subnet must never hand out (this server's own, the router, the broadcast). */
  never(ip: string): void {
    this.#never.add(ipToInt(ip));
  }

  /** The busy set from the lease table: addresses held (offered, bound, quarantined) at `now`. */
  rebuild(now: number): void {
    this.#busy.fill(0);
    for (const lease of this.#table.inSubnet(this.key)) if (holds(lease, now)) this.#mark(ipToInt(lease.ip), true);
  }

  /**
   * May `mac` have `ip` at `now`? Its own lease or a free address; never a server address, someone
   * else's reservation, or an address in DECLINE quarantine (not even for the client that declined it).
   */
  availableTo(ip: string, mac: string, now: number, known?: LeaseRecord): boolean {
    if (!this.contains(ip) || this.#never.has(ipToInt(ip))) return false;
    const holder = this.#reservations.reservationOf(ip);
    if (holder !== null && holder.mac !== mac) return false;
    const lease = known ?? this.#table.get(ip);
    if (lease === undefined) return true;
    if (lease.state === 'declined') return lease.expiresAt <= now;
    return lease.mac === mac || !holds(lease, now);
  }

  /** The next free address of the range for `mac`, or null when the range is exhausted. */
  allocate(mac: string, now: number): string | null {
    const size = this.#end - this.#start + 1;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < size; i++) {
        const n = this.#cursor;
        this.#cursor = n >= this.#end ? this.#start : n + 1;
        if (this.#isBusy(n) || this.#never.has(n)) continue;
        const ip = intToIp(n);
        if (this.availableTo(ip, mac, now)) return ip;
        this.#mark(n, true);
      }
      this.rebuild(now); // a full wrap: expiries may have freed addresses
    }
    return null;
  }

  markTaken(ip: string): void {
    this.#mark(ipToInt(ip), true);
  }

  markFree(ip: string): void {
    this.#mark(ipToInt(ip), false);
  }

  #isBusy(n: number): boolean {
    const i = n - this.#start;
    return (this.#busy[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  /** Addresses outside the range are not tracked: only the range is ever allocated from. */
  #mark(n: number, busy: boolean): void {
    if (n < this.#start || n > this.#end) return;
    const i = n - this.#start;
    if (busy) this.#busy[i >>> 5]! |= 1 << (i & 31);
    else this.#busy[i >>> 5]! &= ~(1 << (i & 31));
  }
}
