// Status polls per second across 10 simulated BMCs (OpenIPMI ipmi_sim on 127.77.9.1-10, VMs off).
//   npx tsx bench/power.ts [seconds-per-mode=5] [--chassis]
// Modes: one ipmipower process per status (sequential, and 4 in flight), and the reconciler's
// batched call (all 10 hosts in one ipmipower -h a,b,...). Not run in CI.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../src/common/logger.js';
import { IpmiDriver } from '../src/power/ipmi/driver.js';
import type { PowerTarget } from '../src/power/types.js';
import { BMC_PASS, BMC_USER, randomBasePort, startBmc, type SimBmc } from '../test/helpers/power-bmc.js';

const seconds = Number(process.argv[2] ?? 5);
// --chassis: BMCs run the QEMU chassis program (a bash popen per status query, as in the tests).
const withChassis = process.argv.includes('--chassis');
const root = mkdtempSync(join(tmpdir(), 'brkpw-bench-'));
const bmcs: SimBmc[] = [];
const driver = new IpmiDriver(
  { ipmipowerPath: 'ipmipower', ipmitoolPath: 'ipmitool', cipherSuite: 3, privilege: 'ADMIN', workarounds: ['opensesspriv'], sessionTimeoutMs: 5000, retransmissionTimeoutMs: 1000, commandTimeoutMs: 10_000, netns: '' },
  silentLogger,
);

async function mode(name: string, pollsPerRound: number, round: () => Promise<number>): Promise<void> {
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let polls = 0;
  let errors = 0;
  const latencies: number[] = [];
  while (performance.now() < deadline) {
    const t = performance.now();
    errors += await round();
    latencies.push(performance.now() - t);
    polls += pollsPerRound;
  }
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const p = (q: number): string => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(1);
  console.log(`${name.padEnd(44)} ${(polls / elapsed).toFixed(1).padStart(7)} polls/s  (${polls} polls, ${errors} errors, round p50 ${p(0.5)} ms, p99 ${p(0.99)} ms)`);
}

try {
  const base = randomBasePort();
  for (let i = 0; i < 10; i++) bmcs.push(await startBmc({ root, index: 40 + i, host: `127.77.9.${i + 1}`, port: base + i * 10, noChassis: !withChassis }));
  const targets: PowerTarget[] = bmcs.map((b, i) => ({ machineId: `bench${i}`, address: b.host, credentials: { username: BMC_USER, password: BMC_PASS }, options: { port: b.port } }));
  const os = await import('node:os');
  console.log(`10 ipmi_sim BMCs (${withChassis ? 'chassis program per query' : 'status answered by ipmi_sim itself'}), ${seconds} s per mode, ${os.cpus().length} CPUs, load average ${os.loadavg()[0]!.toFixed(2)}`);
  let next = 0;
  const one = async (): Promise<number> => {
    const t = targets[next++ % targets.length]!;
    try {
      await driver.status(t);
      return 0;
    } catch {
      return 1;
    }
  };
  await mode('one ipmipower per poll, sequential', 1, one);
  await mode('one ipmipower per poll, 4 in flight', 4, async () => (await Promise.all([one(), one(), one(), one()])).reduce((a, b) => a + b, 0));
  await mode('batched: 10 hosts per ipmipower (reconciler)', 10, async () => {
    const r = await driver.statusMany(targets);
    return [...r.values()].filter((v) => v instanceof Error).length;
  });
} finally {
  for (const b of bmcs) await b.stop();
  rmSync(root, { recursive: true, force: true });
}
