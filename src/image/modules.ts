import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { BootrackError } from '../common/errors.js';

/**
 * Kernel modules and their load order. The Debian .deb ships no modules.dep (depmod runs at install
 * time, which we never do) and the host may have no kmod, so dependencies come from each module's
 * own `.modinfo` ELF section: `depends=a,b` and `softdep=pre: c`.
 */

/** Module names treat '-' and '_' alike (kmod does the same). */
export function moduleName(fileOrName: string): string {
  return fileOrName.replace(/^.*\//, '').replace(/\.ko(\.(xz|gz|zst))?$/, '').replaceAll('-', '_');
}

/** The `.modinfo` strings (key=value, NUL-separated) of an ELF64 little-endian object. */
export function readModinfo(elf: Buffer): Array<[string, string]> {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
    throw new RangeError('not an ELF64 little-endian object');
  }
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  if (shoff + shnum * shentsize > elf.length || shstrndx >= shnum) throw new RangeError('ELF section table out of bounds');
  const section = (i: number): { name: number; offset: number; size: number } => {
    const at = shoff + i * shentsize;
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 24)), size: Number(elf.readBigUInt64LE(at + 32)) };
  };
  const strtab = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameEnd = elf.indexOf(0, strtab.offset + s.name);
    if (elf.toString('latin1', strtab.offset + s.name, nameEnd) !== '.modinfo') continue;
    if (s.offset + s.size > elf.length) throw new RangeError('.modinfo out of bounds');
    return elf
      .toString('utf8', s.offset, s.offset + s.size)
      .split('\0')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]);
  }
  return [];
}

export interface ModuleTree {
  release: string;
  /** /lib/modules/<release> in the unpacked kernel package. */
  dir: string;
  /** module name → path relative to `dir` (kernel/drivers/…/x.ko). */
  files: Map<string, string>;
  /** Modules compiled into the kernel (modules.builtin). */
  builtin: Set<string>;
}

export function openModuleTree(kernelRoot: string): ModuleTree {
  const base = join(kernelRoot, 'lib', 'modules');
  const releases = existsSync(base) ? readdirSync(base) : [];
  if (releases.length !== 1) throw new BootrackError('IMAGE_BUILD_FAILED', `expected one kernel release under ${base}, found ${releases.length}`, { dir: base });
  const release = releases[0]!;
  const dir = join(base, release);
  const files = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.ko(\.(xz|gz|zst))?$/.test(e.name)) files.set(moduleName(e.name), relative(dir, p));
    }
  };
  walk(join(dir, 'kernel'));
  const builtinFile = join(dir, 'modules.builtin');
  const builtin = new Set(existsSync(builtinFile) ? readFileSync(builtinFile, 'utf8').split('\n').filter(Boolean).map(moduleName) : []);
  return { release, dir, files, builtin };
}

export interface PlannedModule {
  name: string;
  /** Relative to /lib/modules/<release>. */
  path: string;
  /** Direct dependencies, all earlier in the order. */
  deps: string[];
  /** `pci:` modalias patterns when every alias of a requested module is a PCI one; else empty. */
  pciGate: string[];
  /** Requested (not only pulled in as a dependency). */
  requested: boolean;
}

export interface ModulePlan {
  /** Load order: every module after all of its dependencies. */
  order: PlannedModule[];
  requested: string[];
  /** Requested and compiled into the kernel: nothing to load. */
  builtin: string[];
  /** Requested but neither a module nor built in: this kernel cannot drive that hardware. */
  missing: string[];
}

/** Dependency closure of the requested modules in a deterministic topological order. */
export function planModules(tree: ModuleTree, requested: readonly string[]): ModulePlan {
  const order: PlannedModule[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const builtin: string[] = [];
  const missing: string[] = [];
  const wanted = [...new Set(requested.map(moduleName))];
  const pciOnlyAliases = new Map<string, string[]>();
  const info = (path: string): Array<[string, string]> => {
    if (!path.endsWith('.ko')) throw new BootrackError('IMAGE_BUILD_FAILED', `compressed module ${path} is not supported (the kernel must use MODULE_COMPRESS_NONE)`, { path });
    return readModinfo(readFileSync(join(tree.dir, path)));
  };
  const deps = (info: Array<[string, string]>): string[] => {
    const out: string[] = [];
    for (const [k, v] of info) {
      if (k === 'depends') out.push(...v.split(',').filter(Boolean));
      // softdep=pre: a b post: c — the "pre" ones must be loaded first (e.g. crc32c for some drivers).
      if (k === 'softdep') {
        const pre = /pre:\s*([^:]*?)(\s+post:|$)/.exec(v)?.[1] ?? '';
        out.push(...pre.split(/\s+/).filter(Boolean));
      }
    }
    return [...new Set(out.map(moduleName))].sort();
  };
  const visit = (name: string, chain: string[]): string | undefined => {
    if (state.get(name) === 'done') return name;
    if (state.get(name) === 'visiting') throw new BootrackError('IMAGE_BUILD_FAILED', `module dependency cycle: ${[...chain, name].join(' → ')}`, { chain });
    // A softdep may name a crypto algorithm ("crc32c"), provided by <alg>_generic (an alias real
    // modprobe resolves through modules.alias, which the .deb does not ship).
    const path = tree.files.get(name) ?? tree.files.get(`${name}_generic`);
    if (path === undefined) return undefined; // built in, or an optional softdep this kernel lacks
    name = moduleName(path);
    if (state.get(name) === 'done') return name;
    state.set(name, 'visiting');
    const modinfo = info(path);
    const resolved: string[] = [];
    for (const d of deps(modinfo)) {
      const r = visit(d, [...chain, name]);
      if (r !== undefined && !resolved.includes(r)) resolved.push(r);
    }
    state.set(name, 'done');
    const aliases = modinfo.filter(([k]) => k === 'alias').map(([, v]) => v);
    const pci = aliases.filter((a) => a.startsWith('pci:')).sort();
    // A driver can be skipped when no PCI device matches only if PCI is its one way in: its other
    // aliases are old module names (mpt2sas, cciss) or auxiliary devices it creates itself (mlx5_core).
    // Anything else (virtio bus, SCSI, ACPI/platform like ipmi_si) is always loaded.
    const pciOnly = pci.length > 0 && aliases.every((a) => a.startsWith('pci:') || !a.includes(':') || a.startsWith(`auxiliary:${name}.`));
    pciOnlyAliases.set(name, pciOnly ? pci : []);
    const isRequested = wanted.includes(name);
    // A driver with no aliases of its own that sits on a PCI-only driver (mlx4_en on mlx4_core) follows it.
    const inherited = aliases.length === 0 ? resolved.flatMap((d) => pciOnlyAliases.get(d) ?? []) : [];
    const pciGate = isRequested ? (pciOnly ? pci : inherited) : [];
    order.push({ name, path, deps: resolved.sort(), pciGate, requested: isRequested });
    return name;
  };
  for (const name of wanted) {
    if (tree.files.has(name)) visit(name, []);
    else if (tree.builtin.has(name)) builtin.push(name);
    else missing.push(name);
  }
  return { order, requested: wanted, builtin: builtin.sort(), missing: missing.sort() };
}
