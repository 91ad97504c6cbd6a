import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openRegistry } from '../../src/registry/index.js';
import { seedReady, tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';

const WORKER = new URL('../helpers/registry-alloc-worker.ts', import.meta.url).pathname;

function runWorker(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('allocation under concurrency (separate processes, one database file)', () => {
  let t: TempRegistry | undefined;
  afterEach(() => t?.cleanup());

  it('8 processes × 500 attempts over 200 ready machines: each machine allocated at most once', async () => {
    t = tempRegistry();
    seedReady(t.registry, 200);
    t.registry.close();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => runWorker(['allocate', t!.dbPath, t!.key.toString('hex'), `owner${i}`, '500'])),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const parsed = results.map((r) => JSON.parse(r.stdout) as { won: string[]; noMatch: number; other: string[] });
    const won = parsed.flatMap((p) => p.won);
    expect(parsed.flatMap((p) => p.other)).toEqual([]);
    expect(won).toHaveLength(200);
    expect(new Set(won).size).toBe(200);
    expect(parsed.reduce((n, p) => n + p.noMatch, 0)).toBe(8 * 500 - 200);

    const registry = openRegistry({ databasePath: t.dbPath, secretKey: t.key });
    try {
      const allocated = registry.machines.list({ state: 'allocated', limit: 1000 });
      expect(allocated).toHaveLength(200);
      // The owner recorded on each machine is the process that won it.
      const winner = new Map(parsed.flatMap((p, i) => p.won.map((id) => [id, `owner${i}`] as const)));
      for (const m of allocated) expect(m.owner).toBe(winner.get(m.id));
    } finally {
      registry.close();
    }
  });

  it('kill -9 mid-churn leaves an intact database and no half-transitioned machine', async () => {
    t = tempRegistry();
    seedReady(t.registry, 20);
    t.registry.close();
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', WORKER, 'churn', t.dbPath, t.key.toString('hex'), 'churner', '1000000'], { stdio: ['ignore', 'pipe', 'pipe'] });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('worker never started')), 60_000);
        child.stdout.once('data', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      // Let it run through many transactions, then kill it without warning.
      await new Promise((r) => setTimeout(r, 300 + round * 200));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    const db = new Database(t.dbPath);
    try {
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      const churned = db.prepare(`SELECT COUNT(*) AS n FROM events WHERE actor = 'churner'`).get() as { n: number };
      expect(churned.n).toBeGreaterThan(0);
      // Every machine's state equals the to_state of its last transition event: state and event were one transaction.
      const rows = db
        .prepare(
          `SELECT m.id, m.state, m.owner, (SELECT to_state FROM events e WHERE e.machine_id = m.id AND e.kind = 'state' ORDER BY e.id DESC LIMIT 1) AS last
           FROM machines m`,
        )
        .all() as Array<{ id: string; state: string; owner: string | null; last: string }>;
      expect(rows).toHaveLength(20);
      for (const row of rows) {
        expect(row.state).toBe(row.last);
        expect(row.owner === null).toBe(row.state === 'ready');
      }
    } finally {
      db.close();
    }
  });
});
