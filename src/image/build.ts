import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { BootrackError } from '../common/errors.js';
import type { Clock, Logger } from '../common/logger.js';
import { systemClock } from '../common/logger.js';
import { encodeNewc } from '../protocol/cpio/newc.js';
import { candidates, fetchDeb, resolveKernelPackage, sha256File, type AptOptions, type DebPackage } from './debian.js';
import { openModuleTree, planModules } from './modules.js';
import { PROBE_PATH, ROOTFS_PATHS, addAgent, addBusybox, addModules, addPrograms, addProbe, addSkeleton } from './rootfs.js';
import { RootTree } from './tree.js';

const gzipAsync = promisify(gzip);

export const MANIFEST_SCHEMA = 1;

export interface BuildOptions extends AptOptions {
  /** Output directory, normally <discovery.imageDir>/discovery. */
  outDir: string;
  /** Downloaded .debs and unpacked trees; reused between builds. */
  cacheDir: string;
  kernelPackage: string;
  modules: readonly string[];
  /** boot/agent of this checkout unless given. */
  agentDir?: string;
  /** The static native probe; native/build/bootrack-probe of this installation unless given. */
  probeFile?: string;
  /** mtime of every initramfs entry (seconds); fixed so equal inputs give an equal initrd. Default 0. */
  mtime?: number;
  logger: Logger;
  /** One human line per step of long work. */
  progress?: (line: string) => void;
  clock?: Clock;
}

export interface ImageOutput {
  file: string;
  sizeBytes: number;
  sha256: string;
}

export interface ImageManifest {
  schema: number;
  builtAt: string;
  buildMs: number;
  kernel: { package: string; version: string; release: string; meta: string };
  packages: Array<{ name: string; version: string; sha256: string }>;
  outputs: { vmlinuz: ImageOutput; initrd: ImageOutput };
  initrd: { entries: number; contentBytes: number; compression: 'gzip' };
  /** loadOrder: everything in the image, dependency-ordered; pciGated: loaded only when a PCI device matches. */
  modules: { requested: string[]; loadOrder: string[]; pciGated: string[]; builtin: string[]; missing: string[] };
  busyboxApplets: number;
  libraries: string[];
  agent: Array<{ path: string; sha256: string }>;
  /** The native probe (LLDP capture, BMC LAN address), from native/build. */
  probe: { path: string; sha256: string; sizeBytes: number };
  /** sha256 over every input (packages, module list, agent files, probe, mtime): equal here ⇒ equal initrd. */
  inputsSha256: string;
}

/** Packages the discovery OS is made of besides the kernel and the shared libraries they pull in. */
const USERLAND = ['busybox-static', 'dropbear-bin', 'openssh-sftp-server'] as const;

/** native/build/bootrack-probe next to this installation (from src/ with tsx and from dist/). */
export function defaultProbeFile(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'native', 'build.sh'))) return join(dir, 'native', 'build', 'bootrack-probe');
    dir = dirname(dir);
  }
  throw new BootrackError('IMAGE_BUILD_FAILED', 'cannot find native/ next to this bootrack installation; run `npm run build` in the checkout', {});
}

/** Finds boot/agent by walking up from this file (works from src/ with tsx and from dist/). */
export function defaultAgentDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'boot', 'agent');
    if (existsSync(join(candidate, 'init'))) return candidate;
    dir = dirname(dir);
  }
  throw new BootrackError('IMAGE_BUILD_FAILED', 'cannot find boot/agent next to this bootrack installation; pass --agent-dir', {});
}

function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Builds the discovery OS: the Debian kernel (vmlinuz as shipped) and a gzip'd newc initramfs with
 * busybox, dropbear, the kernel modules a rack needs (dependency-ordered) and the bootrack agent.
 * Writes vmlinuz, initrd.img and manifest.json into `outDir`, each by rename, so a reader never sees
 * half a file.
 */
