import { open, stat } from 'node:fs/promises';
import type { BigIntStats, Stats } from 'node:fs';
import { PacketRun, readRun } from './packets.js';
import { FileSource, type BlockSource } from './source.js';

export interface FileCacheLimits {
  /** Files up to this size are kept as ready-made packets, shared by every transfer of the same file. */
  maxFileBytes: number;
  /** Budget for all cached packets; least recently used files go first. */
  maxTotalBytes: number;
}

/**
 * Boot programs are small and fetched by every machine of a boot storm: read them once and serve
 * every transfer from the same packets in memory. Each request still stats the file, and an entry is
 * used only while the file's identity (device, inode, size, mtime, ctime) is unchanged, so replacing a
 * file takes effect on the next request. Larger files are read from disk per transfer (FileSource).
 */
export class FileCache {
  readonly #limits: FileCacheLimits;
  /** `path \0 blksize` → packets (or their read in flight); Map order is the LRU order. */
  readonly #entries = new Map<string, { identity: string; run: PacketRun | Promise<PacketRun>; bytes: number }>();
  #total = 0;

  constructor(limits: FileCacheLimits) {
    this.#limits = limits;
  }

  /**
   * Opens `path` for one transfer; rejects (ENOENT, not a regular file, ...) so the caller answers
   * ERROR 1. `known`: a stat the caller just made of the same path (the policy's lookup), used
   * instead of another one.
   */
  async open(path: string, known?: Stats): Promise<BlockSource> {
    if (this.#limits.maxFileBytes <= 0 || this.#limits.maxTotalBytes <= 0) return FileSource.open(path);
    const st = known ?? (await stat(path));
    if (!st.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'ENOTFILE' });
    if (st.size > this.#limits.maxFileBytes) return FileSource.open(path);
    return new CachedFileSource(this, path, identityOf(st), st.size);
  }

  get bytes(): number {
    return this.#total;
  }

  /** The packets of a whole file for one blksize: from memory, or read once (concurrent callers share the read). */
  packets(path: string, identity: string, size: number, blksize: number): PacketRun | Promise<PacketRun> {
    const key = `${path}\0${blksize}`;
    const hit = this.#entries.get(key);
    if (hit && hit.identity === identity) {
      this.#entries.delete(key); // refresh its LRU position
      this.#entries.set(key, hit);
      return hit.run;
    }
    if (hit) this.#drop(key);
    const count = Math.floor(size / blksize) + 1;
    const entry = { identity, run: null as unknown as PacketRun | Promise<PacketRun>, bytes: 0 };
    const reading = readWhole(path, size, blksize, count).then(
      (run) => {
        if (this.#entries.get(key) === entry) {
          entry.run = run;
          entry.bytes = run.bytes;
          this.#total += run.bytes;
          this.#evict();
        }
        return run;
      },
      (err: unknown) => {
        if (this.#entries.get(key) === entry) this.#entries.delete(key); // the next request tries again
        throw err;
      },
    );
    reading.catch(() => undefined);
    entry.run = reading;
    this.#entries.set(key, entry);
    return reading;
  }

  #drop(key: string): void {
    const e = this.#entries.get(key);
    if (!e) return;
    this.#total -= e.bytes;
    this.#entries.delete(key);
  }

  #evict(): void {
    for (const key of this.#entries.keys()) {
      if (this.#total <= this.#limits.maxTotalBytes) return;
      this.#drop(key);
    }
  }
}

async function readWhole(path: string, size: number, blksize: number, count: number): Promise<PacketRun> {
  const fh = await open(path, 'r');
  try {
    return await readRun(fh, size, blksize, 1, count);
  } finally {
    await fh.close();
  }
}

function identityOf(st: Stats | BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** One transfer's view of a cached file: the packets are shared, never copied. */
class CachedFileSource implements BlockSource {
  readonly size: number;
  readonly #cache: FileCache;
  readonly #path: string;
  readonly #identity: string;
  #run: PacketRun | null = null;
  #blksize = 0;

  constructor(cache: FileCache, path: string, identity: string, size: number) {
    this.#cache = cache;
    this.#path = path;
    this.#identity = identity;
    this.size = size;
  }

  prepare(blksize: number): void {
    const run = this.#get(blksize);
    if (run instanceof Promise) run.catch(() => undefined); // reported when the first packet is asked for
  }

  packet(n: number, blksize: number): Buffer | Promise<Buffer> {
    const run = this.#blksize === blksize && this.#run ? this.#run : this.#get(blksize);
    if (run instanceof PacketRun) return run.packet(Math.min(n, run.count));
    return run.then((r) => r.packet(Math.min(n, r.count)));
  }

  #get(blksize: number): PacketRun | Promise<PacketRun> {
    const run = this.#cache.packets(this.#path, this.#identity, this.size, blksize);
    if (run instanceof PacketRun) {
      // Held for the whole transfer even if the cache evicts it meanwhile.
      this.#run = run;
      this.#blksize = blksize;
      return run;
    }
    return run.then((r) => {
      this.#run = r;
      this.#blksize = blksize;
      return r;
    });
  }

  release(): void {}
  async close(): Promise<void> {
    this.#run = null;
  }
}
