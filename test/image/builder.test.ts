import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/bootrack.js';
import { isBootrackError } from '../../src/common/errors.js';
import { buildDiscoveryImage, type ImageManifest } from '../../src/image/build.js';
import { moduleName, openModuleTree, planModules, readModinfo } from '../../src/image/modules.js';
import { S_IFCHR, S_IFLNK, S_IFMT, S_IFREG, decodeNewc, type NewcRecord } from '../../src/protocol/cpio/newc.js';
import { AGENT_DIR, IMAGE_CACHE_DIR, PROBE_FILE, buildOptions, ensureDiscoveryImage, readManifest } from '../helpers/image-shared.js';

// Builds the real discovery image from Debian packages (apt-get download + dpkg-deb -x; nothing is
// installed on the host). The .deb cache is shared with the other image tests, so the network is
// used once per machine.

let work: string;
let shared: { dir: string; manifest: ImageManifest };
let cliDir: string;
let cliManifest: ImageManifest;
let cliErr: string[];
let records: NewcRecord[];

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  for (const tool of ['apt-get', 'apt-cache', 'dpkg-deb', 'ldd', 'cpio', 'chroot']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'pipe' });
    } catch {
      throw new Error(`${tool} is required by the image builder test`);
    }
  }
  work = mkdtempSync(join(tmpdir(), 'bootrack-imgtest-'));
  shared = await ensureDiscoveryImage();
  // A second, independent build through the CLI, into its own directory.
  cliDir = join(work, 'cli-out');
  const out: string[] = [];
  cliErr = [];
  const code = await runCli(['image', 'build', '--out', cliDir, '--cache', IMAGE_CACHE_DIR, '--agent-dir', AGENT_DIR, '--json'], {
    out: (t) => out.push(t),
    err: (t) => cliErr.push(t),
    env: {},
  });
  if (code !== 0) throw new Error(`bootrack image build exited ${code}: ${cliErr.join('\n')}`);
  cliManifest = JSON.parse(out.join('')) as ImageManifest;
  records = decodeNewc(gunzipSync(readFileSync(join(cliDir, 'initrd.img'))));
}, 600_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('bootrack image build', () => {
  it('writes vmlinuz, initrd.img and a manifest whose sha256 and sizes match the files', () => {
    expect(readManifest(cliDir)).toEqual(cliManifest);
    for (const o of [cliManifest.outputs.vmlinuz, cliManifest.outputs.initrd]) {
      const bytes = readFileSync(join(cliDir, o.file));
      expect(bytes.length).toBe(o.sizeBytes);
      expect(sha(bytes)).toBe(o.sha256);
    }
    expect(cliManifest.kernel.meta).toBe('linux-image-amd64');
    expect(cliManifest.kernel.release).toMatch(/^6\.1\.0-\d+-amd64$/);
    expect(cliManifest.kernel.package).toBe(`linux-image-${cliManifest.kernel.release}`);
    const names = cliManifest.packages.map((p) => p.name);
    for (const p of ['busybox-static', 'dropbear-bin', 'libc6', 'libtomcrypt1', cliManifest.kernel.package]) expect(names).toContain(p);
    expect(Date.parse(cliManifest.builtAt)).not.toBeNaN();
    expect(cliManifest.buildMs).toBeGreaterThan(0);
    // progress lines on stderr
    expect(cliErr.some((l) => l.startsWith('image: fetching linux-image-'))).toBe(true);
    expect(cliErr.some((l) => l.startsWith('image: wrote '))).toBe(true);
  });

  it('is reproducible: two builds from the same inputs give the same initrd bytes', () => {
    expect(cliManifest.inputsSha256).toBe(shared.manifest.inputsSha256);
    expect(cliManifest.outputs.initrd.sha256).toBe(shared.manifest.outputs.initrd.sha256);
    expect(readFileSync(join(cliDir, 'initrd.img')).equals(readFileSync(join(shared.dir, 'initrd.img')))).toBe(true);
  });

  it('the generic kernel has every requested rack driver; load order puts each module after its dependencies', () => {
    const m = cliManifest.modules;
    expect(m.missing).toEqual([]);
    for (const want of ['virtio_net', 'virtio_blk', 'e1000e', 'igb', 'ixgbe', 'i40e', 'bnxt_en', 'mlx5_core', 'ahci', 'nvme', 'sd_mod']) expect(m.loadOrder).toContain(want);
    // PCI-only drivers wait for a matching device; bus/class drivers (virtio_net, sd_mod, ipmi_si) always load.
    for (const gated of ['e1000e', 'igb', 'ixgbe', 'i40e', 'bnxt_en', 'mlx5_core', 'mlx4_en', 'ahci', 'nvme', 'mpt3sas', 'virtio_pci']) expect(m.pciGated).toContain(gated);
    for (const always of ['virtio_net', 'virtio_blk', 'sd_mod', 'ipmi_si', 'ipmi_devintf']) expect(m.pciGated).not.toContain(always);
    // /dev/ipmi0 for bootrack-probe bmc-lan: the message handler, then the system interface and the char device
    const at = (n: string): number => m.loadOrder.indexOf(n);
    expect(at('ipmi_msghandler')).toBeGreaterThanOrEqual(0);
    expect(at('ipmi_msghandler')).toBeLessThan(Math.min(at('ipmi_si'), at('ipmi_devintf')));
    const text = (name: string): string => Buffer.from(records.find((r) => r.name === name)!.data).toString();
    expect(text('etc/bootrack/modules.always').trim().split('\n').sort()).toEqual(m.requested.filter((r) => !m.pciGated.includes(r) && m.loadOrder.includes(r)).sort());
    expect(text('etc/bootrack/modules.pci')).toMatch(/^ixgbe pci:v00008086d[0-9A-F]{8}sv\*sd\*bc\*sc\*i\*$/m);
    const list = Buffer.from(records.find((r) => r.name === 'etc/bootrack/modules.load')!.data).toString().trim().split('\n');
    expect(list.map((l) => l.split(' ')[0])).toEqual(m.loadOrder);
    const position = new Map(m.loadOrder.map((n, i) => [n, i]));
    const byPath = new Map(records.map((r) => [`/${r.name}`, r]));
    for (const line of list) {
      const [name, path] = line.split(' ') as [string, string];
      const rec = byPath.get(path);
      expect(rec, path).toBeDefined();
      const deps = readModinfo(Buffer.from(rec!.data)).filter(([k]) => k === 'depends').flatMap(([, v]) => v.split(',').filter(Boolean).map(moduleName));
      for (const d of deps) expect(position.get(d), `${d} before ${name}`).toBeLessThan(position.get(name)!);
    }
  });

  it('requested modules the kernel lacks are listed as missing, built-in ones as built in, and neither is loaded', () => {
    const unpacked = join(IMAGE_CACHE_DIR, 'unpacked', readdirSync(join(IMAGE_CACHE_DIR, 'unpacked')).find((d) => d.startsWith(cliManifest.kernel.package + '_'))!);
    const plan = planModules(openModuleTree(unpacked), ['virtio-net', 'no_such_nic_driver', 'af_packet', 'unix']);
    expect(plan.missing).toEqual(['no_such_nic_driver']);
    expect(plan.builtin).toEqual(['af_packet', 'unix']);
    const names = plan.order.map((m) => m.name);
    expect([...names].sort()).toEqual(['failover', 'net_failover', 'virtio', 'virtio_net', 'virtio_ring']);
    expect(names.at(-1)).toBe('virtio_net');
    expect(names.indexOf('failover')).toBeLessThan(names.indexOf('net_failover'));
  });

  it('the initramfs holds /init, busybox with applets, dropbear with its loader, /dev/console, all root-owned at mtime 0', () => {
    const by = new Map(records.map((r) => [r.name, r]));
    expect(by.get('init')!.mode).toBe(S_IFREG | 0o755);
    expect(Buffer.from(by.get('init')!.data).equals(readFileSync(join(AGENT_DIR, 'init')))).toBe(true);
    for (const f of ['agent.sh', 'facts.sh', 'lib.sh', 'udhcpc.script']) expect(by.has(`usr/lib/bootrack/${f}`), f).toBe(true);
    expect(by.get('bin/sh')!.mode & S_IFMT).toBe(S_IFLNK);
    expect(Buffer.from(by.get('bin/udhcpc')!.data).toString()).toBe('busybox');
    expect(by.get('dev/console')!.mode).toBe(S_IFCHR | 0o600);
    expect([by.get('dev/console')!.rdevMajor, by.get('dev/console')!.rdevMinor]).toEqual([5, 1]);
    expect(Buffer.from(by.get('lib64/ld-linux-x86-64.so.2')!.data).toString()).toBe('/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2');
    expect(by.get('root')!.mode & 0o7777).toBe(0o700);
    expect(records.every((r) => r.uid === 0 && r.gid === 0 && r.mtime === 0)).toBe(true);
    const names = records.map((r) => r.name);
    expect(names).toEqual([...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    // GNU cpio agrees on the entry count
    const listing = execFileSync('sh', ['-c', `zcat '${join(cliDir, 'initrd.img')}' | cpio -it --quiet`], { encoding: 'utf8' });
    expect(listing.trim().split('\n')).toHaveLength(records.length);
  });

  it('dropbear, dropbearkey and the agent run from the extracted initramfs alone (chroot: no host libraries)', () => {
    const root = join(work, 'root');
    mkdirSync(root);
    execFileSync('sh', ['-c', `zcat '${join(cliDir, 'initrd.img')}' | cpio -id --quiet --no-absolute-filenames`], { cwd: root });
    const chroot = execFileSync('sh', ['-c', 'command -v chroot'], { encoding: 'utf8' }).trim();
    const v = execFileSync(chroot, [root, '/bin/sh', '-c', '/usr/sbin/dropbear -V 2>&1'], { encoding: 'utf8' });
    expect(v).toMatch(/Dropbear v\d{4}\.\d+/);
    const pub = execFileSync(chroot, [root, '/bin/sh', '-c', 'dropbearkey -t ed25519 -f /tmp/k >/dev/null 2>&1 && dropbearkey -y -f /tmp/k | grep ^ssh-'], { encoding: 'utf8', env: { PATH: '/bin:/usr/bin:/usr/sbin' } });
    expect(pub).toMatch(/^ssh-ed25519 AAAA/);
    const json = execFileSync(chroot, [root, '/bin/sh', '-c', '. /usr/lib/bootrack/lib.sh; json_str "$1"', 'sh', 'q"b\\s\tt'], { encoding: 'utf8', env: { PATH: '/bin' } });
    expect(JSON.parse(json)).toBe('q"b\\s t');
    expect(statSync(join(root, 'usr/lib/openssh/sftp-server')).isFile()).toBe(true);
    // the static native probe runs with nothing but the image: usage → 2, no /dev/ipmi0 → 3, no such NIC → 3
    const probe = (args: string): { status: number | null; stderr: string } => {
      const r = spawnSync(chroot, [root, '/bin/sh', '-c', `/usr/sbin/bootrack-probe ${args}`], { encoding: 'utf8', env: { PATH: '/bin' } });
      return { status: r.status, stderr: r.stderr };
    };
    expect(probe('')).toMatchObject({ status: 2, stderr: expect.stringMatching(/^usage: bootrack-probe lldp <iface> <seconds>/) });
    expect(probe('bmc-lan')).toMatchObject({ status: 3, stderr: expect.stringMatching(/\/dev\/ipmi0: No such file or directory/) });
    expect(probe('lldp no-such-nic0 1')).toMatchObject({ status: 3, stderr: expect.stringMatching(/no interface 'no-such-nic0'/) });
    expect(probe('lldp lo 0').status).toBe(2);
  });

  it('the native probe is in the image and the manifest; a missing one is IMAGE_BUILD_FAILED naming `npm run build`', async () => {
    const bytes = readFileSync(PROBE_FILE);
    const rec = records.find((r) => r.name === 'usr/sbin/bootrack-probe')!;
    expect(rec.mode).toBe(S_IFREG | 0o755);
    expect(Buffer.from(rec.data).equals(bytes)).toBe(true);
    expect(cliManifest.probe).toEqual({ path: '/usr/sbin/bootrack-probe', sha256: sha(bytes), sizeBytes: bytes.length });
    const err: unknown = await buildDiscoveryImage(buildOptions(join(work, 'np'), { probeFile: join(work, 'no-probe-here') })).catch((e: unknown) => e);
    expect(isBootrackError(err, 'IMAGE_BUILD_FAILED')).toBe(true);
    expect((err as Error).message).toContain('npm run build');
    expect((err as Error).message).toContain(join(work, 'no-probe-here'));
  });

  it('an unknown kernel package is IMAGE_PACKAGE_MISSING naming it', async () => {
    const err: unknown = await buildDiscoveryImage(buildOptions(join(work, 'x'), { kernelPackage: 'linux-image-does-not-exist-amd64' })).catch((e: unknown) => e);
    expect(isBootrackError(err, 'IMAGE_PACKAGE_MISSING')).toBe(true);
    expect((err as Error).message).toContain('linux-image-does-not-exist-amd64');
  });

  it('the CLI prints the error code first and exits 1; a missing subcommand prints usage and exits 2', async () => {
    const err: string[] = [];
    const io = { out: () => undefined, err: (t: string) => err.push(t), env: {} };
    const code = await runCli(['image', 'build', '--out', join(work, 'z'), '--cache', IMAGE_CACHE_DIR, '--kernel-package', 'linux-image-nope-amd64'], io);
    expect(code).toBe(1);
    expect(err.at(-1)).toMatch(/^error IMAGE_PACKAGE_MISSING: apt does not know the package linux-image-nope-amd64/);
    expect(await runCli(['image'], io)).toBe(2);
    expect(err.at(-1)).toMatch(/^usage: bootrack image build/);
  });

  it('an unreachable Debian archive is IMAGE_FETCH_FAILED naming the package', async () => {
    // An empty cache and apt's proxy pointed at a closed loopback port: the download cannot happen.
    const err: unknown = await buildDiscoveryImage(
      buildOptions(join(work, 'y'), { cacheDir: join(work, 'empty-cache'), aptOptions: ['Acquire::http::Proxy=http://127.0.0.1:9', 'Acquire::Retries=0'] }),
    ).catch((e: unknown) => e);
    expect(isBootrackError(err, 'IMAGE_FETCH_FAILED')).toBe(true);
    expect((err as Error).message).toMatch(/could not download linux-image-6\.1\.0-\d+-amd64/);
  });
});
