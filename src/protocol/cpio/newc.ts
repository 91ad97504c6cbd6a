/**
 * The "new ASCII" cpio format (magic 070701, "newc"), the one the Linux kernel unpacks as an
 * initramfs (Documentation/driver-api/early-userspace/buffer-format.rst). Pure: entries in, bytes out.
 *
 * Layout of one entry: a 110-byte header of ASCII hex fields, the NUL-terminated name padded so that
 * header + name ends on a 4-byte boundary, then the data padded to 4 bytes. The archive ends with an
 * entry named `TRAILER!!!`. Owners are always 0:0 and every entry carries the same mtime, so equal
 * entries give equal bytes (reproducible images).
 */

export const NEWC_MAGIC = '070701';
export const NEWC_HEADER_SIZE = 110;
export const NEWC_TRAILER = 'TRAILER!!!';

/** st_mode file-type bits (sys/stat.h). */
export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; mode?: number; data: Uint8Array }
  | { kind: 'symlink'; path: string; target: string }
  | { kind: 'chardev' | 'blockdev'; path: string; mode?: number; major: number; minor: number };

export interface NewcOptions {
  /** Seconds since the epoch stamped on every entry; fixed for reproducible archives. Default 0. */
  mtime?: number;
}

/** A decoded entry, as read back by `decodeNewc` (for round-trip checks). */
export interface NewcRecord {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  name: string;
  data: Uint8Array;
}

const DEFAULT_PERMS = { dir: 0o755, file: 0o644, symlink: 0o777, dev: 0o600 } as const;
const MAX_FIELD = 0xffffffff;

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function hex8(value: number, field: string): string {
  if (!Number.isInteger(value) || value < 0 || value > MAX_FIELD) {
    throw new RangeError(`cpio field ${field}=${value} does not fit in 8 hex digits`);
  }
  return value.toString(16).padStart(8, '0').toUpperCase();
}

/** Names are stored without a leading "/" or "./", the way the kernel's gen_init_cpio writes them. */
export function normalizeCpioPath(path: string): string {
  let p = path;
  while (p.startsWith('./')) p = p.slice(2);
  p = p.replace(/^\/+/, '').replace(/\/+$/, '');
  if (p === '' || p === '.') return '.';
  if (p.split('/').some((seg) => seg === '' || seg === '..')) throw new RangeError(`cpio path ${JSON.stringify(path)} is not a clean relative path`);
  if (p.includes('\0')) throw new RangeError(`cpio path ${JSON.stringify(path)} contains NUL`);
  return p;
}

function modeOf(entry: CpioEntry): number {
  const perms = (m: number | undefined, dflt: number): number => {
    const v = m ?? dflt;
    if ((v & ~0o7777) !== 0) throw new RangeError(`mode ${v.toString(8)} of ${entry.path} has bits outside 07777; give permissions only`);
    return v;
  };
  switch (entry.kind) {
    case 'dir':
      return S_IFDIR | perms(entry.mode, DEFAULT_PERMS.dir);
    case 'file':
      return S_IFREG | perms(entry.mode, DEFAULT_PERMS.file);
    case 'symlink':
      return S_IFLNK | DEFAULT_PERMS.symlink;
    case 'chardev':
      return S_IFCHR | perms(entry.mode, DEFAULT_PERMS.dev);
    case 'blockdev':
      return S_IFBLK | perms(entry.mode, DEFAULT_PERMS.dev);
  }
}

function header(fields: { ino: number; mode: number; nlink: number; mtime: number; fileSize: number; rdevMajor: number; rdevMinor: number; nameSize: number }): string {
  return (
    NEWC_MAGIC +
    hex8(fields.ino, 'ino') +
    hex8(fields.mode, 'mode') +
    hex8(0, 'uid') +
    hex8(0, 'gid') +
    hex8(fields.nlink, 'nlink') +
    hex8(fields.mtime, 'mtime') +
    hex8(fields.fileSize, 'filesize') +
    hex8(0, 'devmajor') +
    hex8(0, 'devminor') +
    hex8(fields.rdevMajor, 'rdevmajor') +
    hex8(fields.rdevMinor, 'rdevminor') +
    hex8(fields.nameSize, 'namesize') +
    hex8(0, 'check')
  );
}

function record(ino: number, mode: number, nlink: number, mtime: number, name: string, data: Uint8Array, rdev: [number, number]): Buffer[] {
  const nameBytes = Buffer.from(name + '\0', 'utf8');
  const head = Buffer.from(header({ ino, mode, nlink, mtime, fileSize: data.length, rdevMajor: rdev[0], rdevMinor: rdev[1], nameSize: nameBytes.length }), 'ascii');
  const out: Buffer[] = [head, nameBytes, Buffer.alloc(pad4(NEWC_HEADER_SIZE + nameBytes.length))];
  if (data.length > 0) out.push(Buffer.from(data.buffer, data.byteOffset, data.length), Buffer.alloc(pad4(data.length)));
  return out;
}

