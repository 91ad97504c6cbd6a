import { execFileSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeNewc, type CpioEntry } from '../../src/protocol/cpio/newc.js';

// GNU cpio is the oracle: what our writer emits must list (-itv) and extract (-idv) exactly as meant.

let work: string;

beforeAll(() => {
  try {
    execFileSync('cpio', ['--version'], { stdio: 'pipe' });
  } catch {
    throw new Error('GNU cpio is required for this test (apt-get install cpio; see scripts/install-deps.sh)');
  }
  work = mkdtempSync(join(tmpdir(), 'bootrack-cpio-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const random = Buffer.alloc(70_001);
for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;

const entries: CpioEntry[] = [
  { kind: 'dir', path: 'bin' },
  { kind: 'file', path: 'bin/busybox', mode: 0o755, data: random },
  { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
  { kind: 'dir', path: 'dev' },
  { kind: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
  { kind: 'dir', path: 'etc', mode: 0o700 },
  { kind: 'file', path: 'etc/empty', data: new Uint8Array(0) },
  { kind: 'file', path: 'etc/odd name with spaces', data: Buffer.from('x') },
  { kind: 'file', path: 'init', mode: 0o755, data: Buffer.from('#!/bin/sh\nexec /bin/sh\n') },
];

describe('newc writer against GNU cpio', () => {
  it('cpio -itv lists every entry with type, permissions, owner root and the fixed mtime', () => {
    const archive = join(work, 'list.cpio');
    writeFileSync(archive, encodeNewc(entries, { mtime: 946684800 })); // 2000-01-01T00:00:00Z
    const listing = execFileSync('cpio', ['-itv', '--quiet', '-F', archive], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC', LC_ALL: 'C' } });
    const lines = listing.trim().split('\n');
    expect(lines).toHaveLength(entries.length);
    // the name is what follows the date ("Jan  1  2000 "), before any " -> target"
    const byName = new Map(lines.map((l) => [l.replace(/ -> .*$/, '').replace(/^.* 2000 /, ''), l]));
    expect(byName.get('bin')).toMatch(/^drwxr-xr-x\s+2 root\s+root\s+0 Jan\s+1\s+2000 bin$/);
    expect(byName.get('bin/busybox')).toMatch(/^-rwxr-xr-x\s+1 root\s+root\s+70001 Jan\s+1\s+2000 bin\/busybox$/);
    expect(byName.get('bin/sh')).toMatch(/^lrwxrwxrwx\s+1 root\s+root\s+7 Jan\s+1\s+2000 bin\/sh -> busybox$/);
    expect(byName.get('dev/console')).toMatch(/^crw-------\s+1 root\s+root\s+5,\s+1 Jan\s+1\s+2000 dev\/console$/);
    expect(byName.get('etc')).toMatch(/^drwx------/);
    expect(byName.get('etc/odd name with spaces')).toMatch(/^-rw-r--r--\s+1 root\s+root\s+1 /);
  });

  it('cpio -idv extracts the same bytes, modes and symlink targets', () => {
    const archive = join(work, 'x.cpio');
    const dest = join(work, 'out');
    writeFileSync(archive, encodeNewc(entries.filter((e) => e.kind !== 'chardev')));
    execFileSync('mkdir', ['-p', dest]);
    const log = execFileSync('cpio', ['-idv', '--quiet', '--no-absolute-filenames', '-F', archive], { cwd: dest, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(log).toBe('');
    expect(readFileSync(join(dest, 'bin/busybox')).equals(random)).toBe(true);
    expect(lstatSync(join(dest, 'bin/busybox')).mode & 0o7777).toBe(0o755);
    expect(readlinkSync(join(dest, 'bin/sh'))).toBe('busybox');
    expect(readFileSync(join(dest, 'etc/empty')).length).toBe(0);
    expect(readFileSync(join(dest, 'init'), 'utf8')).toBe('#!/bin/sh\nexec /bin/sh\n');
    expect(lstatSync(join(dest, 'etc')).mode & 0o7777).toBe(0o700);
    expect(lstatSync(join(dest, 'etc/odd name with spaces')).size).toBe(1);
  });

  it('GNU cpio reads back what GNU cpio itself would have archived (same names and sizes)', () => {
    // Let GNU cpio archive a tree we extracted, then compare its listing to ours, names and sizes only.
    const src = join(work, 'out');
    const theirs = execFileSync('sh', ['-c', 'find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet --owner=0:0 | cpio -it --quiet'], { cwd: src, encoding: 'utf8' });
    const ours = execFileSync('cpio', ['-it', '--quiet', '-F', join(work, 'x.cpio')], { encoding: 'utf8' });
    const norm = (s: string): string[] => s.trim().split('\n').map((l) => l.replace(/^\.\//, '')).sort();
    expect(norm(ours)).toEqual(norm(theirs));
  });
});
