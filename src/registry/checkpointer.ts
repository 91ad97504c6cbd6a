import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Db } from './db.js';

/**
 * WAL checkpoints off the event loop. SQLite's automatic checkpoint runs inside whichever commit
 * crosses the threshold (1000 pages) and, with synchronous=NORMAL, fsyncs the WAL and then the
 * database file there: the daemon's one thread stalls for the length of two fsyncs while packets
 * queue. Here a worker thread with its own connection runs PASSIVE checkpoints on a timer (a
 * PASSIVE checkpoint never waits for or blocks the writer), and the daemon's connection no longer
 * checkpoints at all. If the worker cannot start or dies, the daemon's connection goes back to
 * automatic checkpoints, so the WAL never grows without bound.
 *
 * The worker is inline source (not a module file) so it runs the same under tsx, vitest and the
 * built daemon; it loads the same better-sqlite3 the registry does.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
let db;
try {
  db = new Database(workerData.path, { fileMustExist: true });
  db.pragma('busy_timeout = 1000');
  db.pragma('synchronous = NORMAL');
} catch (err) {
  parentPort.postMessage({ fatal: String(err && err.message || err) });
  process.exit(1);
}
let failures = 0;
const checkpoint = () => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    failures = 0;
    return r;
  } catch (err) {
    if (++failures === 1) parentPort.postMessage({ error: String(err && err.message || err) });
    return null;
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m === 'checkpoint') parentPort.postMessage({ checkpointed: checkpoint() });
  if (m === 'stop') {
    clearInterval(timer);
    checkpoint();
    db.close();
    parentPort.close();
  }
});
`;

const AUTOCHECKPOINT_PAGES = 1000;

export interface CheckpointerOptions {
  /** How often the worker checkpoints; default 250 ms. */
  intervalMs?: number;
  /** Told when the worker fails (checkpoints are then back on the daemon's connection). */
  onError?: (err: Error) => void;
}

export interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

export class BackgroundCheckpointer {
  readonly #db: Db;
  readonly #worker: Worker;
  readonly #onError: (err: Error) => void;
  #stopped = false;
  #pending: Array<(r: CheckpointResult | null) => void> = [];

  private constructor(db: Db, worker: Worker, onError: (err: Error) => void) {
    this.#db = db;
    this.#worker = worker;
    this.#onError = onError;
  }

  /** Starts the worker for `db` (a file database in WAL mode) and turns off its automatic checkpoints. */
  static start(db: Db, options: CheckpointerOptions = {}): BackgroundCheckpointer {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { driver, path: db.name, intervalMs: options.intervalMs ?? 250 } });
    worker.unref();
    const checkpointer = new BackgroundCheckpointer(db, worker, options.onError ?? (() => {}));
    db.pragma('wal_autocheckpoint = 0');
    worker.on('message', (m: { fatal?: string; error?: string; checkpointed?: CheckpointResult | null }) => {
      if (m.fatal !== undefined) checkpointer.#fallBack(new Error(`the checkpoint worker cannot open ${db.name}: ${m.fatal}`));
      if (m.error !== undefined) checkpointer.#onError(new Error(`background checkpoint failed: ${m.error}`));
      if ('checkpointed' in m) checkpointer.#pending.shift()?.(m.checkpointed ?? null);
    });
    // An error thrown in the worker arrives structured-cloned (a SqliteError loses its class).
    worker.on('error', (err: unknown) => {
      const message = (err as { message?: unknown } | null)?.message;
      checkpointer.#fallBack(new Error(`the checkpoint worker failed: ${typeof message === 'string' ? message : String(err)}`));
    });
    worker.on('exit', (code) => {
      if (!checkpointer.#stopped) checkpointer.#fallBack(new Error(`the checkpoint worker exited (code ${code})`));
    });
    return checkpointer;
  }

  /** One checkpoint now, in the worker (tests, and callers that want the WAL folded back). */
  checkpoint(): Promise<CheckpointResult | null> {
    if (this.#stopped) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.#pending.push(resolve);
      this.#worker.postMessage('checkpoint');
    });
  }

  /** Stops the worker after a last checkpoint; the daemon's connection checkpoints by itself again. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#restoreAutocheckpoint();
    this.#worker.postMessage('stop');
    for (const resolve of this.#pending.splice(0)) resolve(null);
  }

  #fallBack(err: Error): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#restoreAutocheckpoint();
    for (const resolve of this.#pending.splice(0)) resolve(null);
    this.#onError(err);
  }

  #restoreAutocheckpoint(): void {
    if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
  }
}
