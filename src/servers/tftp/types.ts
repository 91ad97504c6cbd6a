import type { Stats } from 'node:fs';
import type { Readable } from 'node:stream';
import type { RawOptions, TransferMode } from '../../protocol/tftp/index.js';

export interface TftpClient {
  address: string;
  port: number;
}

export interface TftpRequest {
  /** The filename exactly as the client sent it (latin1-decoded); the handler decides what it means. */
  path: string;
  client: TftpClient;
  mode: TransferMode;
  options: RawOptions;
}

/**
 * What the policy answers for a read request. The handler contract:
 * - `file`: a path the server opens and reads by position (the policy has already checked it is safe);
 * - `buffer`: generated content sent as is;
 * - `stream`: content produced on the fly; `size` (when known) answers tsize;
 * - `not-found`: ERROR 1; `denied`: ERROR 2 (the policy logs why, with the client).
 * A handler that throws or rejects gets ERROR 0 and is logged; the server keeps serving.
 */
export type TftpResolution =
  /** `stats`: the handler's own stat of `path`, when it made one (the server then does not stat again). */
  | { kind: 'file'; path: string; stats?: Stats }
  | { kind: 'buffer'; data: Buffer }
  | { kind: 'stream'; stream: Readable; size?: number }
  | { kind: 'not-found' }
  | { kind: 'denied'; reason: string };

export type TftpHandler = (request: TftpRequest) => TftpResolution | Promise<TftpResolution>;

export type TransferOutcome =
  /** Every block acknowledged. */
  | 'complete'
  /** The client read the OACK (tsize) and aborted on purpose, as UEFI does before the real read. */
  | 'probe'
  | 'not-found'
  | 'denied'
  /** The client sent an ERROR mid-transfer. */
  | 'client-error'
  /** The retry budget ran out. */
  | 'timeout'
  /** Every block was sent but the final ACK never came (the client may well have the file: RFC 1350 §6). */
  | 'unconfirmed'
  /** Our side failed (handler threw, file unreadable). */
  | 'error'
  /** The server stopped. */
  | 'aborted';

export interface TransferSummary {
  id: number;
  path: string;
  client: TftpClient;
  startedAt: Date;
  durationMs: number;
  outcome: TransferOutcome;
  /** Options as negotiated (what the OACK said, or RFC 1350 defaults). */
  options: { blksize: number; windowsize: number; timeoutSeconds: number | null; tsize: number | null; oack: boolean };
  /** Payload bytes acknowledged by the client. */
  bytes: number;
  blocks: number;
  /** DATA/OACK packets sent again after a timeout or a gap in the client's window. */
  retransmits: number;
  /** ACKs that did not advance the window (duplicates, stale): ignored, never answered. */
  ignoredAcks: number;
  error?: string;
}

/** Hooks for the policy layer (boot timeline, metrics); exceptions thrown here are logged and dropped. */
export interface TftpObserver {
  transferEnded?(summary: TransferSummary): void;
}

export interface TftpLimits {
  /** Largest blksize granted: path MTU − 32 (1468 on Ethernet). */
  maxBlksize: number;
  maxWindowsize: number;
  maxTransfers: number;
  maxTransfersPerClient: number;
  /** Consecutive timeouts before a transfer is abandoned (and at least `minStallMs` without progress). */
  retries: number;
  /**
   * Never abandon a transfer sooner than this after its last progress. Clients that do not re-ACK a
   * duplicate DATA (atftp) only recover a lost ACK on their own timer (5 s): giving up earlier kills them.
   */
  minStallMs: number;
  /** First retransmit before any RTT sample; later ones follow the measured RTT with backoff. */
  initialTimeoutMs: number;
  /**
   * First wait for ACK 0 after an OACK. Longer than the DATA timer: there is no RTT sample yet, and
   * atftp aborts on a resent OACK ("unexpected OACK"), so a spurious resend under load kills a boot.
   */
  oackTimeoutMs: number;
  /** Floor of the adaptive retransmit timer. */
  minTimeoutMs: number;
  /** Ceiling of one retransmit wait (raised to the client's RFC 2349 timeout when it asks for one). */
  maxTimeoutMs: number;
  /**
   * Busy-poll budget (µs) after each send while a fast peer's ACK is due (smoothed RTT below the
   * budget): the event loop polls instead of sleeping, which removes the wake-up from the lock-step
   * turnaround. 0 disables it. Peers with a longer RTT never trigger it.
   */
  busyPollUs: number;
  /** Files up to this size are read once and served to every transfer from memory (boot storms). 0 disables. */
  cacheFileMaxBytes: number;
  /** Memory budget of that cache (least recently used files are dropped first). */
  cacheTotalBytes: number;
}

export const DEFAULT_LIMITS: TftpLimits = {
  maxBlksize: 1468,
  maxWindowsize: 16,
  maxTransfers: 512,
  maxTransfersPerClient: 8,
  retries: 6,
  minStallMs: 12_000,
  initialTimeoutMs: 250,
  oackTimeoutMs: 1000,
  minTimeoutMs: 40,
  maxTimeoutMs: 3000,
  busyPollUs: 200,
  cacheFileMaxBytes: 8 * 1024 * 1024,
  cacheTotalBytes: 64 * 1024 * 1024,
};
