import type { Clock } from '../common/logger.js';

/**
 * Rate limit for DHCP boot-timeline events: a MAC's retransmissions of the same message make one
 * event per `perMacMs`, and a global token bucket caps the total so a DHCP flood cannot turn into a
 * write storm on the event log. Counters still see every message; only timeline rows are limited.
 */
export class EventLimiter {
  readonly #clock: Clock;
  readonly #perMacMs: number;
  readonly #ratePerSecond: number;
  readonly #burst: number;
  readonly #last = new Map<string, number>();
  #tokens: number;
  #refilledAt: number;

  constructor(clock: Clock, options: { perMacMs?: number; ratePerSecond?: number; burst?: number } = {}) {
    this.#clock = clock;
    this.#perMacMs = options.perMacMs ?? 2000;
    this.#ratePerSecond = options.ratePerSecond ?? 100;
    this.#burst = options.burst ?? 200;
    this.#tokens = this.#burst;
    this.#refilledAt = clock.now().getTime();
  }

  /** `now` (ms) may be passed by a caller that already read the clock for this message. */
  allow(mac: string, type: string, now: number = this.#clock.now().getTime()): boolean {
    // The global bucket first: under a flood it is empty, and the per-MAC map is not even touched.
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#refilledAt) / 1000) * this.#ratePerSecond);
    this.#refilledAt = now;
    if (this.#tokens < 1) return false;
    const key = `${mac}/${type}`;
    const last = this.#last.get(key);
    if (last !== undefined && now - last < this.#perMacMs) return false;
    this.#tokens -= 1;
    this.#last.set(key, now);
    if (this.#last.size > 50_000) this.#prune(now);
    return true;
  }

  #prune(now: number): void {
    for (const [key, at] of this.#last) if (now - at >= this.#perMacMs) this.#last.delete(key);
  }
}
