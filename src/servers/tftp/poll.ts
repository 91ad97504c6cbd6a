/**
 * Bounded busy-polling for lock-step TFTP. RFC 1350 sends one DATA per ACK, so a transfer's speed is
 * 1 / (ACK→DATA turnaround): on a fast LAN most of that is the wake-up of a sleeping event loop (an
 * idle CPU, or a halted vCPU). While a transfer waits for an ACK that is due within the budget (its
 * smoothed RTT is below it), the loop keeps polling its sockets with zero timeout (setImmediate)
 * instead of sleeping in epoll, for at most `budgetUs` after the last send. Peers with a longer RTT
 * never trigger it; with no transfer waiting it costs nothing. The price is one core kept busy while
 * fast lock-step transfers run (the budget bounds it after the last one).
 */
export class BusyPoll {
  readonly #budgetMs: number;
  #until = 0;
  #spinning = false;
  #stopped = false;

  /** `budgetUs` 0 turns it off. */
  constructor(budgetUs: number) {
    this.#budgetMs = budgetUs / 1000;
  }

  /** A transfer just sent and now waits for an ACK expected after about `srttMs`. */
  awaiting(srttMs: number): void {
    if (this.#budgetMs <= 0 || this.#stopped || srttMs >= this.#budgetMs) return;
    this.#until = performance.now() + this.#budgetMs;
    if (!this.#spinning) {
      this.#spinning = true;
      setImmediate(this.#tick);
    }
  }

  stop(): void {
    this.#stopped = true;
  }

  readonly #tick = (): void => {
    if (!this.#stopped && performance.now() < this.#until) setImmediate(this.#tick);
    else this.#spinning = false;
  };
}
