import type { Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';

/**
 * TFTP path safety, pure part: a client name → a relative path with no way out of a root.
 * `\` and `/` are alike (Windows-style names from PXE ROMs), and these are refused, not repaired:
 * `..` segments, absolute names (`/x`, `C:x`), NUL and control characters, and percent-escapes
 * (TFTP names are never URL-encoded: `%2e%2e` is someone trying a decoder we do not have).
 */
export type NameCheck = { ok: true; relative: string } | { ok: false; reason: RefusalReason };
export type RefusalReason = 'empty' | 'nul' | 'control-character' | 'absolute' | 'dot-dot' | 'percent-encoding' | 'symlink-escape' | 'not-a-file';

export function checkTftpName(name: string): NameCheck {
  if (name.length === 0) return { ok: false, reason: 'empty' };
  if (name.includes('\0')) return { ok: false, reason: 'nul' };
  // eslint-disable-next-line no-control-regex
  if (/[\x01-\x1f\x7f]/.test(name)) return { ok: false, reason: 'control-character' };
  if (/%[0-9a-f]{2}/i.test(name)) return { ok: false, reason: 'percent-encoding' };
  const slashed = name.replaceAll('\\', '/');
  if (slashed.startsWith('/') || /^[a-z]:/i.test(slashed)) return { ok: false, reason: 'absolute' };
  const parts = slashed.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return { ok: false, reason: 'dot-dot' };
  if (parts.length === 0) return { ok: false, reason: 'empty' };
  return { ok: true, relative: parts.join('/') };
}

export type Resolved = { kind: 'file'; path: string; size: number; stats: Stats } | { kind: 'missing' } | { kind: 'refused'; reason: RefusalReason };

/**
 * Resolves a checked relative name under `root`, following symlinks only while they stay inside:
 * the realpath of the target must be the real root or below it, or one of `allowedTargets` exactly.
 */
export async function resolveUnderRoot(root: string, relative: string, allowedTargets: readonly string[] = []): Promise<Resolved> {
  // The three lookups run side by side (one thread-pool round trip instead of three on the RRQ path).
  // `relative` has no `..` (checkTftpName), so resolving root/relative gives the same real path as
  // resolving it under the real root; the stat only answers "regular file?" and the size, and the
  // path handed on is the checked realpath either way.
  const joined = join(root, relative);
  const [realRoot, real, st] = await Promise.all([realpath(root).catch(() => null), realpath(joined).catch(() => null), stat(joined).catch(() => null)]);
  if (realRoot === null || real === null) return { kind: 'missing' };
  const inside = real === realRoot || real.startsWith(realRoot.endsWith(sep) ? realRoot : realRoot + sep);
  if (!inside && !allowedTargets.includes(real)) return { kind: 'refused', reason: 'symlink-escape' };
  if (st === null) return { kind: 'missing' };
  if (!st.isFile()) return { kind: 'refused', reason: 'not-a-file' };
  return { kind: 'file', path: real, size: st.size, stats: st };
}
