import type { Reservation } from '../registry/index.js';

/** The narrow slice of the registry's LeaseRepo the reservation cache reads. */
export interface ReservationSource {
  allReservations(): Reservation[];
  /** Bumped by every edit through the daemon's own registry connection. */
  readonly reservationEdits: number;
  /** Changes with every commit by another connection (another process). */
  dataVersion(): number;
}

/** How often another process's commits are looked for (a PRAGMA); the daemon's own edits are seen at once. */
const OTHER_PROCESS_CHECK_MS = 100;

/**
 * Static reservations (registry table `reservations`), cached for the DHCP hot path. `refresh` is
 * called once per batch: an edit through the daemon's registry (the API) is honoured from the next
 * batch on; an edit by another process within OTHER_PROCESS_CHECK_MS. It reloads only when one of
 * them says the reservations may have changed. `refresh(true)` (every lease sweep) also catches
 * reservations removed by a cascaded machine delete.
 */
export class ReservationCache {
  readonly #source: ReservationSource;
  #edits = -1;
  #dataVersion = -1;
  #checkedAt = -Infinity;
  #byMac = new Map<string, Reservation>();
  #byIp = new Map<string, Reservation>();

  constructor(source: ReservationSource) {
    this.#source = source;
    this.refresh(true);
  }

  refresh(force = false): void {
    const edits = this.#source.reservationEdits;
    const now = performance.now();
    let dataVersion = this.#dataVersion;
    if (force || now - this.#checkedAt >= OTHER_PROCESS_CHECK_MS) {
      dataVersion = this.#source.dataVersion();
      this.#checkedAt = now;
    }
    if (!force && edits === this.#edits && dataVersion === this.#dataVersion) return;
    const byMac = new Map<string, Reservation>();
    const byIp = new Map<string, Reservation>();
    for (const r of this.#source.allReservations()) {
      byMac.set(r.mac, r);
      byIp.set(r.ip, r);
    }
    this.#byMac = byMac;
    this.#byIp = byIp;
    this.#edits = edits;
    this.#dataVersion = dataVersion;
  }

  reservationFor(mac: string): Reservation | null {
    return this.#byMac.get(mac) ?? null;
  }

  reservationOf(ip: string): Reservation | null {
    return this.#byIp.get(ip) ?? null;
  }
}
