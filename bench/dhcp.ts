/**
 * `npm run bench:dhcp` (tsx bench/dhcp.ts): perfdhcp DORA against Kea (memfile, persist on), dnsmasq
 * (lease file on disk) and bootrack (leases in SQLite) in ONE run of ../shared/bench/dhcp-bench.sh
 * (two private namespaces, server on CPU 0, perfdhcp on CPU 1, relay mode). Prints the maximum rate
 * at <= 1 % lost exchanges as ratios against Kea; target: bootrack >= 1.0x Kea.
 *
 * Knobs (env): BENCH_DIR (/work/shared/bench), SERVERS ("kea dnsmasq custom"), PERIOD (5), REPS (1),
 * BISECT_STEPS (3), RATE_START (250), RESULTS (/tmp/bootrack-bench-dhcp).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const BENCH_DIR = process.env.BENCH_DIR ?? '/work/shared/bench';
const RESULTS = process.env.RESULTS ?? '/tmp/bootrack-bench-dhcp';
mkdirSync(RESULTS, { recursive: true });
// Warm tsx's transform cache so the daemon binds udp/67 well within the harness's 10 s.
spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'dhcpd.ts')], { cwd: REPO, stdio: 'ignore' });

const servers = (process.env.SERVERS ?? 'kea dnsmasq custom').split(/\s+/).filter(Boolean);
const env = {
  ...process.env,
  PERIOD: process.env.PERIOD ?? '5',
  REPS: process.env.REPS ?? '1',
  BISECT_STEPS: process.env.BISECT_STEPS ?? '3',
  RESULTS,
  CUSTOM_DHCP_CMD: `cd ${REPO} && exec ${process.execPath} --import tsx bench/dhcpd.ts`,
};
const child = spawn('bash', [join(BENCH_DIR, 'dhcp-bench.sh'), ...servers], { env, stdio: ['ignore', 'pipe', 'inherit'] });
let stdout = '';
child.stdout.on('data', (d: Buffer) => {
  stdout += d.toString();
  process.stdout.write(d);
});
const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
const tsvPath = /DHCP results \((\S+)\)/.exec(stdout)?.[1];
if (code !== 0 || !tsvPath) {
  process.stderr.write(`dhcp-bench.sh failed (exit ${code})\n`);
  process.exit(1);
}
const rows = readFileSync(tsvPath, 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
/** Highest offered rate that passed (<= 1 % drops) in the sweep, and the confirmed DORA/s median. */
const maxRate = (s: string): number => Math.max(0, ...rows.filter((r) => r[0] === s && r[1] === 'sweep' && Number(r[7]) <= 1 && Number(r[4]) >= 0.9 * Number(r[2]) * Number(r[3])).map((r) => Number(r[2])));
const confirmed = (s: string): number => median(rows.filter((r) => r[0] === s && r[1] === 'confirm').map((r) => Number(r[6])));
const name = (s: string) => (s === 'custom' ? 'bootrack' : s);
const kea = maxRate('kea');
const lines = servers.map((s) => {
  const m = maxRate(s);
  const shown = m > 0 ? String(m) : `<${process.env.RATE_START ?? 250}`;
  return `${name(s).padEnd(10)} max rate ${shown.padStart(6)}/s  confirmed ${confirmed(s).toFixed(0).padStart(6)} DORA/s  ratio vs kea ${m > 0 ? (m / kea).toFixed(2) : '<' + (Number(process.env.RATE_START ?? 250) / kea).toFixed(2)}x`;
});
const ours = maxRate('custom') / kea;
process.stdout.write(`\n== bootrack DHCP vs anchors (same run; ${tsvPath})\n${lines.join('\n')}\ntarget bootrack >= 1.0x kea (leases persisted): ${Number.isFinite(ours) ? (ours >= 1 ? 'MET' : 'missed') : 'n/a'} (${ours.toFixed(2)}x)\n`);
