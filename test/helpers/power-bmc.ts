import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Real IPMI BMCs for the power tests: OpenIPMI ipmi_sim speaking RMCP/RMCP+ on a loopback
 * address, its chassis_control program (test/power/fixtures/bmc-chassis.sh) starting, stopping and
 * resetting a real diskless QEMU process (TCG, 1 vCPU, 64 MB). Recipe and pitfalls:
 * /work/shared/lab/ipmi/README.md.
 */
export const BMC_USER = 'admin';
export const BMC_PASS = 'Pw-bmc-s3cret-7f3a';
const CHASSIS = resolve(import.meta.dirname, '../power/fixtures/bmc-chassis.sh');

export interface SimBmc {
  index: number;
  host: string;
  port: number;
  dir: string;
  sim: ChildProcess;
  vmName: string;
  /** Live QEMU pid (the VM is "on"), or null. */
  vmPid(): number | null;
  chassisLog(): string;
  bootdev(): string | null;
  serial(): string;
  stop(): Promise<void>;
}

export function requireTools(...tools: string[]): void {
  for (const tool of tools) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`]);
    if (r.status !== 0) throw new Error(`${tool} is not installed: run scripts/install-deps.sh (packages openipmi, freeipmi-tools, ipmitool, qemu-system-x86, tcpdump)`);
  }
}

/** Starts ipmi_sim on host:port (UDP) with VM-codec port+1 and QMP port+2 on 127.0.0.1. */
export async function startBmc(opts: { root: string; index: number; host: string; port: number; netns?: string; noChassis?: boolean }): Promise<SimBmc> {
  const { index, host, port } = opts;
  const dir = join(opts.root, `bmc${index}`);
  mkdirSync(join(dir, 'state'), { recursive: true });
  const vmName = `brkpw-vm${index}-${port}`;
  writeFileSync(join(dir, 'vm.env'), `VM_NAME=${vmName}\nSERPORT=${port + 1}\nQMPPORT=${port + 2}\nMAC=52:54:00:be:ef:${index.toString(16).padStart(2, '0')}\nMEM=64\n`);
  const guid = `a1b2c3d4e5f60718293a4b5c6d7e${index.toString(16).padStart(4, '0')}`;
  writeFileSync(
    join(dir, 'lan.conf'),
    [
      `name "brkpw${index}"`,
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr ${host} ${port}`,
      '    priv_limit admin',
      '    allowed_auths_callback md5',
      '    allowed_auths_user md5',
      '    allowed_auths_operator md5',
      '    allowed_auths_admin md5',
      `    guid ${guid}`,
      '  endlan',
      `  serial 15 127.0.0.1 ${port + 1} codec VM`,
      // noChassis: ipmi_sim answers power status itself (always off), no program spawned per query (benchmarks).
      opts.noChassis ? '' : `  chassis_control "${CHASSIS} ${dir}"`,
      `  user 2 true "${BMC_USER}" "${BMC_PASS}" admin 10 md5`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'bmc.emu'), ['mc_setbmc 0x20', 'mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02', 'sel_enable 0x20 1000 0x0a', 'mc_enable 0x20', ''].join('\n'));
  const cmd = ['ipmi_sim', '-c', join(dir, 'lan.conf'), '-f', join(dir, 'bmc.emu'), '-s', join(dir, 'state'), '-n'];
  const argv = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...cmd] : cmd;
  const sim = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore', detached: true });
  // ipmi_sim binds before it is ready; wait for the UDP socket (bounded).
  const ssArgs = ['-Hlun', `sport = :${port}`];
  for (let i = 0; i < 50; i++) {
    const r = opts.netns ? spawnSync('ip', ['netns', 'exec', opts.netns, 'ss', ...ssArgs]) : spawnSync('ss', ssArgs);
    if (r.stdout.toString().includes(`${host}:${port}`)) break;
    if (i === 49) throw new Error(`ipmi_sim did not bind ${host}:${port}`);
    await sleep(100);
  }
  const vmPid = (): number | null => {
    try {
      const pid = Number(readFileSync(join(dir, 'qemu.pid'), 'utf8').trim());
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const stopping = existsSync(join(dir, 'stopping')) ? readFileSync(join(dir, 'stopping'), 'utf8').trim() : '';
      return cmdline.includes(vmName) && stopping !== String(pid) ? pid : null;
    } catch {
      return null;
    }
  };
  return {
    index,
    host,
    port,
    dir,
    sim,
    vmName,
    vmPid,
    chassisLog: () => readOr(join(dir, 'chassis.log')),
    bootdev: () => (existsSync(join(dir, 'bootdev')) ? readFileSync(join(dir, 'bootdev'), 'utf8').trim() : null),
    serial: () => readOr(join(dir, 'serial.log')),
    async stop() {
      // Only the processes we started: the QEMU whose pid file names our VM, then ipmi_sim.
      for (const file of ['qemu.pid', 'stopping']) {
        try {
          const pid = Number(readFileSync(join(dir, file), 'utf8').trim());
          if (pid > 1 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(vmName)) process.kill(pid, 'SIGKILL');
        } catch {
          // gone already
        }
      }
      if (sim.exitCode === null && sim.signalCode === null) {
        const exited = new Promise<void>((r) => sim.once('exit', () => r()));
        sim.kill('SIGKILL');
        await Promise.race([exited, sleep(3000)]);
      }
    },
  };
}

export async function waitFor(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** A random high base port so parallel helpers and reruns never collide. */
export function randomBasePort(): number {
  return 20_000 + Math.floor(Math.random() * 2000) * 10;
}
