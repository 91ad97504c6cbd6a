import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { openRegistry } from '../../src/registry/index.js';

/**
 * The end-to-end lab: bootrack ALONE serving one private L2 network, all inside a network namespace
 * the test creates (prefix brke2). No dnsmasq, no busybox httpd: DHCP (full mode), TFTP, boot HTTP and
 * the API are `bootrack serve` itself, run as a child process in the namespace.
 *
 *   namespace NS:  bridge brke2br (10.<o>.0.1/24, fd<o>::1/64) ← taps ← QEMU VMs
 *                  veth brke2n<o> (10.<o+1>.0.2/30) ─┐
 *   test process:  veth brke2h<o> (10.<o+1>.0.1/30) ─┘  + route 10.<o>.0.0/24 via the namespace
 *
 * The veth and that one route let the test process (the pxe: driver, ssh2, fetch) reach the API and
 * the VMs; nothing else leaves the namespace and nothing touches a real NIC. An RA sender
 * (e2e-ra.py) keeps iPXE from waiting ~13 s for IPv6 autoconfiguration.
 */
export const REPO = resolve(import.meta.dirname, '../..');
const TSX = join(REPO, 'node_modules/tsx/dist/esm/index.mjs');
export const HTTP_PORT = 8080;
export const API_PORT = 8443;

export interface LabOptions {
  /** Namespace name; must start with brke2. */
  ns: string;
  /** Second octet of the lab's private nets: 10.<octet>.0.0/24 (VMs), 10.<octet+1>.0.0/30 (veth). */
  octet: number;
  /** The discovery image directory (vmlinuz, initrd.img). */
  imageDir: string;
  /** Extra config merged over the lab's (e.g. power settings). */
  config?: Record<string, unknown>;
  logLevel?: 'debug' | 'info';
  /** false: only the network, the RA sender and VMs (the bench's dnsmasq baseline). Default true. */
  daemon?: boolean;
}

export interface Lab {
  ns: string;
  bridge: string;
  hostIp: string;
  apiBase: string;
  httpBase: string;
  work: string;
  adminToken: string;
  /** The operator key pair authorized in the discovery OS (config.discovery.sshPublicKeys). */
  sshKey: string;
  sshPub: string;
  dbPath: string;
  keyPath: string;
  daemonLog(): string;
  api<T = unknown>(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: T }>;
  startVm(spec: VmSpec): Vm;
  /** A detached child in the namespace, stopped by close(); output to <work>/<logName>. */
  spawn(args: string[], logName: string): ChildProcess;
  /** Stops the daemon (SIGTERM) and starts it again on the same state dir; resolves once /healthz answers. */
  restart(): Promise<{ downMs: number }>;
  close(): Promise<void>;
}

export interface VmSpec {
  name: string;
  /** 1..99: MAC 52:54:00:<octet hex>:00:<idx hex>, tap brke2t<octet>x<idx>. */
  idx: number;
  firmware: 'bios' | 'uefi-native';
  memMib?: number;
  cpus?: number;
  diskBytes?: number;
  serial?: string;
  uuid?: string;
  /** Don't power on: start QEMU paused-off is not possible, so callers that need a BMC pass extra args. */
  extraArgs?: string[];
}

export interface Vm {
  spec: Required<Omit<VmSpec, 'extraArgs'>> & { extraArgs: string[] };
  mac: string;
  tap: string;
  startedAt: number;
  serialLog(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

export function run(cmd: string, args: string[], allowFail = false): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${cmd} is not installed (see scripts/install-deps.sh)`);
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout ?? '';
}

export function requireTools(extra: string[] = []): void {
  for (const tool of ['qemu-system-x86_64', 'qemu-img', 'ip', 'ssh', 'ssh-keygen', '/usr/bin/python3', ...extra]) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is missing (scripts/install-deps.sh); the e2e lab needs the real tool`);
  }
  for (const f of ['/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_VARS_4M.fd', '/usr/lib/ipxe/ipxe.efi']) {
    if (!existsSync(f)) throw new Error(`${f} is missing: apt-get install ovmf ipxe`);
  }
}

function nsExists(ns: string): boolean {
  return run('ip', ['netns', 'list']).split('\n').some((l) => l.split(' ')[0] === ns);
}

/** Removes a namespace of ours left by a crashed run: only processes we started can live in it. */
export function destroyNamespace(ns: string, octet: number): void {
  if (!ns.startsWith('brke2')) throw new Error(`refusing to touch namespace ${ns}: not ours`);
  run('ip', ['route', 'del', `10.${octet}.0.0/24`], true);
  run('ip', ['link', 'del', `brke2h${octet}`], true);
  if (!nsExists(ns)) return;
  for (const pid of run('ip', ['netns', 'pids', ns], true).split('\n').filter(Boolean)) spawnSync('kill', ['-9', pid]);
  run('ip', ['netns', 'del', ns], true);
}

