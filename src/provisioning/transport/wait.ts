import { BootrackError, isBootrackError } from '../../common/errors.js';
import type { ActionHandler } from '../action-handler.js';
import type { Transport } from './transport.js';

export interface WaitForSshOptions {
  /** Total budget, counted from THIS call (never from a stored start time: CP#269's 0.01 s waits). */
  timeoutMs: number;
  ah: ActionHandler;
  /** Pause between attempts (default 2 s). */
  intervalMs?: number;
  /** Bound on one attempt (default 10 s, never beyond the deadline). */
  attemptTimeoutMs?: number;
  signal?: AbortSignal;
  /** Monotonic milliseconds; injectable for tests. */
  now?: () => number;
  /**
   * For progress lines only: when this wait is the tail of a longer step (readyMachine), show time
   * since that step started against its whole budget ("42 s / 600 s"), not just this wait's.
   */
  progressBase?: { start: number; totalMs: number };
  /** Report progress at most this often (default 10 s; the first failed attempt reports at once). */
  progressEveryMs?: number;
}

const monotonic = (): number => performance.now();

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Waits until `transport.isAvailable()` (connect + run `true`) succeeds, reporting progress as
 * "waiting for SSH 42 s / 600 s". Throws TIMEOUT naming the endpoint and the last error at the
 * deadline, HOST_KEY_MISMATCH at once (waiting will not change the key). Bounded in time and count.
 */
export async function waitForSsh(transport: Transport, options: WaitForSshOptions): Promise<void> {
  const now = options.now ?? monotonic;
  const start = now();
  const deadline = start + options.timeoutMs;
  const interval = Math.max(10, options.intervalMs ?? 2000);
  const maxAttempts = Math.ceil(options.timeoutMs / interval) + 2;
  let lastReport = start;
  let telling: Error | undefined;
  const total = Math.round(options.timeoutMs / 1000);
  const shownStart = options.progressBase?.start ?? start;
  const shownTotal = Math.round((options.progressBase?.totalMs ?? options.timeoutMs) / 1000);
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    if (options.signal?.aborted) throw new BootrackError('TIMEOUT', `waiting for SSH on ${transport.endpoint} was aborted`, { endpoint: transport.endpoint });
    const remaining = deadline - now();
    if (remaining <= 0) break;
    const ok = await transport.isAvailable({ timeoutMs: Math.max(1, Math.min(remaining, options.attemptTimeoutMs ?? 10_000)) });
    if (ok) return;
    // Keep the most telling error: a last attempt cut short by the deadline only says "timed out".
    if (transport.lastError && !(isBootrackError(transport.lastError, 'TIMEOUT') && telling)) telling = transport.lastError;
    if (attempt === 1 || now() - lastReport >= (options.progressEveryMs ?? 10_000)) {
      lastReport = now();
      options.ah.reportProgress(`waiting for SSH ${Math.round((lastReport - shownStart) / 1000)} s / ${shownTotal} s`);
    }
    const left = deadline - now();
    if (left <= 0) break;
    await sleep(Math.min(interval, left), options.signal);
  }
  const last = telling ?? transport.lastError;
  throw new BootrackError(
    'TIMEOUT',
    `SSH on ${transport.endpoint} did not come up within ${total} s${last ? ` (last error: ${last.message})` : ''}`,
    { endpoint: transport.endpoint, timeoutMs: options.timeoutMs, lastError: last?.message },
  );
}
