/**
 * `npm run bench:tftp` (tsx bench/tftp.ts): bootrack's TFTP server against tftpd-hpa and dnsmasq in ONE
 * run of the shared harness (../shared/bench/tftp-bench.sh, two private namespaces, server on CPU 0,
 * clients on CPU 1), then the headline numbers printed as ratios (the box is noisy: only ratios taken
 * inside one run mean anything).
 *
 * Knobs (env): BENCH_DIR (harness dir, default /work/shared/bench), REPS (1), CLIENTS ("atftp"),
 * STORM_REPS (1), STORM_BIG_N (0: the 64 MiB storms are left out), PHASES ("caps single storm netem"),
 * RESULTS (/tmp/bootrack-bench-tftp), TFTPD_ARGS (extra bench/tftpd.ts flags, e.g. "--busy-poll-us 0"). On a quiet box use REPS=3 CLIENTS="curl atftp" (the default
 * keeps one run within ~15 min on a loaded 2-core box).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const BENCH_DIR = process.env.BENCH_DIR ?? '/work/shared/bench';
const RESULTS = process.env.RESULTS ?? '/tmp/bootrack-bench-tftp';
mkdirSync(RESULTS, { recursive: true });

// Warm tsx's transform cache so the daemon binds udp/69 well within the harness's 10 s.
spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'tftpd.ts')], { cwd: REPO, stdio: 'ignore' });

const env = {
  ...process.env,
  PHASES: process.env.PHASES ?? 'caps single storm netem',
  REPS: process.env.REPS ?? '1',
  CLIENTS: process.env.CLIENTS ?? 'atftp',
  BLKSIZES: process.env.BLKSIZES ?? '1468',
  SMALL_BLKSIZES: process.env.SMALL_BLKSIZES ?? '1468',
  WINDOWS: process.env.WINDOWS ?? '1 16',
  STORM_REPS: process.env.STORM_REPS ?? '1',
  STORM_SMALL_N: process.env.STORM_SMALL_N ?? '50',
  STORM_BIG_N: process.env.STORM_BIG_N ?? '0',
  NETEM: process.env.NETEM ?? 'loss 1%',
  NETEM_BIG_MAXT: process.env.NETEM_BIG_MAXT ?? '10',
  RESULTS,
  CUSTOM_TFTP_CMD: `cd ${REPO} && exec ${process.execPath} --import tsx bench/tftpd.ts --root "$BENCH_ROOT" --addr "$BENCH_SERVER_IP" --port 69 --log error ${process.env.TFTPD_ARGS ?? ''}`,
};

const child = spawn('bash', [join(BENCH_DIR, 'tftp-bench.sh'), 'tftpd-hpa', 'dnsmasq', 'custom'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
let stdout = '';
child.stdout.on('data', (d: Buffer) => {
  stdout += d.toString();
  process.stdout.write(d);
});
const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
const tsvPath = /TFTP results: (\S+)/.exec(stdout)?.[1];
if (code !== 0 || !tsvPath) {
  process.stderr.write(`tftp-bench.sh failed (exit ${code})\n`);
  process.exit(1);
}

interface Row {
  server: string;
  phase: string;
  client: string;
  file: string;
  blksize: number;
  window: number;
  ok: number;
  seconds: number;
  mbps: number;
  n: number;
  p50: number;
  p99: number;
  verified: number;
}
const rows: Row[] = readFileSync(tsvPath, 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => l.split('\t'))
  .map((f) => ({
    server: f[0]!,
    phase: f[1]!,
    client: f[2]!,
    file: f[3]!,
    blksize: Number(f[4]),
    window: Number(f[5]),
    ok: Number(f[7]),
    seconds: Number(f[8]),
    mbps: Number(f[9]),
    n: Number(f[10]),
    p50: Number(f[11]),
    p99: Number(f[12]),
    verified: Number(f[14]),
  }));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** Median MB/s of verified single transfers. */
