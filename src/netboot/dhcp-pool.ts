import type { Clock } from '../common/logger.js';
import type { SubnetConfig } from '../config/schema.js';
import { broadcastOf, cidrContains, intToIp, ipToInt, maskToIp, parseCidr, type Cidr } from '../protocol/dhcp/ip.js';
import type { Lease, Reservation } from '../registry/index.js';

/** The narrow slice of the registry's LeaseRepo a pool uses. */
export interface LeaseStore {
  get(ip: string): Lease | null;
  unavailable(subnet: string): Set<string>;
  reservedIps(): Set<string>;
  reservationFor(mac: string): Reservation | null;
}

/**
 * One subnet's dynamic range. The registry is the truth (every candidate is re-checked against its
 * lease row); the in-memory `taken` set only skips known-busy addresses fast, and is rebuilt from
 * the registry whenever a scan wraps around, so a restart loses nothing.
 */
export class AddressPool {
  readonly config: SubnetConfig;
  readonly key: string;
  readonly cidr: Cidr;
  readonly subnetMask: string;
  readonly broadcast: string;
  readonly #leases: LeaseStore;
  readonly #clock: Clock;
  readonly #start: number;
  readonly #end: number;
  readonly #never: Set<number>;
  #taken = new Set<number>();
  #reserved = new Set<number>();
  #cursor: number;

  constructor(config: SubnetConfig, leases: LeaseStore, clock: Clock, serverAddresses: readonly string[]) {
    this.config = config;
    this.key = config.cidr;
    this.cidr = parseCidr(config.cidr);
    this.subnetMask = maskToIp(this.cidr);
    this.broadcast = broadcastOf(this.cidr);
    this.#leases = leases;
    this.#clock = clock;
    this.#start = ipToInt(config.rangeStart);
    this.#end = ipToInt(config.rangeEnd);
    this.#never = new Set([...serverAddresses, ...(config.router ? [config.router] : []), this.broadcast].map(ipToInt));
    this.#cursor = this.#start;
    this.reload();
  }

  contains(ip: string): boolean {
    return cidrContains(this.cidr, ip);
  }

  inRange(ip: string): boolean {
    const n = ipToInt(ip);
    return n >= this.#start && n <= this.#end;
  }

  reload(): void {
    this.#taken = new Set([...this.#leases.unavailable(this.key)].map(ipToInt));
    this.#reserved = new Set([...this.#leases.reservedIps()].map(ipToInt));
  }

  /** May `mac` have `ip` now? Its own lease, or a free one; never a server address or someone's reservation. */
  availableTo(ip: string, mac: string, known?: Lease | null): boolean {
    if (!this.contains(ip) || this.#never.has(ipToInt(ip))) return false;
    const lease = known === undefined ? this.#leases.get(ip) : known;
    if (this.#reserved.has(ipToInt(ip)) && this.#leases.reservationFor(mac)?.ip !== ip) return false;
    if (lease === null || lease.mac === mac) return true;
    return lease.state === 'released' || lease.state === 'expired' || lease.expiresAt.getTime() <= this.#clock.now().getTime();
  }

  /** The next free address of the range for `mac`, or null when the range is exhausted. */
  allocate(mac: string): string | null {
    const size = this.#end - this.#start + 1;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < size; i++) {
        const n = this.#cursor;
        this.#cursor = n >= this.#end ? this.#start : n + 1;
        if (this.#taken.has(n) || this.#reserved.has(n) || this.#never.has(n)) continue;
        const ip = intToIp(n);
        if (this.availableTo(ip, mac)) return ip;
        this.#taken.add(n);
      }
      this.reload(); // a full wrap: expiries may have freed addresses
    }
    return null;
  }

  markTaken(ip: string): void {
    this.#taken.add(ipToInt(ip));
  }

  markFree(ip: string): void {
    this.#taken.delete(ipToInt(ip));
  }
}
