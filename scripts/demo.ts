/**
 * `npm run demo`: see bootrack work on one machine, end to end, on this host (root; qemu, ip).
 *   1. builds the discovery image with `bootrack image build` if it is missing (cached in $BOOTRACK_DEMO_DIR);
 *   2. creates network namespace brke2-demo (bridge 10.229.0.1/24, a veth to reach it from here) and runs
 *      `bootrack serve` in it: DHCP, TFTP, boot HTTP and the API, nothing else;
 *   3. PXE-boots one unknown QEMU VM (SeaBIOS + iPXE, TCG) that enlists itself;
 *   4. prints the machine record and its boot timeline, then waits for Ctrl-C (or exits with --once);
 *   5. tears everything down on Ctrl-C, SIGTERM, an error or exit.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { machineByMac, timeline, waitEnlisted } from '../test/helpers/e2e-boot.js';
import { REPO, startLab, type Lab } from '../test/helpers/e2e-lab.js';

const once = process.argv.includes('--once');
const demoDir = process.env.BOOTRACK_DEMO_DIR || '/var/tmp/bootrack-demo';
const imageDir = join(demoDir, 'image');
const say = (s: string): void => void process.stdout.write(`${s}\n`);

if (process.getuid?.() !== 0) {
  say('demo: needs root (network namespaces, taps)');
  process.exit(2);
}
if (!existsSync(join(imageDir, 'vmlinuz')) || !existsSync(join(imageDir, 'initrd.img'))) {
  say(`demo: building the discovery image into ${imageDir} (once; a few minutes the first time)`);
  mkdirSync(imageDir, { recursive: true });
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'src/cli/bootrack.ts'), 'image', 'build', '--out', imageDir, '--cache', join(demoDir, 'cache')], { stdio: 'inherit', cwd: REPO });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

let lab: Lab | undefined;
let closing: Promise<void> | undefined;
const teardown = (code: number): void => {
  closing ??= (async () => {
    say('demo: tearing down (VM, bootrack, namespace brke2-demo)');
    await lab?.close();
    process.exit(code);
  })();
};
process.on('SIGINT', () => teardown(130));
process.on('SIGTERM', () => teardown(143));

try {
  say('demo: starting bootrack in netns brke2-demo (DHCP on brke2br, TFTP, HTTP :8080, API :8443)');
  lab = await startLab({ ns: 'brke2-demo', octet: 229, imageDir });
  say(`demo: bootrack is up; API ${lab.apiBase} (admin token ${lab.adminToken})`);
  const vm = lab.startVm({ name: 'demo-vm', idx: 1, firmware: 'bios', cpus: 1, memMib: 512, diskBytes: 2 * 1024 ** 3 });
  say(`demo: PXE-booting an unknown VM (MAC ${vm.mac}, 1 vCPU, 512 MiB, 2 GiB disk; TCG: expect 30-90 s)`);
  const { machine, seconds } = await waitEnlisted(lab, vm, 600_000);
  say(`demo: ${machine.name} enlisted itself and is ready for SSH after ${seconds.toFixed(1)} s\n`);
  const record = (await machineByMac(lab, vm.mac))!;
  say('== machine record (GET /api/v1/machines/:ref)');
  say(JSON.stringify(record, null, 2));
  const tl = await timeline(lab, record.id);
  say('\n== boot timeline (GET /api/v1/machines/:ref/timeline), seconds after QEMU start');
  for (const boot of tl.boots) {
    for (const s of boot.steps) say(`  ${((Date.parse(s.at) - vm.startedAt) / 1000).toFixed(1).padStart(6)} s  ${s.summary}`);
    say(`  verdict: ${boot.verdict}`);
  }
  say(`\ndemo: SSH in:  ssh -i ${lab.sshKey} -o StrictHostKeyChecking=no root@${record.ipAddresses[0]}`);
  if (once) teardown(0);
  else say('demo: press Ctrl-C to tear everything down');
} catch (err) {
  say(`demo: failed: ${(err as Error).message}`);
  teardown(1);
}
