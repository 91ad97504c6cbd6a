import { describe, expect, it } from 'vitest';
import { S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG, decodeNewc, encodeNewc, newcLength, normalizeCpioPath, type CpioEntry } from './newc.js';

// Pure round-trip tests. The GNU cpio oracle tests (which need child_process) live in test/image/cpio-gnu.test.ts.

const sample: CpioEntry[] = [
  { kind: 'dir', path: 'bin' },
  { kind: 'file', path: 'bin/busybox', mode: 0o755, data: Buffer.from('\x7fELF pretend') },
  { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
  { kind: 'dir', path: 'dev' },
  { kind: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 },
  { kind: 'file', path: 'empty', data: new Uint8Array(0) },
  { kind: 'file', path: 'init', mode: 0o755, data: Buffer.from('#!/bin/sh\necho hi\n') },
];

describe('newc writer', () => {
  it('round-trips names, modes, contents, device numbers and fixed owner/mtime', () => {
    const bytes = encodeNewc(sample, { mtime: 1234567890 });
    const back = decodeNewc(bytes);
    expect(back.map((r) => r.name)).toEqual(sample.map((e) => e.path));
    expect(back.map((r) => r.ino)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    for (const r of back) {
      expect([r.uid, r.gid, r.mtime]).toEqual([0, 0, 1234567890]);
    }
    const byName = new Map(back.map((r) => [r.name, r]));
    expect(byName.get('bin')!.mode).toBe(S_IFDIR | 0o755);
    expect(byName.get('bin')!.nlink).toBe(2);
    expect(byName.get('bin/busybox')!.mode).toBe(S_IFREG | 0o755);
    expect(Buffer.from(byName.get('bin/busybox')!.data).toString()).toBe('\x7fELF pretend');
    expect(byName.get('bin/sh')!.mode).toBe(S_IFLNK | 0o777);
    expect(Buffer.from(byName.get('bin/sh')!.data).toString()).toBe('busybox');
    expect(byName.get('dev/console')!.mode).toBe(S_IFCHR | 0o600);
    expect([byName.get('dev/console')!.rdevMajor, byName.get('dev/console')!.rdevMinor]).toEqual([5, 1]);
    expect(byName.get('empty')!.data.length).toBe(0);
    expect(byName.get('init')!.mode).toBe(S_IFREG | 0o755);
  });

  it('length function equals bytes written; the archive and every data start are 4-byte aligned', () => {
    for (let n = 0; n < 9; n++) {
      const entries: CpioEntry[] = [{ kind: 'file', path: 'a'.repeat(n + 1), data: Buffer.alloc(n, 0x61) }];
      const bytes = encodeNewc(entries);
      expect(bytes.length).toBe(newcLength(entries));
      expect(bytes.length % 4).toBe(0);
      // name "a…a\0" follows the 110-byte header; data begins at the next multiple of 4
      const dataStart = Math.ceil((110 + n + 2) / 4) * 4;
      expect(bytes.subarray(dataStart, dataStart + n).toString()).toBe('a'.repeat(n));
    }
    expect(encodeNewc(sample).length).toBe(newcLength(sample));
  });

  it('ends with the TRAILER!!! record and is byte-identical when encoded twice', () => {
    const a = encodeNewc(sample, { mtime: 7 });
    const b = encodeNewc(sample, { mtime: 7 });
    expect(a.equals(b)).toBe(true);
    expect(a.toString('latin1')).toContain('TRAILER!!!\0');
    expect(a.subarray(0, 6).toString()).toBe('070701');
  });

  it('re-encoding decoded records gives the same bytes', () => {
    const bytes = encodeNewc(sample, { mtime: 99 });
    const again = decodeNewc(bytes).map((r): CpioEntry => {
      const type = r.mode & 0o170000;
      const perms = r.mode & 0o7777;
      if (type === S_IFDIR) return { kind: 'dir', path: r.name, mode: perms };
      if (type === S_IFLNK) return { kind: 'symlink', path: r.name, target: Buffer.from(r.data).toString() };
      if (type === S_IFCHR) return { kind: 'chardev', path: r.name, mode: perms, major: r.rdevMajor, minor: r.rdevMinor };
      return { kind: 'file', path: r.name, mode: perms, data: r.data };
    });
    expect(encodeNewc(again, { mtime: 99 }).equals(bytes)).toBe(true);
  });

  it('refuses duplicates, escaping paths, the trailer name and bad modes', () => {
    expect(() => encodeNewc([{ kind: 'dir', path: 'a' }, { kind: 'dir', path: './a' }])).toThrow(/duplicate cpio path a/);
    expect(() => encodeNewc([{ kind: 'dir', path: 'a/../../etc' }])).toThrow(/not a clean relative path/);
    expect(() => encodeNewc([{ kind: 'file', path: 'TRAILER!!!', data: new Uint8Array(0) }])).toThrow(/reserved/);
    expect(() => encodeNewc([{ kind: 'file', path: 'x', mode: 0o100644, data: new Uint8Array(0) }])).toThrow(/outside 07777/);
    expect(() => encodeNewc([{ kind: 'symlink', path: 'x', target: '' }])).toThrow(/empty/);
  });

  it('normalizes leading ./ and / the way gen_init_cpio stores names', () => {
    expect(normalizeCpioPath('./bin/sh')).toBe('bin/sh');
    expect(normalizeCpioPath('/init')).toBe('init');
    expect(normalizeCpioPath('.')).toBe('.');
  });

  it('decoder names the offset of malformed input', () => {
    const bytes = encodeNewc(sample);
    expect(() => decodeNewc(bytes.subarray(0, 50))).toThrow(/truncated cpio header at offset 0/);
    const bad = Buffer.from(bytes);
    bad.write('070707', 0, 'ascii');
    expect(() => decodeNewc(bad)).toThrow(/bad cpio magic "070707" at offset 0/);
  });
});
