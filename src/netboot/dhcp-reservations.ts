import type { Reservation } from '../registry/index.js';

/** The narrow slice of the registry's LeaseRepo the reservation cache reads. */
export interface ReservationSource {
  allReservations(): Reservation[];
  reservationStamp(): string;
}

/**
 * Static reservations (registry table `reservations`), cached for the DHCP hot path. `refresh` is
 * called once per batch: it costs one PRAGMA and reloads only when the registry says the
 * reservations may have changed (an edit through the registry, or any commit by another process),
 * so a new reservation is honoured from the next batch on. `refresh(true)` (every lease sweep)
 * also catches reservations removed by a cascaded machine delete.
 */
export class ReservationCache {
  readonly #source: ReservationSource;
  #stamp: string | null = null;
  #byMac = new Map<string, Reservation>();
  #byIp = new Map<string, Reservation>();

  constructor(source: ReservationSource) {
    this.#source = source;
    this.refresh(true);
  }

  refresh(force = false): void {
    const stamp = this.#source.reservationStamp();
    if (!force && stamp === this.#stamp) return;
    const byMac = new Map<string, Reservation>();
    const byIp = new Map<string, Reservation>();
    for (const r of this.#source.allReservations()) {
      byMac.set(r.mac, r);
      byIp.set(r.ip, r);
    }
    this.#byMac = byMac;
    this.#byIp = byIp;
    this.#stamp = stamp;
  }

  reservationFor(mac: string): Reservation | null {
    return this.#byMac.get(mac) ?? null;
  }

  reservationOf(ip: string): Reservation | null {
    return this.#byIp.get(ip) ?? null;
  }
}
