import { describe, expect, it } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import { compileTemplate, escapeIpxe, loadIpxeTemplates } from '../../src/netboot/ipxe-template.js';
import { archFromBuildarch, chooseFirmware, scriptKindFor } from '../../src/netboot/ipxe.js';
import { MACHINE_STATES } from '../../src/registry/index.js';
import { notModified, parseRange, rangeStillValid } from '../../src/servers/http/range.js';
import { safeRelativePath } from '../../src/servers/http/safe-path.js';

const codeOf = (fn: () => unknown): string | null => {
  try {
    fn();
    return null;
  } catch (err) {
    return isBootrackError(err) ? err.code : 'not a BootrackError';
  }
};

describe('iPXE template renderer (logic-less, escaped)', () => {
  it('substitutes values and renders sections by boolean; standalone section lines vanish', () => {
    const t = compileTemplate('t', '#!ipxe\n{{#a}}\nA {{x}}\n{{/a}}\n{{^a}}\nnot A\n{{/a}}\nend\n');
    expect(t.render({ a: true, x: 'v1' })).toBe('#!ipxe\nA v1\nend\n');
    expect(t.render({ a: false, x: 'v1' })).toBe('#!ipxe\nnot A\nend\n');
  });

  it('refuses values that would change the iPXE script: expansion, quotes, newlines, operators', () => {
    for (const v of ['${net0/mac}', 'a"b', "a'b", 'a\\b', 'a\nchain http://evil', 'x || shell', 'x && shell', 'x ; shell', '\u0000']) {
      expect(codeOf(() => escapeIpxe('cmdline', v)), JSON.stringify(v)).toBe('VALIDATION_FAILED');
    }
    expect(escapeIpxe('cmdline', 'console=ttyS0,115200 ip=dhcp a=b&c=d')).toBe('console=ttyS0,115200 ip=dhcp a=b&c=d');
  });

  it('template bugs are errors, never silent: missing values, wrong types, unbalanced sections', () => {
    expect(codeOf(() => compileTemplate('t', '{{x}}').render({}))).toBe('INTERNAL');
    expect(codeOf(() => compileTemplate('t', '{{#x}}y{{/x}}').render({ x: 'str' }))).toBe('INTERNAL');
    expect(codeOf(() => compileTemplate('t', '{{#x}}y'))).toBe('INTERNAL');
    expect(codeOf(() => compileTemplate('t', 'y{{/x}}'))).toBe('INTERNAL');
    expect(codeOf(() => compileTemplate('t', 'a {{ x y }} b'))).toBe('INTERNAL');
  });

  it('the shipped templates compile', () => {
    const t = loadIpxeTemplates();
    expect(Object.keys(t).sort()).toEqual(['deploy', 'discovery', 'local']);
  });
});

describe('boot policy tables', () => {
  it('every state has a script kind; only new/commissioning discover and only deploying deploys', () => {
    const kinds = Object.fromEntries(MACHINE_STATES.map((s) => [s, scriptKindFor(s)]));
    expect(Object.entries(kinds).filter(([, k]) => k === 'discovery').map(([s]) => s)).toEqual(['new', 'commissioning']);
    expect(Object.entries(kinds).filter(([, k]) => k === 'deploy').map(([s]) => s)).toEqual(['deploying']);
  });

  it('firmware: iPXE ${platform} wins over the record; unknown asks iPXE', () => {
    expect(chooseFirmware({ firmware: 'bios' }, 'efi')).toBe('uefi');
    expect(chooseFirmware({ firmware: 'uefi' }, null)).toBe('uefi');
    expect(chooseFirmware({ firmware: null }, 'weird')).toBe('auto');
    expect(archFromBuildarch('i386')).toBeNull();
    expect(archFromBuildarch('x86_64')).toBe('amd64');
  });
});

describe('Range and conditionals (RFC 9110)', () => {
  const size = 1000;
  it('parses single ranges, suffixes, open ends; ignores junk and multi-ranges; 416 past the end', () => {
    expect(parseRange(undefined, size)).toEqual({ kind: 'full' });
    expect(parseRange('bytes=0-0', size)).toEqual({ kind: 'partial', start: 0, end: 0 });
    expect(parseRange('bytes=10-', size)).toEqual({ kind: 'partial', start: 10, end: 999 });
    expect(parseRange('bytes=-10', size)).toEqual({ kind: 'partial', start: 990, end: 999 });
    expect(parseRange('bytes=-5000', size)).toEqual({ kind: 'partial', start: 0, end: 999 });
    expect(parseRange('bytes=990-5000', size)).toEqual({ kind: 'partial', start: 990, end: 999 });
    expect(parseRange('bytes=0-1,5-6', size)).toEqual({ kind: 'full' });
    expect(parseRange('items=0-1', size)).toEqual({ kind: 'full' });
    expect(parseRange('bytes=5-1', size)).toEqual({ kind: 'full' });
    expect(parseRange('bytes=1000-', size)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-0', size)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
  });

  it('If-None-Match beats If-Modified-Since; If-Range needs a strong match or the exact date', () => {
    const v = { etag: '"abc"', mtimeSeconds: 1_700_000_000 };
    const date = new Date(v.mtimeSeconds * 1000).toUTCString();
    expect(notModified({ ifNoneMatch: 'W/"abc"' }, v)).toBe(true);
    expect(notModified({ ifNoneMatch: '"zzz"', ifModifiedSince: date }, v)).toBe(false);
    expect(notModified({ ifModifiedSince: date }, v)).toBe(true);
    expect(notModified({ ifModifiedSince: 'garbage' }, v)).toBe(false);
    expect(rangeStillValid('"abc"', v)).toBe(true);
    expect(rangeStillValid('W/"abc"', v)).toBe(false);
    expect(rangeStillValid(date, v)).toBe(true);
    expect(rangeStillValid(new Date((v.mtimeSeconds + 1) * 1000).toUTCString(), v)).toBe(false);
  });
});

describe('safeRelativePath', () => {
  it('accepts plain relative paths, decoding once', () => {
    expect(safeRelativePath('/vmlinuz?mac=52-54')).toBe('vmlinuz');
    expect(safeRelativePath('/arm64-efi/ipxe.efi')).toBe('arm64-efi/ipxe.efi');
    expect(safeRelativePath('/a%20b.txt')).toBe('a b.txt');
    // Decoded once: %252e stays the literal name "%2e", which is no dot segment.
    expect(safeRelativePath('/%252e%252e')).toBe('%2e%2e');
  });
  it.each(['/../x', '/a/../../x', '/..%2fx', '/%2e%2e/x', '/%2E%2E%2Fx', '//etc/passwd', '/%2fetc', '/a%00b', '/a\\b', '/..%5cx', '/%zz', '/', '/.git/config', 'relative'])('refuses %s', (p) => {
    expect(codeOf(() => safeRelativePath(p))).toBe('PATH_REFUSED');
  });
});
