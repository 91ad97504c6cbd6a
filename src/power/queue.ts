/**
 * One command in flight per BMC. BMCs allow few sessions (often 4–16) and misbehave when polled
 * concurrently; ipmi_sim even runs a retransmitted Chassis Control twice. `acquire` waits its turn
 * (FIFO per key); `tryAcquire` is for the poller, which skips a busy BMC rather than queueing.
 */
export class KeyedMutex {
  readonly #waiters = new Map<string, Array<() => void>>();

  /** Resolves with a release function once `key` is free; release exactly once. */
  acquire(key: string): Promise<() => void> {
    const queue = this.#waiters.get(key);
    if (!queue) {
      this.#waiters.set(key, []);
      return Promise.resolve(this.#releaser(key));
    }
    return new Promise((resolve) => queue.push(() => resolve(this.#releaser(key))));
  }

  tryAcquire(key: string): (() => void) | null {
    if (this.#waiters.has(key)) return null;
    this.#waiters.set(key, []);
    return this.#releaser(key);
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(key);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  busy(key: string): boolean {
    return this.#waiters.has(key);
  }

  #releaser(key: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const queue = this.#waiters.get(key);
      const next = queue?.shift();
      if (next) next();
      else this.#waiters.delete(key);
    };
  }
}
