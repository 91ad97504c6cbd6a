import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';
import { BootrackError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { notModified, parseRange, rangeStillValid, type Validators } from './range.js';
import { safeRelativePath } from './safe-path.js';
import type { HttpHandler } from './types.js';

/** What the static handler reports about each answered request; policy turns it into boot events. */
export interface TransferReport {
  phase: 'started' | 'completed';
  /** Relative file path below the root (already validated). */
  path: string;
  method: string;
  status: number;
  remoteAddress: string | null;
  /** The query string of the request, e.g. `mac=52-54-00-..` put there by the iPXE script. */
  query: URLSearchParams;
  size: number;
  /** Inclusive byte range served; the whole file for a 200. */
  range: { start: number; end: number } | null;
  /** Body bytes written so far (completed: in total). */
  bytes: number;
  durationMs: number;
  /** The client went away before the last byte. */
  aborted: boolean;
}

export interface StaticOptions {
  root: string;
  logger: Logger;
  /** Read size; big reads are what make this fast (express.static reads 64 KiB). Default 1 MiB. */
  chunkBytes?: number;
  onTransfer?: (report: TransferReport) => void;
  /**
   * Paths below the root that may be symlinks to a file outside it, named one by one by the
   * operator's config (Debian ships /usr/lib/ipxe/ipxe.efi -> /boot/ipxe.efi). Every other symlink
   * that leaves the root is refused.
   */
  trustedLinks?: readonly string[];
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.efi': 'application/efi', // OVMF HTTP boot wants it (firmware-notes: "Could not retrieve NBP file size")
  '.ipxe': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.json': 'application/json',
  '.iso': 'application/octet-stream',
};

/**
 * GET/HEAD of files under `root`, built for multi-hundred-MB kernels and initrds: one open per
 * request, 1 MiB positional reads into two pooled buffers that alternate (one is read while the other
 * drains to the socket), no per-chunk allocation. Single Range (206/416), If-Range, ETag and
 * Last-Modified with 304. The path is refused unless it stays below the root after realpath.
 */
export function createStaticHandler(options: StaticOptions): HttpHandler {
  const chunk = options.chunkBytes ?? 1 << 20;
  const pool = new BufferPool(chunk, 64);
  let realRoot: string | null = null;
  const rootReal = async (): Promise<string> => (realRoot ??= await realpath(options.root));
  const trusted = async (file: string): Promise<boolean> => {
    for (const link of options.trustedLinks ?? []) {
      if ((await realpath(link).catch(() => null)) === file) return true;
    }
    return false;
  };

  return (req, res, next) => {
    serveFile(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        options.logger.warn({ err, url: req.url }, 'static transfer failed after headers; closing');
        res.destroy();
        return;
      }
      next(err);
    });
  };

  async function serveFile(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 }).end();
      return;
    }
    const url = req.url ?? '/';
    const rel = safeRelativePath(url);
    const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
    let root: string;
    try {
      root = await rootReal();
    } catch {
      realRoot = null;
      throw new BootrackError('FILE_NOT_FOUND', `no such file ${rel}: the served directory ${options.root} does not exist`, { path: rel });
    }
    let file: string;
    try {
      file = await realpath(join(root, rel));
    } catch {
      throw new BootrackError('FILE_NOT_FOUND', `no such file ${rel}`, { path: rel });
    }
    if (!file.startsWith(root + sep) && !(await trusted(file))) {
      throw new BootrackError('PATH_REFUSED', `refused path ${JSON.stringify(rel)}: it resolves outside the served root`, { path: rel, reason: 'outside root' });
    }
    // O_NOFOLLOW: the checked path is already resolved, so a link appearing there now is a swap.
    const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch((err: unknown) => {
      throw new BootrackError('FILE_NOT_FOUND', `no such file ${rel}`, { path: rel }, { cause: err });
    });
    try {
      const st = await fh.stat({ bigint: true });
      if (!st.isFile()) throw new BootrackError('FILE_NOT_FOUND', `${rel} is not a file`, { path: rel });
      const size = Number(st.size);
      // size + mtime in ns + inode: changes whenever the file is rebuilt or replaced.
      const validators: Validators = {
        etag: `"${st.size.toString(16)}-${st.mtimeNs.toString(16)}-${st.ino.toString(16)}"`,
        mtimeSeconds: Math.floor(Number(st.mtimeMs) / 1000),
      };
      const report = (status: number, range: TransferReport['range'], bytes: number, phase: TransferReport['phase'], aborted = false): void => {
        if (!options.onTransfer) return;
        try {
          options.onTransfer({ phase, path: rel, method, status, remoteAddress: req.socket.remoteAddress ?? null, query, size, range, bytes, durationMs: performance.now() - t0, aborted });
        } catch (err) {
          options.logger.error({ err, path: rel }, 'transfer hook threw; ignored');
        }
      };
      res.setHeader('ETag', validators.etag);
      res.setHeader('Last-Modified', new Date(validators.mtimeSeconds * 1000).toUTCString());
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('Cache-Control', 'no-cache');
      const header = (name: string): string | undefined => {
        const v = req.headers[name];
        return Array.isArray(v) ? v.join(',') : v;
      };
      if (notModified({ ifNoneMatch: header('if-none-match'), ifModifiedSince: header('if-modified-since') }, validators)) {
        res.removeHeader('Accept-Ranges');
        res.writeHead(304).end();
        report(304, null, 0, 'completed');
        return;
      }
      const range = method === 'GET' && rangeStillValid(header('if-range'), validators) ? parseRange(header('range'), size) : ({ kind: 'full' } as const);
      if (range.kind === 'unsatisfiable') {
        res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 }).end();
        report(416, null, 0, 'completed');
        return;
      }
      const [start, end] = range.kind === 'partial' ? [range.start, range.end] : [0, size - 1];
      const length = end - start + 1;
      res.setHeader('Content-Type', CONTENT_TYPES[extname(rel).toLowerCase()] ?? 'application/octet-stream');
      res.setHeader('Content-Length', length);
      if (range.kind === 'partial') res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
      const status = range.kind === 'partial' ? 206 : 200;
      res.writeHead(status);
      if (method === 'HEAD' || length === 0) {
        res.end();
        report(status, null, 0, 'completed');
        return;
      }
      report(status, { start, end }, 0, 'started');
      const sent = await pump(fh, start, length, res, pool);
      report(status, { start, end }, sent, 'completed', sent < length);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
}