/** A detached child in the namespace (own process group, so the whole `ip netns exec` chain is stopped). */
function startInNs(ns: string, args: string[], logPath: string): ChildProcess {
  const fd = openSync(logPath, 'a');
  const child = spawn('ip', ['netns', 'exec', ns, ...args], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  return child;
}

async function stopGroup(child: ChildProcess | undefined, graceMs = 3000): Promise<void> {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

export async function waitFor<T>(what: string, check: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
}

export async function startLab(opts: LabOptions): Promise<Lab> {
  if (!opts.ns.startsWith('brke2')) throw new Error('e2e namespaces start with brke2');
  requireTools();
  const { ns, octet } = opts;
  const bridge = 'brke2br';
  const hostIp = `10.${octet}.0.1`;
  const vethHost = `brke2h${octet}`;
  const vethNs = `brke2n${octet}`;
  const work = mkdtempSync(join(tmpdir(), `${ns}-`));
  const children: ChildProcess[] = [];
  const vms: Vm[] = [];
  destroyNamespace(ns, octet);
  const nsx = (...args: string[]): string => run('ip', ['netns', 'exec', ns, ...args]);
  const v6 = `fd${octet.toString(16)}::`;

  const close = async (): Promise<void> => {
    await Promise.all(vms.map((v) => v.stop()));
    // The daemon first (SIGTERM: a graceful stop), then the helpers.
    for (const c of children) await stopGroup(c, 5000);
    destroyNamespace(ns, octet);
    if (process.env.BRKE2_KEEP !== '1') rmSync(work, { recursive: true, force: true });
  };

  try {
    run('ip', ['netns', 'add', ns]);
    nsx('ip', 'link', 'set', 'lo', 'up');
    nsx('ip', 'link', 'add', bridge, 'type', 'bridge');
    // forward_delay 0: taps forward at once (PXE ROMs time out otherwise).
    nsx('ip', 'link', 'set', bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
    nsx('ip', 'addr', 'add', `${hostIp}/24`, 'dev', bridge);
    nsx('ip', 'addr', 'add', `${v6}1/64`, 'dev', bridge, 'nodad');
    nsx('ip', 'link', 'set', bridge, 'up');
    run('ip', ['link', 'add', vethHost, 'type', 'veth', 'peer', 'name', vethNs, 'netns', ns]);
    run('ip', ['addr', 'add', `10.${octet + 1}.0.1/30`, 'dev', vethHost]);
    run('ip', ['link', 'set', vethHost, 'up']);
    nsx('ip', 'addr', 'add', `10.${octet + 1}.0.2/30`, 'dev', vethNs);
    nsx('ip', 'link', 'set', vethNs, 'up');
    nsx('sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
    run('ip', ['route', 'add', `10.${octet}.0.0/24`, 'via', `10.${octet + 1}.0.2`, 'dev', vethHost]);

    const sshKey = join(work, 'id_ed25519');
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${ns}-operator`, '-f', sshKey]);
    const sshPub = readFileSync(`${sshKey}.pub`, 'utf8').trim();
    const stateDir = join(work, 'state');
    mkdirSync(stateDir, { recursive: true });
    const dbPath = join(stateDir, 'bootrack.db');
    const keyPath = join(stateDir, 'secret.key');
    // Bootstrap an admin token straight in the database (as `bootrack token create --db` does).
    const registry = openRegistry({ databasePath: dbPath, secretKey: { path: keyPath } });
    const adminToken = registry.tokens.create({ role: 'admin', name: 'e2e-admin' }).token;
    registry.close();

    const config = {
      advertiseAddress: hostIp,
      stateDir,
      log: { level: opts.logLevel ?? 'info' },
      dhcp: {
        interfaces: [bridge],
        mode: 'full',
        subnets: [{ cidr: `10.${octet}.0.0/24`, rangeStart: `10.${octet}.0.100`, rangeEnd: `10.${octet}.0.199`, router: hostIp, leaseSeconds: 3600 }],
      },
      tftp: { address: hostIp },
      http: { address: '0.0.0.0', port: HTTP_PORT },
      api: { address: '0.0.0.0', port: API_PORT, tls: false },
      discovery: { imageDir: opts.imageDir, sshPublicKeys: [sshPub], autoAccept: true },
      ...(opts.config ?? {}),
    };
    const configPath = join(work, 'bootrack.yaml');
    writeFileSync(configPath, stringify(config));
    const daemonLogPath = join(work, 'bootrack.log');
    const withDaemon = opts.daemon ?? true;
    const startDaemon = (): ChildProcess => startInNs(ns, [process.execPath, '--import', TSX, join(REPO, 'src/cli/bootrack.ts'), 'serve', '--config', configPath], daemonLogPath);
    if (withDaemon) children.push(startDaemon());
    children.push(startInNs(ns, ['/usr/bin/python3', join(REPO, 'test/helpers/e2e-ra.py'), bridge, `${v6}/64`, '1'], join(work, 'ra.log')));

    const apiBase = `http://${hostIp}:${API_PORT}/api/v1`;
    const httpBase = `http://${hostIp}:${HTTP_PORT}`;
    const daemonLog = (): string => (existsSync(daemonLogPath) ? readFileSync(daemonLogPath, 'utf8') : '');
    const waitHealthy = async (): Promise<void> => {
      const daemon = children[0]!;
      let exited = false;
      await waitFor(
        'bootrack to answer /healthz',
        async () => {
          // A daemon that exited will not come back: stop waiting at once.
          if (daemon.exitCode !== null || daemon.signalCode !== null) return (exited = true);
          const r = await fetch(`${apiBase}/healthz`, { signal: AbortSignal.timeout(2000) });
          return r.ok;
        },
        90_000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n--- bootrack log ---\n${daemonLog().slice(-3000)}`);
      });
      if (exited) throw new Error(`bootrack exited (${daemon.exitCode ?? daemon.signalCode}):\n${daemonLog().slice(-3000)}`);
    };
    if (withDaemon) await waitHealthy();
    // The appliance restarted on the same state dir (database, secret key, config): SIGTERM (a graceful
    // stop), wait for the exit, start again, wait for /healthz. VMs, BMCs and helpers keep running.
    const restart = async (): Promise<{ downMs: number }> => {
      if (!withDaemon) throw new Error('this lab runs no daemon');
      const t0 = Date.now();
      await stopGroup(children[0], 15_000);
      children[0] = startDaemon();
      await waitHealthy();
      return { downMs: Date.now() - t0 };
    };

    const api = async <T>(method: string, path: string, body?: unknown, token = adminToken): Promise<{ status: number; body: T }> => {
      const r = await fetch(`${apiBase}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await r.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON */
      }
      return { status: r.status, body: parsed as T };
    };

    const startVm = (spec: VmSpec): Vm => {
      const full = { memMib: 512, cpus: 1, diskBytes: 1024 ** 3, serial: `BRKE2-${octet}-${spec.idx}`, uuid: `e2e0${octet.toString(16).padStart(4, '0')}-0000-4000-8000-${spec.idx.toString(16).padStart(12, '0')}`, extraArgs: [], ...spec };
      const mac = `52:54:00:${octet.toString(16).padStart(2, '0')}:00:${spec.idx.toString(16).padStart(2, '0')}`;
      const tap = `brke2t${octet}x${spec.idx}`;
      const dir = join(work, 'vms', spec.name);
      mkdirSync(dir, { recursive: true });
      run('qemu-img', ['create', '-q', '-f', 'qcow2', join(dir, 'disk.qcow2'), String(full.diskBytes)]);
      nsx('ip', 'tuntap', 'add', 'dev', tap, 'mode', 'tap');
      nsx('ip', 'link', 'set', tap, 'master', bridge);
      nsx('ip', 'link', 'set', tap, 'up');
      const fw: string[] = [];
      let nic = `virtio-net-pci,netdev=n0,mac=${mac},bootindex=1`;
      if (full.firmware === 'uefi-native') {
        writeFileSync(join(dir, 'OVMF_VARS.fd'), readFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd'));
        fw.push('-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd', '-drive', `if=pflash,format=raw,unit=1,file=${join(dir, 'OVMF_VARS.fd')}`);
        // romfile= (empty): no iPXE ROM, so OVMF's own PXE does DHCP and TFTP (lab: uefi-native).
        nic += ',romfile=';
      }
      // SeaBIOS: QEMU's default ROM for virtio-net-pci is iPXE; an explicit romfile= is skipped (lab pitfall 3).
      const serialPath = join(dir, 'serial.log');
      writeFileSync(serialPath, '');
      const startedAt = Date.now();
      const child = startInNs(
        ns,
        [
          'qemu-system-x86_64', '-name', spec.name, '-accel', 'tcg', '-machine', 'pc', '-m', String(full.memMib), '-smp', String(full.cpus),
          '-nographic', '-monitor', 'none', '-serial', `file:${serialPath}`,
          '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`, '-device', nic,
          '-drive', `file=${join(dir, 'disk.qcow2')},if=none,id=d0,format=qcow2`, '-device', 'virtio-blk-pci,drive=d0,bootindex=2',
          '-smbios', `type=1,manufacturer=BootrackE2E,product=LabNode,serial=${full.serial},uuid=${full.uuid}`,
          ...fw, ...full.extraArgs,
        ],
        join(dir, 'qemu.log'),
      );
      children.push(child);
      const vm: Vm = {
        spec: full,
        mac,
        tap,
        startedAt,
        serialLog: () => readFileSync(serialPath, 'latin1'),
        exited: () => child.exitCode !== null || child.signalCode !== null,
        stop: async () => {
          await stopGroup(child, 2000);
          run('ip', ['netns', 'exec', ns, 'ip', 'link', 'del', tap], true);
        },
      };
      vms.push(vm);
      return vm;
    };

    const spawnChild = (args: string[], logName: string): ChildProcess => {
      const child = startInNs(ns, args, join(work, logName));
      children.push(child);
      return child;
    };
    return { ns, bridge, hostIp, apiBase, httpBase, work, adminToken, sshKey, sshPub, dbPath, keyPath, daemonLog, api, startVm, spawn: spawnChild, restart, close };
  } catch (err) {
    await close();
    throw err;
  }
}