export async function buildDiscoveryImage(opts: BuildOptions): Promise<ImageManifest> {
  const clock = opts.clock ?? systemClock;
  const t0 = Date.now();
  const log = opts.logger.child({ part: 'image' });
  const progress = (line: string): void => {
    log.info({}, line);
    opts.progress?.(line);
  };
  const agentDir = opts.agentDir ?? defaultAgentDir();
  const probeFile = opts.probeFile ?? defaultProbeFile();
  // Checked first: a missing probe should not cost a kernel download to find out.
  if (!existsSync(probeFile)) throw new BootrackError('IMAGE_BUILD_FAILED', `the discovery probe ${probeFile} is missing: run \`npm run build\` (native/build.sh compiles it)`, { path: probeFile });
  mkdirSync(opts.cacheDir, { recursive: true });

  progress(`resolving ${opts.kernelPackage}`);
  const kernelName = await resolveKernelPackage(opts.kernelPackage, opts);
  const wanted = await candidates([kernelName, ...USERLAND], opts);
  progress(`fetching ${kernelName} ${wanted.get(kernelName)!.version} (cached in ${opts.cacheDir}; the first unpack takes a while)`);
  const kernel = await fetchDeb(wanted.get(kernelName)!, opts.cacheDir, opts);
  progress(`fetching ${USERLAND.join(', ')} and their libraries`);
  const userland = new Map<string, DebPackage>();
  for (const name of USERLAND) userland.set(name, await fetchDeb(wanted.get(name)!, opts.cacheDir, opts));
  const libs = await fetchLibraryClosure([...userland.values()], opts);

  const modules = openModuleTree(kernel.root);
  const plan = planModules(modules, opts.modules);
  progress(`kernel ${modules.release}: ${plan.order.length} modules to load, ${plan.builtin.length} built in, ${plan.missing.length} missing${plan.missing.length ? ` (${plan.missing.join(', ')})` : ''}`);
  if (plan.missing.length) log.warn({ missing: plan.missing, kernel: kernelName }, 'this kernel lacks requested modules');

  const tree = new RootTree();
  addSkeleton(tree);
  const applets = await addBusybox(tree, userland.get('busybox-static')!);
  const dropbear = userland.get('dropbear-bin')!;
  const sftp = userland.get('openssh-sftp-server')!;
  const libraries = await addPrograms(
    tree,
    [
      { from: join(dropbear.root, 'usr/sbin/dropbear'), to: 'usr/sbin/dropbear' },
      { from: join(dropbear.root, 'usr/bin/dropbearkey'), to: 'usr/bin/dropbearkey' },
      // dropbear runs /usr/lib/openssh/sftp-server for SFTP sessions (Debian's SFTPSERVER_PATH).
      { from: join(sftp.root, 'usr/lib/openssh/sftp-server'), to: 'usr/lib/openssh/sftp-server' },
    ],
    libs,
  );
  const moduleBytes = addModules(tree, modules, plan);
  const agentFiles = addAgent(tree, agentDir);
  const probe = addProbe(tree, probeFile);
  const packages = [kernel, ...userland.values(), ...libs].map((p) => ({ name: p.name, version: p.version, sha256: p.sha256 })).sort((a, b) => a.name.localeCompare(b.name));
  tree.file(ROOTFS_PATHS.release, Buffer.from(`kernel=${modules.release}\n${packages.map((p) => `${p.name}=${p.version}`).join('\n')}\n`));
  progress(`packing initramfs: ${tree.entries().length} entries, ${(tree.contentBytes() / 1048576).toFixed(1)} MiB (modules ${(moduleBytes / 1048576).toFixed(1)} MiB)`);

  const mtime = opts.mtime ?? 0;
  const entries = tree.entries();
  const cpio = encodeNewc(entries, { mtime });
  // Node's gzip writes mtime 0 and a fixed OS byte in the header, so equal input gives equal output.
  // Level 6: within 1 % of level 9 on this payload and about 5× faster.
  const initrd = await gzipAsync(cpio, { level: 6 });
  progress(`initrd.img ${(initrd.length / 1048576).toFixed(1)} MiB gzip (${(cpio.length / 1048576).toFixed(1)} MiB cpio)`);

  mkdirSync(opts.outDir, { recursive: true });
  const tmp = (name: string): string => join(opts.outDir, `.${name}.tmp-${process.pid}`);
  const vmlinuzSrc = join(kernel.root, 'boot', `vmlinuz-${modules.release}`);
  if (!existsSync(vmlinuzSrc)) throw new BootrackError('IMAGE_BUILD_FAILED', `${kernelName} has no boot/vmlinuz-${modules.release}`, { package: kernelName });
  copyFileSync(vmlinuzSrc, tmp('vmlinuz'));
  writeFileSync(tmp('initrd.img'), initrd);
  const vmlinuzSha = await sha256File(tmp('vmlinuz'));

  const inputsSha256 = sha256(
    JSON.stringify({ packages, modules: plan.order, agent: agentFiles.map((f) => [f.path, sha256(f.bytes)]), probe: sha256(probe), mtime, schema: MANIFEST_SCHEMA }),
  );
  const manifest: ImageManifest = {
    schema: MANIFEST_SCHEMA,
    builtAt: clock.now().toISOString(),
    buildMs: Date.now() - t0,
    kernel: { package: kernelName, version: kernel.version, release: modules.release, meta: opts.kernelPackage },
    packages,
    outputs: {
      vmlinuz: { file: 'vmlinuz', sizeBytes: statSync(tmp('vmlinuz')).size, sha256: vmlinuzSha },
      initrd: { file: 'initrd.img', sizeBytes: initrd.length, sha256: sha256(initrd) },
    },
    initrd: { entries: entries.length, contentBytes: tree.contentBytes(), compression: 'gzip' },
    modules: {
      requested: plan.requested,
      loadOrder: plan.order.map((m) => m.name),
      pciGated: plan.order.filter((m) => m.pciGate.length > 0).map((m) => m.name),
      builtin: plan.builtin,
      missing: plan.missing,
    },
    busyboxApplets: applets.length,
    libraries,
    agent: agentFiles.map((f) => ({ path: f.path, sha256: sha256(f.bytes) })),
    probe: { path: `/${PROBE_PATH}`, sha256: sha256(probe), sizeBytes: probe.length },
    inputsSha256,
  };
  writeFileSync(tmp('manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  renameSync(tmp('vmlinuz'), join(opts.outDir, 'vmlinuz'));
  renameSync(tmp('initrd.img'), join(opts.outDir, 'initrd.img'));
  renameSync(tmp('manifest.json'), join(opts.outDir, 'manifest.json'));
  progress(`wrote ${opts.outDir}/{vmlinuz,initrd.img,manifest.json} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  log.info({ outDir: opts.outDir, kernel: modules.release, initrdSha256: manifest.outputs.initrd.sha256 }, 'discovery image built');
  return manifest;
}


/**
 * The shared-library packages the userland needs: a walk of Depends restricted to library packages
 * (lib*, zlib*), which is what dropbear and sftp-server link against. `ldd` later picks the files.
 */
async function fetchLibraryClosure(roots: DebPackage[], opts: BuildOptions): Promise<DebPackage[]> {
  const isLib = (n: string): boolean => /^(lib|zlib)/.test(n);
  const seen = new Map<string, DebPackage>();
  let level = [...new Set(roots.flatMap((r) => r.depends).filter(isLib))];
  for (let depth = 0; level.length > 0; depth++) {
    if (depth > 8) throw new BootrackError('IMAGE_BUILD_FAILED', 'library dependency walk deeper than 8 levels', { seen: [...seen.keys()] });
    const found = await candidates(level, opts);
    const next: string[] = [];
    for (const name of level) {
      const pkg = await fetchDeb(found.get(name)!, opts.cacheDir, opts);
      seen.set(name, pkg);
      next.push(...pkg.depends.filter((d) => isLib(d) && !seen.has(d)));
    }
    level = [...new Set(next)].filter((n) => !seen.has(n));
  }
  return [...seen.values()].sort((a, b) => a.name.localeCompare(b.name));
}