const single = (server: string, client: string, file: string, window = 1): number =>
  median(rows.filter((r) => r.phase === 'single' && r.server === server && r.client === client && r.file === file && r.blksize === 1468 && r.window === window && r.ok === 1).map((r) => r.mbps));
const storm = (server: string, phase: 'storm' | 'netem', file = 'f1m'): Row | undefined => {
  const rs = rows.filter((r) => r.phase === phase && r.server === server && r.file === file);
  if (rs.length === 0) return undefined;
  return { ...rs[0]!, p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), seconds: median(rs.map((r) => r.seconds)), verified: Math.min(...rs.map((r) => r.verified)) };
};

const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const lines: string[] = [];
const ratio = (label: string, ours: number, anchor: number, anchorName: string, target: string, higherIsBetter = true): void => {
  if (!Number.isFinite(ours) && !Number.isFinite(anchor)) return; // that client/phase was not run
  const r = ours / anchor;
  const ok = higherIsBetter ? r >= Number(target.slice(2, -1)) : r <= Number(target.slice(2, -1));
  lines.push(`${label.padEnd(52)} ours ${fmt(ours).padStart(8)}  ${anchorName} ${fmt(anchor).padStart(8)}  ratio ${fmt(r)}x  target ${target} ${Number.isFinite(r) ? (ok ? 'MET' : 'missed') : ''}`);
};

for (const c of ['curl', 'atftp']) {
  ratio(`T1 1 MiB single, ${c} blksize 1468 (MB/s)`, single('custom', c, 'f1m'), Math.max(single('tftpd-hpa', c, 'f1m'), single('dnsmasq', c, 'f1m')), 'best  ', '>=1.0x');
}
ratio('T2 64 MiB single, curl blksize 1468 (MB/s)', single('custom', 'curl', 'f64m'), single('tftpd-hpa', 'curl', 'f64m'), 'hpa   ', '>=1.0x');
ratio('T2 64 MiB single, atftp blksize 1468 (MB/s)', single('custom', 'atftp', 'f64m'), single('tftpd-hpa', 'atftp', 'f64m'), 'hpa   ', '>=1.0x');
ratio('T3 64 MiB atftp 1468 x windowsize 16 vs hpa lock-step', single('custom', 'atftp', 'f64m', 16), single('tftpd-hpa', 'atftp', 'f64m'), 'hpa   ', '>=2.0x');
for (const anchor of ['tftpd-hpa', 'dnsmasq']) {
  const ours = storm('custom', 'storm');
  const theirs = storm(anchor, 'storm');
  if (ours && theirs) {
    ratio(`T4 storm 50 x 1 MiB, p50 s (vs ${anchor})`, ours.p50, theirs.p50, anchor.slice(0, 6).padEnd(6), '<=1.0x', false);
    ratio(`T4 storm 50 x 1 MiB, p99 s (vs ${anchor})`, ours.p99, theirs.p99, anchor.slice(0, 6).padEnd(6), '<=1.0x', false);
  }
  const ol = storm('custom', 'netem');
  const tl = storm(anchor, 'netem');
  if (ol && tl) {
    ratio(`T6 storm 50 x 1 MiB, 1% loss, p50 s (vs ${anchor})`, ol.p50, tl.p50, anchor.slice(0, 6).padEnd(6), '<=1.0x', false);
    ratio(`T6 storm 50 x 1 MiB, 1% loss, p99 s (vs ${anchor})`, ol.p99, tl.p99, anchor.slice(0, 6).padEnd(6), '<=0.5x', false);
  }
}
const verified = ['storm', 'netem'].flatMap((ph) => ['tftpd-hpa', 'dnsmasq', 'custom'].map((s) => [ph, s, storm(s, ph as 'storm' | 'netem')] as const));
process.stdout.write(`\n== bootrack TFTP vs anchors (same run; ${tsvPath})\n${lines.join('\n')}\n`);
process.stdout.write(
  `storm sha256 verified (f1m): ${verified.map(([ph, s, r]) => `${ph}/${s} ${r ? `${r.verified}/${r.n}` : '-'}`).join(', ')}\n`,
);