/**
 * Yields the archive piece by piece, in the order given (parents must come before their children;
 * the caller sorts). Inodes are numbered 1, 2, 3… in that order. Duplicate paths are refused.
 */
export function* newcChunks(entries: Iterable<CpioEntry>, options: NewcOptions = {}): Generator<Buffer> {
  const mtime = options.mtime ?? 0;
  hex8(mtime, 'mtime');
  const seen = new Set<string>();
  let ino = 0;
  for (const entry of entries) {
    const name = normalizeCpioPath(entry.path);
    if (name === NEWC_TRAILER) throw new RangeError(`cpio path ${NEWC_TRAILER} is reserved for the trailer`);
    if (seen.has(name)) throw new RangeError(`duplicate cpio path ${name}`);
    seen.add(name);
    ino += 1;
    const mode = modeOf(entry);
    switch (entry.kind) {
      case 'dir':
        yield* record(ino, mode, 2, mtime, name, new Uint8Array(0), [0, 0]);
        break;
      case 'file':
        yield* record(ino, mode, 1, mtime, name, entry.data, [0, 0]);
        break;
      case 'symlink':
        if (entry.target === '' || entry.target.includes('\0')) throw new RangeError(`symlink ${name} has an empty or NUL-bearing target`);
        yield* record(ino, mode, 1, mtime, name, Buffer.from(entry.target, 'utf8'), [0, 0]);
        break;
      case 'chardev':
      case 'blockdev':
        yield* record(ino, mode, 1, mtime, name, new Uint8Array(0), [entry.major, entry.minor]);
        break;
    }
  }
  yield* record(0, 0, 1, 0, NEWC_TRAILER, new Uint8Array(0), [0, 0]);
}

/** The whole archive in one buffer. */
export function encodeNewc(entries: Iterable<CpioEntry>, options: NewcOptions = {}): Buffer {
  return Buffer.concat([...newcChunks(entries, options)]);
}

/** Exact encoded size of an entry list, without building it (length function = bytes written). */
export function newcLength(entries: Iterable<CpioEntry>): number {
  const size = (name: string, dataLen: number): number => {
    const n = Buffer.byteLength(name, 'utf8') + 1;
    return NEWC_HEADER_SIZE + n + pad4(NEWC_HEADER_SIZE + n) + dataLen + pad4(dataLen);
  };
  let total = 0;
  for (const e of entries) {
    const name = normalizeCpioPath(e.path);
    const dataLen = e.kind === 'file' ? e.data.length : e.kind === 'symlink' ? Buffer.byteLength(e.target, 'utf8') : 0;
    total += size(name, dataLen);
  }
  return total + size(NEWC_TRAILER, 0);
}

/** Reads a newc archive back (stops at the trailer). Throws RangeError naming the offset on malformed input. */
export function decodeNewc(bytes: Uint8Array): NewcRecord[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: NewcRecord[] = [];
  let off = 0;
  for (;;) {
    if (off + NEWC_HEADER_SIZE > buf.length) throw new RangeError(`truncated cpio header at offset ${off}`);
    const magic = buf.toString('ascii', off, off + 6);
    if (magic !== NEWC_MAGIC) throw new RangeError(`bad cpio magic ${JSON.stringify(magic)} at offset ${off}`);
    const field = (i: number): number => {
      const text = buf.toString('ascii', off + 6 + i * 8, off + 14 + i * 8);
      if (!/^[0-9A-Fa-f]{8}$/.test(text)) throw new RangeError(`bad cpio hex field ${i} ${JSON.stringify(text)} at offset ${off}`);
      return parseInt(text, 16);
    };
    const [ino, mode, uid, gid, nlink, mtime, fileSize, devMajor, devMinor, rdevMajor, rdevMinor, nameSize] = Array.from({ length: 12 }, (_, i) => field(i)) as [number, number, number, number, number, number, number, number, number, number, number, number];
    const nameStart = off + NEWC_HEADER_SIZE;
    if (nameSize < 1 || nameStart + nameSize > buf.length) throw new RangeError(`bad cpio name size ${nameSize} at offset ${off}`);
    const name = buf.toString('utf8', nameStart, nameStart + nameSize - 1);
    const dataStart = nameStart + nameSize + pad4(NEWC_HEADER_SIZE + nameSize);
    if (dataStart + fileSize > buf.length) throw new RangeError(`truncated cpio data of ${name} at offset ${off}`);
    if (name === NEWC_TRAILER) return out;
    out.push({ ino, mode, uid, gid, nlink, mtime, devMajor, devMinor, rdevMajor, rdevMinor, name, data: new Uint8Array(buf.subarray(dataStart, dataStart + fileSize)) });
    off = dataStart + fileSize + pad4(fileSize);
  }
}
