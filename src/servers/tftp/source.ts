import { open, type FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { encodeData } from '../../protocol/tftp/index.js';
import { PacketRun, readRun } from './packets.js';

/**
 * Where a transfer's DATA packets come from. Blocks are numbered from 1 (absolute, never wrapped);
 * `packet` returns the whole DATA packet (header included), synchronously when it can (a cache hit),
 * so the lock-step turnaround stays in one tick. A payload shorter than blksize is the last one.
 */
export interface BlockSource {
  /** Total bytes, or null when unknown until the end (a stream without a size). */
  readonly size: number | null;
  /** Called once blksize is negotiated, before the first DATA: start reading ahead (overlaps the OACK round trip). */
  prepare(blksize: number): void;
  packet(n: number, blksize: number): Buffer | Promise<Buffer>;
  /** Blocks before n are acknowledged and never asked for again. */
  release(n: number, blksize: number): void;
  close(): Promise<void>;
}

/** Generated content: laid out as packets once, on the first use of a blksize. */
export class BufferSource implements BlockSource {
  readonly size: number;
  readonly #data: Buffer;
  #run: PacketRun | null = null;
  #blksize = 0;

  constructor(data: Buffer) {
    this.#data = data;
    this.size = data.length;
  }

  prepare(blksize: number): void {
    if (this.#blksize !== blksize) {
      this.#run = PacketRun.fromBuffer(this.#data, blksize);
      this.#blksize = blksize;
    }
  }

  packet(n: number, blksize: number): Buffer {
    this.prepare(blksize);
    return this.#run!.packet(Math.min(n, this.#run!.first + this.#run!.count - 1));
  }

  release(): void {}
  async close(): Promise<void> {}
}

/** Bytes read per disk request; runs are read ahead so the next one is ready before it is needed. */
const RUN_BYTES = 256 * 1024;

/**
 * A file read by position in runs of packets (one preadv per ~256 KiB), one run ahead of the client:
 * halfway through a run the next one is requested, so a lock-step transfer never waits on the disk.
 * Runs wholly acknowledged are dropped; unacknowledged ones stay for retransmits.
 */
export class FileSource implements BlockSource {
  readonly size: number;
  readonly #fh: FileHandle;
  /** Run index (block (n−1) / runBlocks) → the run, or its read in flight. */
  readonly #runs = new Map<number, PacketRun | Promise<PacketRun>>();
  #blksize = 0;
  #runBlocks = 1;
  #closed = false;

  private constructor(fh: FileHandle, size: number) {
    this.#fh = fh;
    this.size = size;
  }

  /** Opens a regular file; rejects (ENOENT, EISDIR, ...) so the caller can answer ERROR 1. */
  static async open(path: string): Promise<FileSource> {
    const fh = await open(path, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'ENOTFILE' });
      return new FileSource(fh, st.size);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  prepare(blksize: number): void {
    if (blksize !== this.#blksize) {
      this.#blksize = blksize;
      this.#runBlocks = Math.max(1, Math.min(1024, Math.floor(RUN_BYTES / blksize)));
      this.#runs.clear();
    }
    this.#load(0);
  }

  packet(n: number, blksize: number): Buffer | Promise<Buffer> {
    if (blksize !== this.#blksize) this.prepare(blksize);
    const index = Math.floor((n - 1) / this.#runBlocks);
    const run = this.#runs.get(index) ?? this.#load(index);
    if (run instanceof PacketRun) {
      // Past the middle of this run: make sure the next one is on its way.
      if (n - run.first >= run.count >> 1 && run.first + run.count <= this.#lastBlock()) this.#load(index + 1);
      return run.packet(Math.min(n, run.first + run.count - 1));
    }
    return run.then((r) => r.packet(Math.min(n, r.first + r.count - 1)));
  }

  #lastBlock(): number {
    return Math.floor(this.size / this.#blksize) + 1;
  }

  #load(index: number): PacketRun | Promise<PacketRun> {
    const have = this.#runs.get(index);
    if (have) return have;
    const first = index * this.#runBlocks + 1;
    const count = Math.max(1, Math.min(this.#runBlocks, this.#lastBlock() - first + 1));
    const blksize = this.#blksize;
    const reading = readRun(this.#fh, this.size, blksize, first, count).then((run) => {
      // Keep it unless the transfer moved on (released it) or closed meanwhile.
      if (!this.#closed && this.#blksize === blksize && this.#runs.get(index) === reading) this.#runs.set(index, run);
      return run;
    });
    reading.catch(() => undefined); // a read-ahead nobody asks for must not be an unhandled rejection
    this.#runs.set(index, reading);
    return reading;
  }

  release(n: number): void {
    if (this.#blksize === 0) return;
    const below = Math.floor((n - 1) / this.#runBlocks); // runs before this index are fully acknowledged
    for (const index of this.#runs.keys()) if (index < below) this.#runs.delete(index);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#runs.clear();
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

  prepare(): void {}

  packet(n: number, blksize: number): Buffer | Promise<Buffer> {
    const start = (n - 1) * blksize;
    const end = start + blksize;
    if (start < this.#base) return Promise.reject(new Error(`block ${n} was already released`));
    if (this.#ended || this.#base + this.#buf.length >= end) return encodeData(n, this.#slice(start, end));
    return this.#pull(end).then(() => encodeData(n, this.#slice(start, end)));
  }

  #slice(start: number, end: number): Buffer {
    const from = Math.min(start - this.#base, this.#buf.length);
    return this.#buf.subarray(from, Math.min(end - this.#base, this.#buf.length));
  }

  async #pull(end: number): Promise<void> {
    while (!this.#ended && this.#base + this.#buf.length < end) {
      const next = await this.#iter.next();
      if (next.done) this.#ended = true;
      else {
        const v = next.value;
        const chunk = Buffer.isBuffer(v) ? v : typeof v === 'string' ? Buffer.from(v) : Buffer.from(v as Uint8Array);
        this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
      }
    }
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
