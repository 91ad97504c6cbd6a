import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BootrackError } from '../common/errors.js';
import type { DebPackage } from './debian.js';
import { runOk } from './exec.js';
import type { ModulePlan, ModuleTree } from './modules.js';
import { RootTree } from './tree.js';

/** Where things live inside the discovery OS. The agent scripts rely on these paths. */
export const ROOTFS_PATHS = {
  agentDir: 'usr/lib/bootrack',
  moduleList: 'etc/bootrack/modules.load',
  moduleDeps: 'etc/bootrack/modules.deps',
  modulePci: 'etc/bootrack/modules.pci',
  moduleAlways: 'etc/bootrack/modules.always',
  release: 'etc/bootrack/release',
  libDir: 'lib/x86_64-linux-gnu',
  interpreter: 'lib64/ld-linux-x86-64.so.2',
} as const;

/** The skeleton: directories with the modes dropbear and the kernel expect, and /dev/console. */
export function addSkeleton(tree: RootTree): void {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc/bootrack', 'proc', 'sys', 'dev', 'run', 'var/log', 'mnt', 'lib/modules']) tree.dir(d);
  tree.dir('tmp', 0o1777);
  // dropbear refuses keys in group/world-accessible directories
  tree.dir('root', 0o700).dir('root/.ssh', 0o700).dir('etc/dropbear', 0o700);
  // The kernel opens /dev/console for init's stdio before /init can mount devtmpfs.
  tree.chardev('dev/console', 5, 1, 0o600);
  tree.chardev('dev/null', 1, 3, 0o666);
  tree.file('etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\n'));
  tree.file('etc/group', Buffer.from('root:x:0:\n'));
  tree.file('etc/shells', Buffer.from('/bin/sh\n'));
  tree.file('etc/hostname', Buffer.from('bootrack-discovery\n'));
}

/** busybox-static and a symlink per applet it reports (`busybox --list`), all in /bin. */
export async function addBusybox(tree: RootTree, busybox: DebPackage): Promise<string[]> {
  const bin = join(busybox.root, 'bin', 'busybox');
  if (!existsSync(bin)) throw new BootrackError('IMAGE_BUILD_FAILED', `busybox-static ${busybox.version} has no bin/busybox`, { package: busybox.name });
  tree.file('bin/busybox', readFileSync(bin), 0o755);
  const applets = (await runOk(bin, ['--list'])).split('\n').map((a) => a.trim()).filter((a) => /^[\w.[\]-]+$/.test(a) && a !== 'busybox').sort();
  for (const a of applets) tree.symlink(`bin/${a}`, 'busybox');
  return applets;
}

/**
 * Copies dynamically linked programs and the shared-library closure `ldd` reports, resolved against
 * the unpacked library packages (LD_LIBRARY_PATH), never against the host's own files. Libraries
 * land in /lib/x86_64-linux-gnu; the ELF interpreter is also linked from /lib64, where binaries ask for it.
 */
export async function addPrograms(tree: RootTree, programs: Array<{ from: string; to: string }>, libPackages: DebPackage[]): Promise<string[]> {
  const libDirs = libPackages.flatMap((p) => [join(p.root, 'lib/x86_64-linux-gnu'), join(p.root, 'usr/lib/x86_64-linux-gnu')]).filter((d) => existsSync(d));
  const added = new Set<string>();
  for (const prog of programs) {
    if (!existsSync(prog.from)) throw new BootrackError('IMAGE_BUILD_FAILED', `program ${prog.from} is missing from its unpacked package`, { path: prog.from });
    tree.file(prog.to, readFileSync(prog.from), 0o755);
    const out = await runOk('ldd', [prog.from], { env: { ...process.env, LC_ALL: 'C', LD_LIBRARY_PATH: libDirs.join(':') } });
    for (const line of out.split('\n')) {
      const m = /^\s*(\S+) => (\S+)/.exec(line);
      if (!m) continue;
      const [, soname, resolved] = m as unknown as [string, string, string];
      if (resolved === 'not') throw new BootrackError('IMAGE_BUILD_FAILED', `${basename(prog.from)} needs ${soname}, which none of the fetched library packages provide`, { soname, program: prog.from });
      const local = libDirs.map((d) => join(d, soname)).find((p) => existsSync(p));
      if (!local) throw new BootrackError('IMAGE_BUILD_FAILED', `${soname} (needed by ${basename(prog.from)}) resolved to ${resolved}, not to a fetched package`, { soname, resolved });
      if (added.has(soname)) continue;
      added.add(soname);
      tree.file(`${ROOTFS_PATHS.libDir}/${soname}`, readFileSync(realpathSync(local)), 0o755);
    }
  }
  const ldso = libDirs.map((d) => join(d, 'ld-linux-x86-64.so.2')).find((p) => existsSync(p));
  if (!ldso) throw new BootrackError('IMAGE_BUILD_FAILED', 'the ELF interpreter ld-linux-x86-64.so.2 is not in the fetched libc6', {});
  tree.file(`${ROOTFS_PATHS.libDir}/ld-linux-x86-64.so.2`, readFileSync(realpathSync(ldso)), 0o755);
  tree.symlink(ROOTFS_PATHS.interpreter, `/${ROOTFS_PATHS.libDir}/ld-linux-x86-64.so.2`);
  return [...added, 'ld-linux-x86-64.so.2'].sort();
}

