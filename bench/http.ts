/**
 * `npx tsx bench/http.ts` — the boot HTTP static handler against nginx-light, in ONE run of the shared
 * harness (/work/shared/bench/http-bench.sh: 256 MB single GET, 20 concurrent 256 MB GETs, 200 x 1 MiB
 * keep-alive Range GETs, Range correctness + sha256). Prints the harness table and our ratios vs nginx.
 *
 *   npx tsx bench/http.ts                 # REPS=3 by default; env REPS, SIZE_MB, CONC, RANGE_N, HARNESS
 *   npx tsx bench/http.ts serve --root DIR --addr IP --port N [--chunk BYTES]   # what the harness runs
 *
 * Not a test: numbers on this shared 2-core box drift 2-3x between minutes; read the ratios.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/common/logger.js';
import { keepOtherThreadsInBackground } from '../src/common/thread-priority.js';
import { createBootHttpService, createStaticHandler } from '../src/servers/http/index.js';

const here = dirname(fileURLToPath(import.meta.url));

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { root: { type: 'string' }, addr: { type: 'string' }, port: { type: 'string' }, chunk: { type: 'string' } } });
  const root = values.root ?? process.env.BENCH_ROOT;
  if (!root) throw new Error('serve needs --root or BENCH_ROOT');
  const handler = createStaticHandler({ root, logger: silentLogger, chunkBytes: values.chunk ? Number(values.chunk) : undefined });
  const service = createBootHttpService({
    address: values.addr ?? process.env.BENCH_SERVER_IP ?? '127.0.0.1',
    port: Number(values.port ?? process.env.BENCH_PORT ?? 8080),
    logger: silentLogger,
    routes: [{ name: 'bench', prefix: '/', handler }],
  });
  const controller = new AbortController();
  process.once('SIGTERM', () => controller.abort());
  process.once('SIGINT', () => controller.abort());
  const running = await service.start(controller.signal);
  // As main.ts does once its services run (src/common/thread-priority.ts); BENCH_NO_THREAD_NICE=1 skips it to compare.
  const background = process.env.BENCH_NO_THREAD_NICE === '1' ? null : keepOtherThreadsInBackground();
  process.stdout.write(`serving ${root} on ${JSON.stringify(running.describe)}\n`);
  await running.done;
  background?.stop();
}

function runHarness(): number {
  const harness = process.env.HARNESS ?? '/work/shared/bench/http-bench.sh';
  const tsxLoader = resolve(here, '../node_modules/tsx/dist/esm/index.mjs');
  const self = resolve(here, 'http.ts');
  const results = process.env.RESULTS ?? '/tmp/brkht-bench-results';
  const env = {
    ...process.env,
    RESULTS: results,
    CUSTOM_HTTP_CMD: `exec ${process.execPath} --import ${tsxLoader} ${self} serve --root "$BENCH_ROOT" --addr "$BENCH_SERVER_IP" --port "$BENCH_PORT"${process.env.CHUNK ? ` --chunk ${process.env.CHUNK}` : ''}`,
  };
  const run = spawnSync('bash', [harness, 'nginx', 'custom'], { env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  process.stdout.write(run.stdout);
  const tsv = /HTTP results: (\S+)/.exec(run.stdout)?.[1];
  if (tsv) printRatios(readFileSync(tsv, 'utf8'));
  return run.status ?? 1;
}

function printRatios(tsv: string): void {
  const rows = tsv.trim().split('\n').slice(1).map((line) => line.split('\t'));
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  const pick = (server: string, test: string, col: number): number => median(rows.filter((r) => r[0] === server && r[1] === test).map((r) => Number(r[col])));
  const out: string[] = ['', 'ratios custom/nginx (medians):'];
  for (const [test, col, label] of [
    ['single', 6, 'single GET MB/s'],
    ['conc', 6, '20 concurrent aggregate MB/s'],
    ['conc', 8, '20 concurrent p99 s (lower is better)'],
    ['range1M', 10, '1 MiB Range req/s'],
  ] as const) {
    const n = pick('nginx', test, col);
    const c = pick('custom', test, col);
    out.push(`  ${label.padEnd(40)} nginx ${n.toFixed(2)}  custom ${c.toFixed(2)}  ratio ${(c / n).toFixed(2)}x`);
  }
  for (const r of rows.filter((row) => row[1] === 'verify')) out.push(`  verify ${r[0]}: ${r[11] ?? ''}`);
  process.stdout.write(out.join('\n') + '\n');
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'serve') {
  serve(rest).catch((err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  });
} else {
  process.exitCode = runHarness();
}