/**
 * Copies [start, start+length) of the file to the response with two alternating buffers. A buffer
 * goes back to the pool only after the socket reported it flushed (write callback), so a slow
 * client never sees bytes overwritten. Returns the bytes handed to the socket and flushed.
 */
async function pump(fh: FileHandle, start: number, length: number, res: ServerResponse, pool: BufferPool): Promise<number> {
  let closed = false;
  let closeListener: () => void = () => undefined;
  const closedPromise = new Promise<'closed'>((resolve) => {
    closeListener = () => {
      closed = true;
      resolve('closed');
    };
    res.once('close', closeListener);
  });
  const owned: Buffer[] = [];
  const inflight: Array<{ buf: Buffer; flushed: Promise<boolean> } | null> = [null, null];
  let pos = start;
  let remaining = length;
  let flushedBytes = 0;
  let slot = 0;
  let clean = false;
  try {
    while (remaining > 0 && !closed) {
      const prior = inflight[slot];
      let buf: Buffer;
      if (prior) {
        if ((await Promise.race([prior.flushed, closedPromise])) !== true) return flushedBytes;
        buf = prior.buf;
        inflight[slot] = null;
      } else {
        buf = pool.take();
        owned.push(buf);
      }
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, remaining), pos);
      if (bytesRead === 0) throw new Error(`file shrank while being served (at byte ${pos})`);
      if (closed) return flushedBytes;
      pos += bytesRead;
      remaining -= bytesRead;
      const view = bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
      const flushed = new Promise<boolean>((resolve) =>
        res.write(view, (err) => {
          if (!err) flushedBytes += bytesRead;
          resolve(!err);
        }),
      );
      inflight[slot] = { buf, flushed };
      slot ^= 1;
    }
    for (const entry of inflight) {
      if (entry && (await Promise.race([entry.flushed, closedPromise])) !== true) return flushedBytes;
    }
    clean = !closed;
    if (clean) await Promise.race([new Promise<void>((resolve) => res.end(resolve)), closedPromise]);
    return flushedBytes;
  } finally {
    res.off('close', closeListener);
    // Buffers a vanished socket may still reference are left to the GC, never reused.
    if (clean) for (const buf of owned) pool.give(buf);
  }
}

/** A small free list of equal-size buffers, so 20 concurrent downloads do not allocate 20 MB/s of garbage. */
class BufferPool {
  readonly #free: Buffer[] = [];
  constructor(
    readonly size: number,
    readonly max: number,
  ) {}

  take(): Buffer {
    return this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buf: Buffer): void {
    if (this.#free.length < this.max && buf.length === this.size) this.#free.push(buf);
  }
}
