import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkTftpName, resolveUnderRoot } from './tftp-paths.js';

describe('checkTftpName', () => {
  it.each([
    ['undionly.kpxe', 'undionly.kpxe'],
    ['pxelinux.cfg\\default', 'pxelinux.cfg/default'],
    ['./a//b/./c', 'a/b/c'],
    ['arm64-efi/ipxe.efi', 'arm64-efi/ipxe.efi'],
  ])('accepts %j as %j', (name, rel) => {
    expect(checkTftpName(name)).toEqual({ ok: true, relative: rel });
  });

  it.each([
    ['', 'empty'],
    ['./', 'empty'],
    ['../etc/passwd', 'dot-dot'],
    ['a/../../b', 'dot-dot'],
    ['..\\..\\windows', 'dot-dot'],
    ['a\\..\\b', 'dot-dot'],
    ['/etc/passwd', 'absolute'],
    ['\\etc\\passwd', 'absolute'],
    ['C:\\boot.ini', 'absolute'],
    ['%2e%2e/x', 'percent-encoding'],
    ['%2E%2E%5Cx', 'percent-encoding'],
    ['a\0b', 'nul'],
    ['a\x01b', 'control-character'],
    ['a\nb', 'control-character'],
  ])('refuses %j (%s)', (name, reason) => {
    expect(checkTftpName(name)).toEqual({ ok: false, reason });
  });
});

describe('resolveUnderRoot', () => {
  const base = mkdtempSync(join(tmpdir(), 'bootrack-paths-'));
  const root = join(base, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(base, 'outside'));
  writeFileSync(join(root, 'sub', 'f'), 'x');
  writeFileSync(join(base, 'outside', 'secret'), 's');
  symlinkSync('../outside/secret', join(root, 'out'));
  symlinkSync('../outside', join(root, 'outdir'));
  symlinkSync('sub/f', join(root, 'in'));
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('follows symlinks that stay inside, refuses those that leave', async () => {
    expect(await resolveUnderRoot(root, 'in')).toMatchObject({ kind: 'file' });
    expect(await resolveUnderRoot(root, 'out')).toEqual({ kind: 'refused', reason: 'symlink-escape' });
    expect(await resolveUnderRoot(root, 'outdir/secret')).toEqual({ kind: 'refused', reason: 'symlink-escape' });
    expect(await resolveUnderRoot(root, 'missing')).toEqual({ kind: 'missing' });
    expect(await resolveUnderRoot(root, 'sub')).toEqual({ kind: 'refused', reason: 'not-a-file' });
  });

  it('allows an escaping symlink only to an exactly listed target', async () => {
    const target = join(base, 'outside', 'secret');
    expect(await resolveUnderRoot(root, 'out', [target])).toMatchObject({ kind: 'file', path: target });
    expect(await resolveUnderRoot(root, 'outdir/secret', [join(base, 'outside')])).toEqual({ kind: 'refused', reason: 'symlink-escape' });
  });
});
