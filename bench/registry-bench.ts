// `npm run bench`: allocate+release throughput and latency with 10k machines registered, on a real
// SQLite file (WAL). A benchmark, not a test: it prints numbers and asserts nothing.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openRegistry } from '../src/registry/index.js';
import { seedReady } from '../test/helpers/registry-fixtures.js';

const MACHINES = Number(process.env.BENCH_MACHINES ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5_000);
const dir = mkdtempSync(join(tmpdir(), 'bootrack-bench-'));
const registry = openRegistry({ databasePath: join(dir, 'bench.db'), secretKey: randomBytes(32) });
const actor = { actor: 'bench' };

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function run(label: string, constraints: Parameters<typeof registry.allocations.allocate>[0]['constraints']): void {
  const lat: number[] = [];
  const start = performance.now();
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = performance.now();
    const { machine } = registry.allocations.allocate({ constraints, owner: 'bench', requestKey: `k${i}` }, actor);
    registry.allocations.release(machine.id, 'bench', actor);
    lat.push(performance.now() - t0);
  }
  const seconds = (performance.now() - start) / 1000;
  lat.sort((a, b) => a - b);
  console.log(
    `${label.padEnd(34)} ${(ROUNDS / seconds).toFixed(0).padStart(6)} allocate+release/s   p50 ${percentile(lat, 50).toFixed(3)} ms   p99 ${percentile(lat, 99).toFixed(3)} ms   max ${lat.at(-1)!.toFixed(3)} ms`,
  );
}

try {
  const t0 = performance.now();
  seedReady(registry, MACHINES);
  console.log(`registered ${MACHINES} ready machines in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  run('no constraints', {});
  run('arch + tag + min CPUs', { arch: 'arm64', tags: ['odd'], minCpus: 5 });
  run('by MAC', { mac: '52:54:00:00:13:88' });
  run('min memory + not-tag', { minMemoryMib: 8192, notTags: ['even'] });
  const rss = process.memoryUsage().rss / 1024 / 1024;
  console.log(`process RSS ${rss.toFixed(1)} MiB; events written ${registry.events.list({ limit: 1 })[0]?.id ?? 0}`);
} finally {
  registry.close();
  rmSync(dir, { recursive: true, force: true });
}
