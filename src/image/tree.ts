import type { CpioEntry } from '../protocol/cpio/newc.js';
import { normalizeCpioPath } from '../protocol/cpio/newc.js';

/**
 * An in-memory root filesystem. Parents are created on demand, paths are unique, and `entries()`
 * returns them in byte order of the path, so the same inputs give the same archive.
 */
export class RootTree {
  private readonly nodes = new Map<string, CpioEntry>();

  dir(path: string, mode = 0o755): this {
    const p = normalizeCpioPath(path);
    if (p === '.') return this;
    const existing = this.nodes.get(p);
    if (existing && existing.kind !== 'dir') throw new RangeError(`${p} exists and is not a directory`);
    this.parents(p);
    this.nodes.set(p, { kind: 'dir', path: p, mode });
    return this;
  }

  file(path: string, data: Uint8Array, mode = 0o644): this {
    return this.put({ kind: 'file', path: normalizeCpioPath(path), data, mode });
  }

  symlink(path: string, target: string): this {
    return this.put({ kind: 'symlink', path: normalizeCpioPath(path), target });
  }

  chardev(path: string, major: number, minor: number, mode = 0o600): this {
    return this.put({ kind: 'chardev', path: normalizeCpioPath(path), major, minor, mode });
  }

  has(path: string): boolean {
    return this.nodes.has(normalizeCpioPath(path));
  }

  entries(): CpioEntry[] {
    const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));
    return [...this.nodes.keys()].sort(byteOrder).map((k) => this.nodes.get(k)!);
  }

  /** Total bytes of file contents (the unpacked size, near enough). */
  contentBytes(): number {
    let n = 0;
    for (const e of this.nodes.values()) if (e.kind === 'file') n += e.data.length;
    return n;
  }

  private put(entry: CpioEntry): this {
    if (this.nodes.has(entry.path)) throw new RangeError(`${entry.path} is added twice`);
    this.parents(entry.path);
    this.nodes.set(entry.path, entry);
    return this;
  }

  private parents(p: string): void {
    const segs = p.split('/');
    for (let i = 1; i < segs.length; i++) {
      const parent = segs.slice(0, i).join('/');
      const node = this.nodes.get(parent);
      if (!node) this.nodes.set(parent, { kind: 'dir', path: parent, mode: 0o755 });
      else if (node.kind !== 'dir') throw new RangeError(`${parent} is not a directory (needed for ${p})`);
    }
  }
}
