import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lldpNeighbours } from '../../src/api/routes/agent.js';
import { factsRequest } from '../../src/api/schemas.js';
import { memoryLogger, type LogRecord } from '../../src/common/logger.js';
import { requirePeerTools, startLldpSwitch, type LldpSwitch } from '../helpers/image-peers.js';
import { AGENT_DIR, PROBE_FILE } from '../helpers/image-shared.js';

// The discovery agent's LLDP path without a VM, against a real sender: Debian's lldpd runs on a
// bridge in namespace brkds-sw; a veth port of that bridge leads into namespace brkds-host, where
// the real native probe (native/build/bootrack-probe, `npm run build`) listens as the discovery
// OS would. The agent's facts.sh turns the probe's output into the POST body, the API schema
// accepts it, and the appliance's decoder yields the neighbour lldpd says it is.

const SW = 'brkds-sw';
const HOST = 'brkds-host';
const NAME = 'brkds-probe-switch';
let work: string;
let sw: LldpSwitch;
const children: ChildProcess[] = [];
let busybox: string;
let bbPath: string;

const ip = (...args: string[]): void => void execFileSync('ip', args, { stdio: 'pipe' });
function cleanupNs(): void {
  for (const ns of [SW, HOST]) {
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '';
    for (const pid of pids.split('\n').filter(Boolean)) spawnSync('kill', ['-9', pid]);
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

/** The probe in the host namespace, bounded: the window plus 10 s of grace, then SIGKILL. */
function probe(args: string[], windowS: number): { status: number | null; stdout: string; stderr: string; ms: number } {
  const t0 = Date.now();
  const r = spawnSync('ip', ['netns', 'exec', HOST, PROBE_FILE, ...args], { encoding: 'utf8', timeout: (windowS + 10) * 1000, killSignal: 'SIGKILL' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t0 };
}

beforeAll(async () => {
  requirePeerTools();
  if (!existsSync(PROBE_FILE)) throw new Error(`${PROBE_FILE} is missing: run \`npm run build\``);
  busybox = execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
  work = mkdtempSync(join(tmpdir(), 'brkds-probe-'));
  bbPath = join(work, 'bin');
  mkdirSync(bbPath);
  for (const applet of execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean)) symlinkSync(busybox, join(bbPath, applet));
  cleanupNs();
  ip('netns', 'add', SW);
  ip('netns', 'add', HOST);
  ip('-n', SW, 'link', 'set', 'lo', 'up');
  ip('-n', SW, 'link', 'add', 'brkdsbr0', 'type', 'bridge');
  ip('-n', SW, 'link', 'set', 'brkdsbr0', 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
  ip('-n', SW, 'addr', 'add', '10.251.0.1/24', 'dev', 'brkdsbr0');
  ip('-n', SW, 'link', 'add', 'brkdsp0', 'type', 'veth', 'peer', 'name', 'brkdsn0', 'netns', HOST);
  ip('-n', SW, 'link', 'set', 'brkdsp0', 'master', 'brkdsbr0');
  ip('-n', SW, 'link', 'set', 'brkdsp0', 'up');
  ip('-n', SW, 'link', 'set', 'brkdsbr0', 'up');
  ip('-n', HOST, 'link', 'set', 'brkdsn0', 'up');
  ip('-n', HOST, 'link', 'add', 'brkdsq0', 'type', 'veth', 'peer', 'name', 'brkdsq1');
  ip('-n', HOST, 'link', 'set', 'brkdsq0', 'up');
  ip('-n', HOST, 'link', 'set', 'brkdsq1', 'up');
  const ctx = {
    ns: SW,
    work,
    spawn: (args: string[], logName: string): ChildProcess => {
      const fd = openSync(join(work, logName), 'a');
      const c = spawn('ip', ['netns', 'exec', SW, ...args], { detached: true, stdio: ['ignore', fd, fd] });
      closeSync(fd);
      children.push(c);
      return c;
    },
  };
  sw = await startLldpSwitch(ctx, 'brkdsbr0', NAME);
}, 60_000);

afterAll(async () => {
  for (const c of children) {
    if (c.pid && c.exitCode === null) {
      try {
        process.kill(-c.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
  }
  await new Promise((r) => setTimeout(r, 500));
  for (const c of children) {
    if (c.pid && c.exitCode === null) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  cleanupNs();
  sw?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
}, 30_000);

describe('bootrack-probe lldp against Debian lldpd, through a bridge port', () => {
  it('prints the distinct LLDPDUs received in the window as hex; facts.sh posts them; the appliance decodes lldpd’s own identity', () => {
    const r = probe(['lldp', 'brkdsn0', '3'], 3);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThanOrEqual(1);
    // lldpd sends the same LLDPDU every second: printed once
    expect(new Set(lines).size).toBe(lines.length);
    for (const l of lines) expect(l).toMatch(/^([0-9a-f]{2})+$/);

    // the agent's side: probe output in $PROBE_RUN/lldp/<iface> → the lldpFrames JSON of the POST body
    const run = join(work, 'run');
    mkdirSync(join(run, 'lldp'), { recursive: true });
    writeFileSync(join(run, 'lldp', 'eth0'), r.stdout);
    writeFileSync(join(run, 'lldp', 'eth0.err'), 'bootrack-probe lldp: an error line that is not a frame\n');
    writeFileSync(join(run, 'lldp', 'eth1'), '');
    const body = execFileSync(busybox, ['sh', '-c', `. '${AGENT_DIR}/lib.sh'; . '${AGENT_DIR}/facts.sh'; collect_facts 52:54:00:12:34:56`], { encoding: 'utf8', env: { PATH: bbPath, PROBE_RUN: run } });
    const parsed = factsRequest.safeParse(JSON.parse(body));
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(parsed.data!.facts.lldpFrames).toEqual({ eth0: lines, eth1: [] });

    const logs: LogRecord[] = [];
    const neighbours = lldpNeighbours(parsed.data!.facts.lldpFrames!, memoryLogger(logs));
    expect(logs).toEqual([]);
    expect(neighbours).toEqual([
      expect.objectContaining({ interface: 'eth0', systemName: NAME, systemDescription: sw.systemDescription, chassisId: sw.chassisId, portId: sw.portId, portDescription: 'brkdsbr0', managementAddresses: expect.arrayContaining(['10.251.0.1']) }),
    ]);
  });

  it('an interface with no LLDP sender: exit 0, no output, after the window (bounded)', () => {
    const r = probe(['lldp', 'brkdsq0', '2'], 2);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.ms).toBeGreaterThanOrEqual(1900);
  });

  it('bad arguments and a missing interface are clear errors with distinct exit codes', () => {
    expect(probe(['lldp', 'brkdsn0', '0'], 1)).toMatchObject({ status: 2, stderr: expect.stringContaining('seconds must be 1..600') });
    expect(probe(['lldp', 'brkdsn0', 'x'], 1)).toMatchObject({ status: 2 });
    expect(probe(['lldp', 'nope0', '1'], 1)).toMatchObject({ status: 3, stderr: expect.stringContaining("no interface 'nope0'") });
    expect(probe(['frobnicate'], 1)).toMatchObject({ status: 2, stderr: expect.stringContaining('usage: bootrack-probe') });
  });
});

describe('facts.sh bmc: the probe’s bmc-lan output → facts.bmc', () => {
  const bmcFacts = (out: string | null): unknown => {
    const run = join(work, `bmc-${Math.random().toString(16).slice(2)}`);
    mkdirSync(join(run, 'lldp'), { recursive: true });
    if (out !== null) writeFileSync(join(run, 'bmc'), out);
    return JSON.parse(execFileSync(busybox, ['sh', '-c', `. '${AGENT_DIR}/lib.sh'; . '${AGENT_DIR}/facts.sh'; facts_bmc`], { encoding: 'utf8', env: { PATH: bbPath, PROBE_RUN: run } }));
  };
  it('address and MAC when the BMC answered; null when it did not, or its address is unset', () => {
    expect(bmcFacts('channel=1\nip=10.231.0.77\nmac=02:42:e2:e0:07:77\n')).toEqual({ address: '10.231.0.77', mac: '02:42:e2:e0:07:77' });
    expect(bmcFacts('channel=2\nip=192.0.2.9\n')).toEqual({ address: '192.0.2.9' });
    expect(bmcFacts('channel=1\nip=0.0.0.0\nmac=00:00:00:00:00:00\n')).toBeNull();
    expect(bmcFacts(null)).toBeNull();
  });
});
