import { BootrackError, isBootrackError } from '../common/errors.js';

export type Outcome<R> = { ok: true; value: R } | { ok: false; error: Error } | { ok: false; notStarted: true };

export interface BatchOptions<I, R> {
  /** At most this many at once (Chef's machine_batch max_simultaneous, default 100). */
  concurrency?: number;
  /**
   * Default false: every item runs even if another failed (one broken box must not strand the
   * rest half-built). True: queued items are dropped after the first failure, in-flight ones
   * finish (Chef's parallelizer rule), and the dropped ones are listed as not started.
   */
  stopOnError?: boolean;
  /** Called as soon as each item finishes, success or failure (this is where specs get saved). */
  onEach?: (item: I, outcome: Outcome<R>, index: number) => Promise<void> | void;
}

export interface BatchFailure {
  name: string;
  code: string;
  message: string;
}

/** BATCH_FAILED: names each failed item (CP#499) and carries every outcome in input order. */
export class BatchError<R = unknown> extends BootrackError {
  readonly outcomes: Array<Outcome<R>>;

  constructor(failures: BatchFailure[], notStarted: string[], total: number, outcomes: Array<Outcome<R>>) {
    const list = failures.map((f) => `${f.name}: ${f.code}: ${f.message}`).join('; ');
    super('BATCH_FAILED', `${failures.length} of ${total} failed — ${list}${notStarted.length ? `; not started: ${notStarted.join(', ')}` : ''}`, { failures, notStarted });
    this.outcomes = outcomes;
  }
}

/**
 * Runs `worker` over `items` with a concurrency limit. Resolves to the results IN INPUT ORDER, or
 * throws a BatchError naming every failure once all started work has finished.
 */
export async function runBatch<I, R>(
  items: readonly I[],
  nameOf: (item: I) => string,
  worker: (item: I, index: number) => Promise<R>,
  options: BatchOptions<I, R> = {},
): Promise<R[]> {
  const limit = Math.max(1, Math.floor(options.concurrency ?? 100));
  const outcomes: Array<Outcome<R> | undefined> = new Array(items.length);
  let next = 0;
  let stop = false;
  const lane = async (): Promise<void> => {
    while (next < items.length && !stop) {
      const index = next++;
      const item = items[index] as I;
      let outcome: Outcome<R>;
      try {
        outcome = { ok: true, value: await worker(item, index) };
      } catch (error) {
        outcome = { ok: false, error: error instanceof Error ? error : new Error(String(error)) };
      }
      try {
        await options.onEach?.(item, outcome, index);
      } catch (error) {
        outcome = { ok: false, error: error instanceof Error ? error : new Error(String(error)) };
      }
      outcomes[index] = outcome;
      if (!outcome.ok && options.stopOnError) stop = true;
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  const all: Array<Outcome<R>> = Array.from(outcomes, (o): Outcome<R> => o ?? { ok: false, notStarted: true });
  const failures: BatchFailure[] = [];
  const notStarted: string[] = [];
  all.forEach((o, i) => {
    const name = nameOf(items[i] as I);
    if (o.ok) return;
    if ('notStarted' in o) notStarted.push(name);
    else failures.push({ name, code: isBootrackError(o.error) ? o.error.code : 'INTERNAL', message: o.error.message });
  });
  if (failures.length || notStarted.length) throw new BatchError(failures, notStarted, items.length, all);
  return all.map((o) => (o as { ok: true; value: R }).value);
}
