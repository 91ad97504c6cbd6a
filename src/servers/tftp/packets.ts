import type { FileHandle } from 'node:fs/promises';
import { DATA_HEADER_BYTES, writeDataHeader } from '../../protocol/tftp/index.js';

/**
 * Consecutive DATA packets laid out back to back in one slab, each in a slot of header + blksize
 * bytes: the payload is read (or copied) once behind its header, and every send — first or
 * retransmitted — is a view of that memory. No per-packet allocation, copy or header write on the
 * hot path. A slab is never written again once built, so a view still queued in the socket (EAGAIN)
 * can never see its bytes change.
 */
export class PacketRun {
  readonly first: number;
  readonly count: number;
  readonly #slab: Buffer;
  readonly #slot: number;
  readonly #lastPayload: number;

  /** `count` blocks from absolute block `first`; every payload is full except possibly the last one. */
  constructor(slab: Buffer, blksize: number, first: number, count: number, lastPayload: number) {
    this.#slab = slab;
    this.#slot = DATA_HEADER_BYTES + blksize;
    this.first = first;
    this.count = count;
    this.#lastPayload = lastPayload;
  }

  /** Bytes held (for cache accounting). */
  get bytes(): number {
    return this.#slab.length;
  }

  has(n: number): boolean {
    return n >= this.first && n < this.first + this.count;
  }

  /** The DATA packet of absolute block n (which `has`). */
  packet(n: number): Buffer {
    const i = n - this.first;
    const at = i * this.#slot;
    return this.#slab.subarray(at, at + (i === this.count - 1 ? DATA_HEADER_BYTES + this.#lastPayload : this.#slot));
  }

  /** Packets for bytes [ (first-1)·blksize, … ) of `data` (a whole generated buffer, or a stream's window). */
  static fromBuffer(data: Buffer, blksize: number, first = 1, count = Math.floor(data.length / blksize) + 1): PacketRun {
    const slot = DATA_HEADER_BYTES + blksize;
    const slab = Buffer.allocUnsafe(count * slot);
    let last = 0;
    for (let i = 0; i < count; i++) {
      const from = (first - 1 + i) * blksize;
      writeDataHeader(slab, i * slot, first + i);
      last = data.copy(slab, i * slot + DATA_HEADER_BYTES, Math.min(from, data.length), Math.min(from + blksize, data.length));
    }
    return new PacketRun(slab.subarray(0, (count - 1) * slot + DATA_HEADER_BYTES + last), blksize, first, count, last);
  }
}

/** Most iovecs one preadv takes (Linux IOV_MAX); libuv caps a call there and reports a short read. */
const IOV_MAX = 1024;

/**
 * Reads `count` blocks starting at absolute block `first` of a `size`-byte file straight into packet
 * slots (preadv: one syscall for up to 1024 blocks). A file that shrank under us yields a shorter run
 * ending in a short block, so the transfer ends there with what there is.
 */
export async function readRun(fh: FileHandle, size: number, blksize: number, first: number, count: number): Promise<PacketRun> {
  const slot = DATA_HEADER_BYTES + blksize;
  const position = (first - 1) * blksize;
  const want = Math.max(0, Math.min(count * blksize, size - position));
  const slab = Buffer.allocUnsafe(count * slot);
  let got = 0;
  while (got < want) {
    const views: Buffer[] = [];
    let block = Math.floor(got / blksize);
    let within = got % blksize;
    for (let left = want - got; left > 0 && views.length < IOV_MAX; block++, within = 0) {
      const take = Math.min(blksize - within, left);
      const at = block * slot + DATA_HEADER_BYTES + within;
      views.push(slab.subarray(at, at + take));
      left -= take;
    }
    const { bytesRead } = await fh.readv(views, position + got);
    if (bytesRead === 0) break; // the file shrank: send what there is
    got += bytesRead;
  }
  // Whole blocks read, then one final partial (possibly empty) block when the run reaches the end.
  const full = Math.floor(got / blksize);
  const n = got === count * blksize ? count : full + 1;
  const lastPayload = got === count * blksize ? blksize : got - full * blksize;
  for (let i = 0; i < n; i++) writeDataHeader(slab, i * slot, first + i);
  return new PacketRun(slab, blksize, first, n, lastPayload);
}
