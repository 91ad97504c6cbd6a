import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';

/**
 * Where a transfer's bytes come from. Blocks are numbered from 1 (absolute, never wrapped).
 * `block` answers synchronously when it can (cache hit), so lock-step turnaround stays in one tick.
 * A block shorter than blksize is the last one.
 */
export interface BlockSource {
  /** Total bytes, or null when unknown until the end (a stream without a size). */
  readonly size: number | null;
  block(n: number, blksize: number): Buffer | Promise<Buffer>;
  /** Blocks before n are acknowledged and never asked for again. */
  release(n: number, blksize: number): void;
  close(): Promise<void>;
}

export class BufferSource implements BlockSource {
  readonly size: number;
  readonly #data: Buffer;
  constructor(data: Buffer) {
    this.#data = data;
    this.size = data.length;
  }
  block(n: number, blksize: number): Buffer {
    const start = (n - 1) * blksize;
    return this.#data.subarray(Math.min(start, this.size), Math.min(start + blksize, this.size));
  }
  release(): void {}
  async close(): Promise<void> {}
}

/** Reads a file by position in chunks of many blocks (one syscall per chunk, not per block). */
export class FileSource implements BlockSource {
  readonly size: number;
  readonly #fh: FileHandle;
  readonly #chunkBytes: number;
  #chunk: Buffer = Buffer.alloc(0);
  #chunkStart = 0;

  private constructor(fh: FileHandle, size: number, chunkBytes: number) {
    this.#fh = fh;
    this.size = size;
    this.#chunkBytes = chunkBytes;
  }

  /** Opens a regular file; rejects (ENOENT, EISDIR, ...) so the caller can answer ERROR 1. */
  static async open(path: string, chunkBytes = 256 * 1024): Promise<FileSource> {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'ENOTFILE' });
      return new FileSource(fh, st.size, chunkBytes);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  block(n: number, blksize: number): Buffer | Promise<Buffer> {
    const start = Math.min((n - 1) * blksize, this.size);
    const end = Math.min(start + blksize, this.size);
    const chunkEnd = this.#chunkStart + this.#chunk.length;
    if (start >= this.#chunkStart && end <= chunkEnd) return this.#chunk.subarray(start - this.#chunkStart, end - this.#chunkStart);
    return this.#fill(start).then(() => this.#chunk.subarray(start - this.#chunkStart, end - this.#chunkStart));
  }

  async #fill(start: number): Promise<void> {
    const want = Math.min(Math.max(this.#chunkBytes, 1), this.size - start);
    const buf = Buffer.allocUnsafe(Math.max(want, 0));
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.#fh.read(buf, got, want - got, start + got);
      if (bytesRead === 0) break; // the file shrank under us: send what there is
      got += bytesRead;
    }
    this.#chunk = buf.subarray(0, got);
    this.#chunkStart = start;
  }

  release(): void {}

  async close(): Promise<void> {
    await this.#fh.close();
  }
}

/** Buffers a forward-only stream; acknowledged bytes are dropped, unacknowledged ones kept for resends. */
export class StreamSource implements BlockSource {
  readonly size: number | null;
  readonly #stream: Readable;
  readonly #iter: AsyncIterator<unknown>;
  #buf: Buffer = Buffer.alloc(0);
  /** Byte offset of #buf[0] in the whole stream. */
  #base = 0;
  #ended = false;

  constructor(stream: Readable, size?: number) {
    this.#stream = stream;
    this.size = size ?? null;
    this.#iter = stream[Symbol.asyncIterator]();
  }

  block(n: number, blksize: number): Buffer | Promise<Buffer> {
    const start = (n - 1) * blksize;
    const end = start + blksize;
    if (start < this.#base) return Promise.reject(new Error(`block ${n} was already released`));
    if (this.#ended || this.#base + this.#buf.length >= end) return this.#slice(start, end);
    return this.#pull(start, end);
  }

  #slice(start: number, end: number): Buffer {
    const from = Math.min(start - this.#base, this.#buf.length);
    return this.#buf.subarray(from, Math.min(end - this.#base, this.#buf.length));
  }

  async #pull(start: number, end: number): Promise<Buffer> {
    while (!this.#ended && this.#base + this.#buf.length < end) {
      const next = await this.#iter.next();
      if (next.done) this.#ended = true;
      else {
        const v = next.value;
        const chunk = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v) : Buffer.from(v as Uint8Array);
        this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
      }
    }
    return this.#slice(start, end);
  }

  release(n: number, blksize: number): void {
    const drop = (n - 1) * blksize - this.#base;
    if (drop > 0 && drop <= this.#buf.length) {
      this.#buf = this.#buf.subarray(drop);
      this.#base += drop;
    }
  }

  async close(): Promise<void> {
    this.#stream.destroy();
  }
}
