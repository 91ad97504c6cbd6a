import { readdirSync, readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/**
 * The nice value the daemon's background threads run at: V8's compiler and GC helpers, libuv's
 * pool, the WAL checkpoint worker. The socket loop stays at the process's own priority.
 *
 * Why: when the loop hands V8 a job (an optimizing compile, a parallel scavenge, an array-buffer
 * sweep), waking the helper thread preempted the loop on the spot whenever both shared a core (one
 * vCPU, a cgroup limit, a pinned process): under perfdhcp, pinned like the anchors, the loop lost
 * about 6 % of each second and up to 4 ms at a time that way (`perf` sched_switch stacks), and its
 * replies then left in bursts that overflowed the client's queue. At nice 10 a helper no longer
 * preempts the loop: it runs when the loop waits for packets, and still gets about a tenth of a
 * contended core, so compiles and marking finish under a sustained storm. At 11000 DORA/s in the
 * same minutes, exchanges lost fell from 542-1193 to 143-164 per run. The price is paid only when
 * the one core is saturated: helpers then get that tenth, and at 12000 DORA/s on a saturated core
 * the losses rose from 5.7k to 8.5-9k per run (nice 19 was better below saturation and worse at it).
 * On a machine with a free core the helpers run there and nothing changes.
 */
export const BACKGROUND_THREAD_NICE = 10;

export interface ThreadPriorityResult {
  /** Threads moved to the background nice value by this call. */
  lowered: number;
  /** Threads that could not be changed (most often: they exited meanwhile). */
  failed: number;
}

/** The calling thread's kernel id (/proc/thread-self is a link to <pid>/task/<tid>). */
export function currentThreadId(): number {
  return Number(readlinkSync('/proc/thread-self').split('/').pop());
}

/**
 * Lowers every other thread of this process to `nice` (a thread already at or below that
 * priority is left alone: this never raises one). Linux with /proc only; elsewhere it does nothing,
 * and it never throws. New threads inherit the nice value of the thread that starts them, so threads
 * started later by the loop (libuv starts its pool on first use) need another call: see
 * keepOtherThreadsInBackground.
 */
export function lowerOtherThreads(nice = BACKGROUND_THREAD_NICE): ThreadPriorityResult {
  const result = { lowered: 0, failed: 0 };
  if (process.platform !== 'linux') return result;
  let self: number;
  let entries: string[];
  try {
    self = currentThreadId();
    entries = readdirSync('/proc/self/task');
  } catch {
    return result; // no /proc (a bare chroot): every thread keeps the process's priority
  }
  for (const entry of entries) {
    const tid = Number(entry);
    if (!Number.isSafeInteger(tid) || tid === self) continue;
    try {
      if (getPriority(tid) < nice) {
        setPriority(tid, nice);
        result.lowered++;
      }
    } catch {
      result.failed++;
    }
  }
  return result;
}

/** lowerOtherThreads now and every `intervalMs`; returns the function that stops the repeats. */
export function keepOtherThreadsInBackground(intervalMs = 10_000, nice = BACKGROUND_THREAD_NICE): { first: ThreadPriorityResult; stop: () => void } {
  const first = lowerOtherThreads(nice);
  const timer = setInterval(() => lowerOtherThreads(nice), intervalMs);
  timer.unref();
  return { first, stop: () => clearInterval(timer) };
}