/** The planned modules under /lib/modules/<release>/ and the load order file the agent's /init reads. */
export function addModules(tree: RootTree, modules: ModuleTree, plan: ModulePlan): number {
  let bytes = 0;
  for (const m of plan.order) {
    const data = readFileSync(join(modules.dir, m.path));
    bytes += data.length;
    tree.file(`lib/modules/${modules.release}/${m.path}`, data);
  }
  for (const f of ['modules.builtin', 'modules.order']) {
    const p = join(modules.dir, f);
    if (existsSync(p)) tree.file(`lib/modules/${modules.release}/${f}`, readFileSync(p));
  }
  const lines = (rows: string[]): Buffer => Buffer.from(rows.length ? rows.join('\n') + '\n' : '');
  // Read by /init: load order; direct dependencies; drivers loaded only when a PCI device matches
  // one of their modalias patterns; and the modules loaded whatever the hardware.
  tree.file(ROOTFS_PATHS.moduleList, lines(plan.order.map((m) => `${m.name} /lib/modules/${modules.release}/${m.path}`)));
  tree.file(ROOTFS_PATHS.moduleDeps, lines(plan.order.map((m) => [m.name, ...m.deps].join(' '))));
  tree.file(ROOTFS_PATHS.modulePci, lines(plan.order.flatMap((m) => m.pciGate.map((a) => `${m.name} ${a}`))));
  tree.file(ROOTFS_PATHS.moduleAlways, lines(plan.order.filter((m) => m.requested && m.pciGate.length === 0).map((m) => m.name)));
  return bytes;
}

/** boot/agent: `init` becomes /init; every other file goes to /usr/lib/bootrack/, executable. */
export function addAgent(tree: RootTree, agentDir: string): Array<{ path: string; bytes: Buffer }> {
  if (!existsSync(join(agentDir, 'init'))) throw new BootrackError('IMAGE_BUILD_FAILED', `agent directory ${agentDir} has no init script`, { agentDir });
  const files: Array<{ path: string; bytes: Buffer }> = [];
  for (const name of readdirSync(agentDir).sort()) {
    const src = join(agentDir, name);
    if (!statSync(src).isFile()) continue;
    const bytes = readFileSync(src);
    const dest = name === 'init' ? 'init' : `${ROOTFS_PATHS.agentDir}/${name}`;
    tree.file(dest, bytes, 0o755);
    files.push({ path: `/${dest}`, bytes });
  }
  return files;
}

/** Where the agent finds the native probe (LLDP capture, BMC LAN address). */
export const PROBE_PATH = 'usr/sbin/bootrack-probe';

/**
 * native/build/bootrack-probe (built by `npm run build`): a static ELF, so it needs no loader or
 * library from the image. A missing or dynamically linked file is IMAGE_BUILD_FAILED naming the fix.
 */
export function addProbe(tree: RootTree, probeFile: string): Buffer {
  if (!existsSync(probeFile)) {
    throw new BootrackError('IMAGE_BUILD_FAILED', `the discovery probe ${probeFile} is missing: run \`npm run build\` (native/build.sh compiles it)`, { path: probeFile });
  }
  const elf = readFileSync(probeFile);
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
    throw new BootrackError('IMAGE_BUILD_FAILED', `${probeFile} is not an x86-64 ELF executable; rebuild it with \`npm run build\``, { path: probeFile });
  }
  // PT_INTERP (3) in the program headers means a dynamic executable, which would need ld.so and libc.
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum && phoff + (i + 1) * phentsize <= elf.length; i++) {
    if (elf.readUInt32LE(phoff + i * phentsize) === 3) {
      throw new BootrackError('IMAGE_BUILD_FAILED', `${probeFile} is dynamically linked; the discovery OS needs it static (\`npm run build\` builds it with -static)`, { path: probeFile });
    }
  }
  tree.file(PROBE_PATH, elf, 0o755);
  return elf;
}
