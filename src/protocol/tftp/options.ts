import type { RawOptions } from './packet.js';

/**
 * Option negotiation as pure functions (RFC 2347 framework; 2348 blksize; 2349 timeout and tsize;
 * 7440 windowsize). The server answers only options it understands and accepts; an empty `oack`
 * means "answer with DATA 1 directly, as plain RFC 1350".
 */
export interface NegotiationLimits {
  /** Largest DATA payload we send: the path MTU minus IP/UDP/TFTP headers (1500 − 32 = 1468 on Ethernet). */
  maxBlksize: number;
  /** Largest window we grant (RFC 7440); 1 disables windowing. */
  maxWindowsize: number;
}

export interface Negotiated {
  blksize: number;
  windowsize: number;
  /** Seconds the client asked for (RFC 2349), echoed back; null when not negotiated. */
  timeoutSeconds: number | null;
  /** True when the client asked for tsize (UEFI probes with `tsize 0` and then aborts with error 8). */
  tsizeRequested: boolean;
  /** The OACK to send, in the client's option order; empty for no OACK. */
  oack: RawOptions;
}

export const DEFAULT_BLKSIZE = 512;
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE_RFC = 65464;
export const MAX_WINDOWSIZE_RFC = 65535;

/** A decimal integer made of digits only: "1e3", " 8", "0x10" and "+5" are not numbers here. */
export function parseOptionInt(value: string): number | null {
  if (!/^[0-9]{1,10}$/.test(value)) return null;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * Decides each option. `fileSize` is the size we will send, or null when unknown (a stream of unknown
 * length: tsize is then left out of the OACK, which RFC 2349 allows).
 */
export function negotiate(requested: RawOptions, limits: NegotiationLimits, fileSize: number | null): Negotiated {
  const maxBlksize = Math.max(MIN_BLKSIZE, Math.min(limits.maxBlksize, MAX_BLKSIZE_RFC));
  const maxWindow = Math.max(1, Math.min(limits.maxWindowsize, MAX_WINDOWSIZE_RFC));
  const result: { blksize: number; windowsize: number; timeoutSeconds: number | null; tsizeRequested: boolean } = {
    blksize: DEFAULT_BLKSIZE,
    windowsize: 1,
    timeoutSeconds: null,
    tsizeRequested: false,
  };
  const oack: Array<readonly [string, string]> = [];
  const seen = new Set<string>();
  for (const [rawName, value] of requested) {
    const name = rawName.toLowerCase();
    // RFC 2347 does not allow repeats; the first occurrence wins so a repeat cannot change our answer.
    if (seen.has(name)) continue;
    seen.add(name);
    const n = parseOptionInt(value);
    switch (name) {
      case 'blksize':
        // RFC 2348: valid 8..65464; anything else is ignored, not refused.
        if (n === null || n < MIN_BLKSIZE || n > MAX_BLKSIZE_RFC) break;
        result.blksize = Math.min(n, maxBlksize);
        oack.push(['blksize', String(result.blksize)]);
        break;
      case 'windowsize':
        if (n === null || n < 1 || n > MAX_WINDOWSIZE_RFC) break;
        result.windowsize = Math.min(n, maxWindow);
        oack.push(['windowsize', String(result.windowsize)]);
        break;
      case 'timeout':
        // RFC 2349: 1..255 seconds, and the server must answer with the same value or leave it out.
        if (n === null || n < 1 || n > 255) break;
        result.timeoutSeconds = n;
        oack.push(['timeout', String(n)]);
        break;
      case 'tsize':
        // In a read request the client sends 0; we answer with the size when we know it.
        if (n === null) break;
        result.tsizeRequested = true;
        if (fileSize !== null) oack.push(['tsize', String(fileSize)]);
        break;
      default:
        // Unknown options (multicast, utimeout, rollover, ...) are ignored, as RFC 2347 asks.
        break;
    }
  }
  return { ...result, oack };
}

/** Absolute block number of a wire ACK inside [low, high] (inclusive), or null when it is outside (stale). */
export function unwrapBlock(wire: number, low: number, high: number): number | null {
  if (high < low) return null;
  const candidate = high - ((((high & 0xffff) - wire) % 0x10000) + 0x10000) % 0x10000;
  return candidate >= low ? candidate : null;
}

/** Number of DATA blocks for a file of `size` bytes: always one short (possibly empty) final block. */
export function blockCount(size: number, blksize: number): number {
  return Math.floor(size / blksize) + 1;
}
