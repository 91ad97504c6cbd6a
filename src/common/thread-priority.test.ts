import { getPriority, setPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { currentThreadId, lowerOtherThreads } from './thread-priority.js';

// A real thread of this process: it reports its kernel thread id and waits until terminated.
const THREAD_SOURCE = `
const { parentPort } = require('node:worker_threads');
parentPort.postMessage(Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop()));
setInterval(() => {}, 1 << 30);
`;

async function startThread(): Promise<{ worker: Worker; tid: number }> {
  const worker = new Worker(THREAD_SOURCE, { eval: true });
  const tid = await new Promise<number>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  return { worker, tid };
}

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});

describe.runIf(process.platform === 'linux')('lowerOtherThreads', () => {
  it('moves the other threads of the process to the background nice value and leaves the calling thread alone', async () => {
    const { worker, tid } = await startThread();
    workers.push(worker);
    const self = currentThreadId();
    const before = getPriority(self);
    expect(tid).not.toBe(self);

    const result = lowerOtherThreads(10);

    expect(getPriority(tid)).toBeGreaterThanOrEqual(10);
    expect(getPriority(self)).toBe(before);
    expect(result.lowered).toBeGreaterThanOrEqual(1); // at least the new thread, which started at the loop's priority
    // A second call finds nothing left to lower.
    expect(lowerOtherThreads(10).lowered).toBe(0);
  });

  it('never raises a thread that already runs at a lower priority', async () => {
    const { worker, tid } = await startThread();
    workers.push(worker);
    setPriority(tid, 15);
    lowerOtherThreads(10);
    expect(getPriority(tid)).toBe(15);
  });
});
