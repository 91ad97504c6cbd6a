/**
 * PXE → SSH time of one SeaBIOS+iPXE VM (TCG) booting the discovery OS, bootrack against the lab's
 * baseline (dnsmasq for DHCP + busybox httpd for the script, kernel, initrd and a CGI that accepts the
 * agent's POSTs), on the same run, same image, same VM, both with IPv6 RAs from test/helpers/e2e-ra.py.
 * Runs alternate (bootrack, baseline, bootrack, …) so load drift hits both. Not a test; not run in CI.
 *
 *   npx tsx bench/e2e-boot.ts [--runs N]     (root; qemu, dnsmasq, busybox; namespaces brke2-bench*)
 *
 * The clock starts when QEMU is spawned and stops at the first successful `ssh root@<lease> uname`
 * (polled every 500 ms in both legs; the lease comes from the API for bootrack, the lease file for dnsmasq).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { machineByMac } from '../test/helpers/e2e-boot.js';
import { startLab, waitFor, type Lab, type Vm } from '../test/helpers/e2e-lab.js';
import { ensureDiscoveryImage } from '../test/helpers/image-shared.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '2' } } });
const RUNS = Math.max(1, Math.min(10, Number(values.runs)));
const TIMEOUT_MS = 600_000;
const BASE_PORT = 8081;

function sshOnce(lab: Lab, ip: string): boolean {
  const r = spawnSync('ssh', ['-i', lab.sshKey, '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=3', '-o', 'LogLevel=ERROR', `root@${ip}`, 'uname -r'], { encoding: 'utf8', timeout: 15_000 });
  return r.status === 0;
}

async function timeToSsh(lab: Lab, vm: Vm, leaseOf: () => Promise<string | null>): Promise<number> {
  await waitFor(
    `${vm.spec.name} to answer SSH`,
    async () => {
      if (vm.exited()) throw new Error('QEMU exited');
      const ip = await leaseOf();
      return ip !== null && sshOnce(lab, ip);
    },
    TIMEOUT_MS,
    500,
  );
  return (Date.now() - vm.startedAt) / 1000;
}

async function bootrackRun(imageDir: string, i: number): Promise<number> {
  const lab = await startLab({ ns: 'brke2-bench', octet: 221, imageDir });
  try {
    const vm = lab.startVm({ name: `br${i}`, idx: 10 + i, firmware: 'bios' });
    return await timeToSsh(lab, vm, async () => (await machineByMac(lab, vm.mac))?.ipAddresses[0] ?? null);
  } finally {
    await lab.close();
  }
}

/** The lab's baseline: dnsmasq (DHCP, no-ping, iPXE → static script URL) + busybox httpd with an agent sink CGI. */
async function baselineRun(imageDir: string, i: number): Promise<number> {
  const lab = await startLab({ ns: 'brke2-benchb', octet: 223, imageDir, daemon: false });
  try {
    const www = join(lab.work, 'www');
    mkdirSync(join(www, 'cgi-bin'), { recursive: true });
    for (const f of ['vmlinuz', 'initrd.img']) symlinkSync(join(imageDir, f), join(www, f));
    const base = `http://${lab.hostIp}:${BASE_PORT}`;
    const keys = Buffer.from(lab.sshPub).toString('base64url');
    // The agent POSTs to ${bootrack.url}/api/v1/agent/…; busybox runs /cgi-bin/agent with that as PATH_INFO.
    writeFileSync(
      join(www, 'boot.ipxe'),
      `#!ipxe\nkernel ${base}/vmlinuz console=ttyS0,115200 panic=30 bootrack.url=${base}/cgi-bin/agent bootrack.token=baseline bootrack.mac=\${net0/mac} bootrack.mode=discovery bootrack.ssh_keys=${keys}\ninitrd --name initrd.img ${base}/initrd.img\nboot\n`,
    );
    writeFileSync(join(www, 'cgi-bin', 'agent'), '#!/bin/sh\nhead -c "${CONTENT_LENGTH:-0}" >/dev/null\nprintf \'Content-Type: application/json\\r\\n\\r\\n{"ok":true}\\n\'\n');
    chmodSync(join(www, 'cgi-bin', 'agent'), 0o755);
    const leases = join(lab.work, 'dnsmasq.leases');
    const conf = join(lab.work, 'dnsmasq.conf');
    writeFileSync(
      conf,
      [
        'port=0', `interface=${lab.bridge}`, 'bind-interfaces', 'no-ping', 'dhcp-authoritative', 'user=root',
        `dhcp-range=10.223.0.100,10.223.0.199,255.255.255.0,1h`, `dhcp-option=option:router,${lab.hostIp}`, `dhcp-leasefile=${leases}`,
        'dhcp-userclass=set:ipxe,iPXE', `dhcp-boot=tag:ipxe,${base}/boot.ipxe`, `log-facility=${join(lab.work, 'dnsmasq.log')}`,
      ].join('\n') + '\n',
    );
    lab.spawn(['dnsmasq', '-k', `--conf-file=${conf}`], 'dnsmasq.out');
    lab.spawn(['busybox', 'httpd', '-f', '-p', `${lab.hostIp}:${BASE_PORT}`, '-h', www], 'httpd.out');
    await waitFor('busybox httpd', async () => (await fetch(`${base}/boot.ipxe`, { signal: AbortSignal.timeout(2000) })).ok, 30_000);
    const vm = lab.startVm({ name: `bl${i}`, idx: 10 + i, firmware: 'bios' });
    return await timeToSsh(lab, vm, async () => {
      if (!existsSync(leases)) return null;
      const line = readFileSync(leases, 'utf8').split('\n').find((l) => l.split(' ')[1] === vm.mac);
      return line?.split(' ')[2] ?? null;
    });
  } finally {
    await lab.close();
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const { dir } = await ensureDiscoveryImage((l) => console.error(`image: ${l}`));
const ours: number[] = [];
const theirs: number[] = [];
for (let i = 0; i < RUNS; i++) {
  ours.push(await bootrackRun(dir, i));
  console.log(`run ${i + 1}: bootrack   PXE → SSH ${ours.at(-1)!.toFixed(1)} s`);
  theirs.push(await baselineRun(dir, i));
  console.log(`run ${i + 1}: dnsmasq+busybox PXE → SSH ${theirs.at(-1)!.toFixed(1)} s`);
}
const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`\nPXE → SSH, SeaBIOS+iPXE, TCG, ${RUNS} run(s) each, load average ${load}`);
console.log(`bootrack          median ${median(ours).toFixed(1)} s  [${ours.map((x) => x.toFixed(1)).join(', ')}]`);
console.log(`dnsmasq+busybox   median ${median(theirs).toFixed(1)} s  [${theirs.map((x) => x.toFixed(1)).join(', ')}]`);
console.log(`ratio bootrack / baseline = ${(median(ours) / median(theirs)).toFixed(2)}`);
