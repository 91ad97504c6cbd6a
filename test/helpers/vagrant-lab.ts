/**
 * The vagrant: driver e2e's lab, driven from TypeScript: test/helpers/vagrant-lab.sh builds a tiny
 * libvirt box and brings up REAL libvirtd (+ virtlogd, dnsmasq, QEMU/TCG) inside a network
 * namespace named brkvg<n>, with a routed guest network the test process reaches over a veth. The
 * driver runs the REAL vagrant + vagrant-libvirt through test/helpers/vagrant-ns.sh (vagrant inside
 * that netns). Nothing is installed here: a missing tool fails with the package to install.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const HERE = fileURLToPath(new URL('.', import.meta.url));
export const LAB_SCRIPT = join(HERE, 'vagrant-lab.sh');
export const VAGRANT_NS_WRAPPER = join(HERE, 'vagrant-ns.sh');

export interface VagrantLab {
  dir: string;
  ns: string;
  /** driverOptions for the vagrant: driver (wrapper binary + environment). */
  driverOptions: Record<string, unknown>;
  /** A fresh cluster directory for one driver URL. */
  clusterDir(name: string): string;
  /** libvirt's view of a machine (out of band): "running", "shut off", … or undefined when there is no domain. */
  domainState(clusterDir: string, machine: string): Promise<string | undefined>;
  /** All domains with their states, for snapshots. */
  domains(): Promise<string>;
  down(): Promise<void>;
}

function requireTools(): void {
  const missing = ['vagrant', 'libvirtd', 'virtlogd', 'virsh', 'qemu-system-x86_64', 'qemu-img', 'ip', 'cpio', 'busybox', 'dropbear'].filter(
    (t) => !['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((d) => existsSync(join(d, t))),
  );
  if (missing.length) {
    throw new Error(`the vagrant e2e test needs ${missing.join(', ')}: run scripts/install-deps.sh (apt packages vagrant vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients iptables qemu-utils qemu-system-x86 busybox-static dropbear-bin cpio)`);
  }
}

async function freeOctet(): Promise<number> {
  const routes = (await run('ip', ['-4', 'route', 'show'])).stdout;
  for (let i = 0; i < 200; i++) {
    const n = 20 + ((process.pid + i) % 200);
    if (!routes.includes(`10.213.${n}.`) && !routes.includes(`10.214.${n}.`)) return n;
  }
  throw new Error('no free 10.213.N.0/24 guest subnet');
}

export async function startVagrantLab(): Promise<VagrantLab> {
  requireTools();
  const dir = mkdtempSync(join(tmpdir(), 'bootrack-vagrant-'));
  const ns = `brkvg${process.pid % 100000}`;
  const env = { ...process.env, BRKVG_DIR: dir, BRKVG_NS: ns, BRKVG_NET: String(await freeOctet()) };
  const script = (cmd: string, timeoutMs: number): Promise<{ stdout: string; stderr: string }> => run('bash', [LAB_SCRIPT, cmd], { env, timeout: timeoutMs, maxBuffer: 16 << 20, killSignal: 'SIGKILL' });
  let downed = false;
  const down = async (): Promise<void> => {
    if (downed) return;
    downed = true;
    try {
      await script('down', 180_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    await script('build-box', 300_000);
    await script('up', 180_000);
  } catch (err) {
    const log = existsSync(join(dir, 'logs', 'libvirtd.log')) ? readFileSync(join(dir, 'logs', 'libvirtd.log'), 'utf8').split('\n').slice(-15).join('\n') : '';
    await down().catch(() => undefined);
    throw new Error(`the vagrant lab did not come up: ${(err as { stderr?: string }).stderr ?? (err as Error).message}\n${log}`);
  }
  const virsh = (args: string[]): Promise<{ stdout: string }> => run('virsh', ['-c', 'qemu:///system', ...args], { timeout: 30_000 });
  return {
    dir,
    ns,
    driverOptions: { vagrantBinary: VAGRANT_NS_WRAPPER, env: { BRKVG_NS: ns, VAGRANT_HOME: join(dir, 'vagrant.d'), LIBVIRT_DEFAULT_URI: 'qemu:///system', VAGRANT_CHECKPOINT_DISABLE: '1' } },
    clusterDir: (name) => join(dir, 'machines', name),
    domainState: async (clusterDir, machine) => {
      try {
        return (await virsh(['domstate', `${basename(clusterDir)}_${machine}`])).stdout.trim();
      } catch {
        return undefined;
      }
    },
    domains: async () => (await virsh(['list', '--all'])).stdout.trim(),
    down,
  };
}

/** Files of a cluster directory with their contents (for snapshots). */
export function clusterFiles(dir: string): string {
  if (!existsSync(dir)) return '[]';
  return JSON.stringify(readdirSync(dir).filter((f) => f.endsWith('.vm') || f === 'Vagrantfile').sort().map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
}
