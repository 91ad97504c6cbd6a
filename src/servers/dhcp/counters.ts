import { Counter, type Registry as PromRegistry } from 'prom-client';

/**
 * A labelled counter counted in plain numbers on the hot path and handed to prom-client when it is
 * scraped (its collect hook): prom-client's own inc validates and hashes on every call, which cost
 * more per packet than decoding it.
 */
export class LabelCounts {
  readonly #counter: Counter<string>;
  readonly #counts = new Map<string, { child: Counter.Internal; unreported: number }>();

  constructor(counter: Counter<string>) {
    this.#counter = counter;
  }

  inc(label: string, by = 1): void {
    let entry = this.#counts.get(label);
    if (entry === undefined) {
      entry = { child: this.#counter.labels(label), unreported: 0 };
      this.#counts.set(label, entry);
    }
    entry.unreported += by;
  }

  /** Moves the counts into prom-client (called from the counter's collect hook, before a scrape). */
  report(): void {
    for (const entry of this.#counts.values()) {
      if (entry.unreported > 0) entry.child.inc(entry.unreported);
      entry.unreported = 0;
    }
  }
}

/** The LabelCounts of each prom-client counter (several servers may share one metrics registry). */
const reporters = new WeakMap<Counter<string>, LabelCounts[]>();

/** Counts for a counter whose collect hook reports every LabelCounts made for it. */
export function counter(metrics: PromRegistry | undefined, name: string, help: string, labelNames: string[]): LabelCounts {
  const metric =
    (metrics?.getSingleMetric(name) as Counter<string> | undefined) ??
    new Counter({
      name,
      help,
      labelNames,
      registers: metrics ? [metrics] : [],
      collect(this: Counter<string>) {
        for (const counts of reporters.get(this) ?? []) counts.report();
      },
    });
  const counts = new LabelCounts(metric);
  reporters.set(metric, [...(reporters.get(metric) ?? []), counts]);
  return counts;
}
