import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BootrackError } from '../common/errors.js';
import { lastLines, run, runOk } from './exec.js';

/**
 * Debian packages, fetched with `apt-get download` and unpacked with `dpkg-deb -x` into a cache
 * directory. Nothing is ever installed on the host.
 */

export interface DebPackage {
  name: string;
  version: string;
  /** The .deb in the cache. */
  file: string;
  sha256: string;
  /** Where `dpkg-deb -x` unpacked it. */
  root: string;
  depends: string[];
}

export interface AptOptions {
  /** Extra `-o Key=Value` settings for apt-get/apt-cache (tests point the proxy at a closed port). */
  aptOptions?: readonly string[];
}

export interface Candidate {
  name: string;
  version: string;
  /** The file name `apt-get download` writes. */
  filename: string;
  sha256: string;
  depends: string[];
}

function aptArgs(opts: AptOptions): string[] {
  return (opts.aptOptions ?? []).flatMap((o) => ['-o', o]);
}

/**
 * `apt-cache show` of the candidate versions, in one call (apt-cache is slow to start). A name apt
 * does not know is IMAGE_PACKAGE_MISSING naming every such package.
 */
export async function candidates(names: readonly string[], opts: AptOptions = {}): Promise<Map<string, Candidate>> {
  const wanted = [...new Set(names)];
  const out = new Map<string, Candidate>();
  if (wanted.length === 0) return out;
  const r = await run('apt-cache', [...aptArgs(opts), 'show', '--no-all-versions', ...wanted]);
  for (const stanza of r.stdout.split(/\n\s*\n/)) {
    const field = (key: string): string => new RegExp(`^${key}: (.*)$`, 'm').exec(stanza)?.[1]?.trim() ?? '';
    const name = field('Package');
    if (!wanted.includes(name) || out.has(name)) continue;
    const depends = [field('Pre-Depends'), field('Depends')]
      .join(',')
      .split(',')
      .map((alt) => alt.split('|')[0]!.trim().split(/[\s(:]/)[0]!)
      .filter((d) => d !== '');
    const version = field('Version');
    // apt-get download names the file <name>_<version with ':' as %3a>_<arch>.deb (the pool name has no epoch).
    const arch = /_([a-z0-9]+)\.deb$/.exec(basename(field('Filename')))?.[1] ?? field('Architecture');
    out.set(name, { name, version, filename: `${name}_${version.replace(':', '%3a')}_${arch}.deb`, sha256: field('SHA256'), depends });
  }
  const missing = wanted.filter((n) => !out.has(n));
  if (missing.length) {
    throw new BootrackError(
      'IMAGE_PACKAGE_MISSING',
      `apt does not know the package${missing.length > 1 ? 's' : ''} ${missing.join(', ')}${r.stderr.trim() ? ` (${lastLines(r.stderr)})` : ''}; is the Debian 12 archive in sources.list and has apt-get update run?`,
      { packages: missing },
    );
  }
  return out;
}

/** A meta package such as linux-image-amd64 names the versioned image package in its Depends. */
export async function resolveKernelPackage(name: string, opts: AptOptions = {}): Promise<string> {
  if (/^linux-image-\d/.test(name)) return name;
  const meta = (await candidates([name], opts)).get(name)!;
  const real = meta.depends.find((d) => /^linux-image-\d/.test(d));
  if (!real) throw new BootrackError('IMAGE_PACKAGE_MISSING', `${name} does not depend on a versioned linux-image-* package`, { package: name, depends: meta.depends });
  return real;
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/**
 * Downloads (or reuses from `cacheDir/debs`) the candidate .deb of `name`, checks its SHA256 against
 * apt's index, and unpacks it once into `cacheDir/unpacked/<file>`.
 */
export async function fetchDeb(c: Candidate, cacheDir: string, opts: AptOptions = {}): Promise<DebPackage> {
  const name = c.name;
  const debDir = join(cacheDir, 'debs');
  mkdirSync(debDir, { recursive: true });
  const file = join(debDir, c.filename);
  let sha = existsSync(file) ? await sha256File(file) : '';
  if (sha === '' || (c.sha256 !== '' && sha !== c.sha256)) {
    rmSync(file, { force: true });
    const r = await run('apt-get', [...aptArgs(opts), 'download', `${name}=${c.version}`], { cwd: debDir });
    if (r.code !== 0 || !existsSync(file)) {
      const text = r.stderr + r.stdout;
      if (/Unable to locate|Can't find|No packages found|has no installation candidate/.test(text)) {
        throw new BootrackError('IMAGE_PACKAGE_MISSING', `apt-get cannot find ${name}=${c.version}: ${lastLines(text)}`, { package: name, version: c.version });
      }
      throw new BootrackError('IMAGE_FETCH_FAILED', `could not download ${name} ${c.version} from the Debian archive: ${lastLines(text)}`, { package: name, version: c.version });
    }
    sha = await sha256File(file);
    if (c.sha256 !== '' && sha !== c.sha256) {
      throw new BootrackError('IMAGE_FETCH_FAILED', `${c.filename} has sha256 ${sha}, apt's index says ${c.sha256}`, { package: name });
    }
  }
  const root = join(cacheDir, 'unpacked', c.filename.replace(/\.deb$/, ''));
  if (!existsSync(join(root, '.bootrack-unpacked'))) {
    const tmp = `${root}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    await runOk('dpkg-deb', ['-x', file, tmp]);
    writeFileSync(join(tmp, '.bootrack-unpacked'), `${name} ${c.version}\n`);
    rmSync(root, { recursive: true, force: true });
    renameSync(tmp, root);
  }
  return { name, version: c.version, file, sha256: sha, root, depends: c.depends };
}
