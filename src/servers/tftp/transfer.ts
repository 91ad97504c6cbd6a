import type { Stats } from 'node:fs';
import type { Socket, RemoteInfo } from 'node:dgram';
import { DATA_HEADER_BYTES, decodePacket, peekAck, encodeError, encodePacket, ERROR_CODE, negotiate, unwrapBlock, type Negotiated, type RequestPacket } from '../../protocol/tftp/index.js';
import type { Logger } from '../../common/logger.js';
import { BufferSource, StreamSource, type BlockSource } from './source.js';
import type { TftpClient, TftpHandler, TftpLimits, TransferOutcome, TransferSummary } from './types.js';

/**
 * One read transfer, with one explicit state:
 *   resolving   → the policy handler is deciding what to send
 *   negotiating → OACK sent, waiting for ACK 0
 *   sending     → DATA window in flight, waiting for an ACK that advances it
 *   closed      → finished with `outcome`; every timer and socket released
 * Retransmission happens on timeout only (never on a duplicate ACK: RFC 1350's Sorcerer's Apprentice bug).
 */
export type TransferState = 'resolving' | 'negotiating' | 'sending' | 'closed';

export interface TransferDeps {
  id: number;
  socket: Socket;
  client: TftpClient;
  request: RequestPacket;
  handler: TftpHandler;
  limits: TftpLimits;
  /** Window cap for this client, lowered by the server after lossy transfers. */
  windowCap: number;
  logger: Logger;
  /** Opens a file the policy named (the server's shared cache of small files, or a disk reader). */
  openFile(path: string, stats?: Stats): Promise<BlockSource>;
  /** Told each time we start waiting for an ACK, with the smoothed RTT (ms): may keep the loop polling. */
  awaitingAck?(srttMs: number): void;
  onClosed(summary: TransferSummary): void;
}

export class Transfer {
  state: TransferState = 'resolving';
  readonly #d: TransferDeps;
  readonly #startedAt = new Date();
  readonly #t0 = performance.now();
  #source: BlockSource | null = null;
  #neg: Negotiated | null = null;
  #oack: Buffer | null = null;
  /** Highest block the client acknowledged (absolute; 0 = none). */
  #acked = 0;
  /** Highest block sent so far (absolute). */
  #sent = 0;
  /** The final (short) block, once known. */
  #last: number | null = null;
  #lastLen = 0;
  #pending = 0;
  #progressAt = performance.now();
  #flushed: (() => void) | null = null;
  /**
   * One coarse timer per transfer, checked against a deadline: progress only moves `#deadline`
   * (no clearTimeout/setTimeout per block); the timer re-arms itself for the rest when it fires early.
   */
  #timer: NodeJS.Timeout | null = null;
  #timerAt = 0;
  #deadline = 0;
  #timeouts = 0;
  #retransmits = 0;
  #ignoredAcks = 0;
  /** Bumped on every new window so a window awaiting a disk read abandons itself if overtaken. */
  #generation = 0;
  #windowSentAt = 0;
  #windowRetransmitted = false;
  #srtt: number | null = null;
  #rttvar = 0;

  constructor(deps: TransferDeps) {
    this.#d = deps;
  }

  #isClosed(): boolean {
    return this.state === 'closed';
  }

  get client(): TftpClient {
    return this.#d.client;
  }

  /** Runs the handler and sends the first OACK or DATA. Never rejects. */
  async start(): Promise<void> {
    const { request, client, handler } = this.#d;
    let source: BlockSource;
    try {
      const res = await handler({ path: request.filename, client, mode: request.mode, options: request.options });
      if (this.state === 'closed') {
        if (res.kind === 'stream') res.stream.destroy();
        return;
      }
      switch (res.kind) {
        case 'not-found':
          return this.#fail('not-found', ERROR_CODE.FILE_NOT_FOUND, 'File not found');
        case 'denied':
          return this.#fail('denied', ERROR_CODE.ACCESS_VIOLATION, 'Access violation', res.reason);
        case 'buffer':
          source = new BufferSource(res.data);
          break;
        case 'stream':
          source = new StreamSource(res.stream, res.size);
          break;
        case 'file':
          try {
            source = await this.#d.openFile(res.path, res.stats);
          } catch (err) {
            return this.#fail('not-found', ERROR_CODE.FILE_NOT_FOUND, 'File not found', errText(err));
          }
          break;
      }
    } catch (err) {
      return this.#fail('error', ERROR_CODE.NOT_DEFINED, 'Internal error', `handler failed: ${errText(err)}`);
    }
    if (this.#isClosed()) {
      void source.close().catch(() => undefined);
      return;
    }
    this.#source = source;
    const { limits } = this.#d;
    this.#neg = negotiate(request.options, { maxBlksize: limits.maxBlksize, maxWindowsize: Math.min(limits.maxWindowsize, this.#d.windowCap) }, source.size);
    // Start reading before the OACK goes out, so the first blocks are ready when ACK 0 comes back.
    source.prepare(this.#neg.blksize);
    if (this.#neg.oack.length > 0) {
      this.#oack = encodePacket({ op: 'OACK', options: this.#neg.oack });
      this.state = 'negotiating';
      this.#windowSentAt = performance.now();
      this.#send(this.#oack);
      this.#arm(this.#windowSentAt);
    } else {
      this.state = 'sending';
      this.#sendWindow(1, this.#neg!.windowsize, false);
    }
  }

  /** Every datagram arriving on this transfer's port. Never throws. */
  onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.state === 'closed') return;
    const { client } = this.#d;
    if (rinfo.address !== client.address || rinfo.port !== client.port) {
      // RFC 1350 §4: a packet from a foreign TID gets ERROR 5 and does not disturb the transfer.
      this.#sendTo(encodeError(ERROR_CODE.UNKNOWN_TID, 'Unknown transfer ID'), rinfo.port, rinfo.address);
      return;
    }
    const ackBlock = peekAck(msg);
    if (ackBlock >= 0) return this.#onAck(ackBlock);
    const decoded = decodePacket(msg);
    if (!decoded.ok) {
      this.#d.logger.debug({ client, reason: decoded.reason }, 'tftp: malformed datagram on a transfer port ignored');
      return;
    }
    const p = decoded.packet;
    if (p.op === 'ERROR') {
      // UEFI reads tsize from the OACK and aborts (usually error 8) before the real download: not a failure.
      const probe = this.state === 'negotiating' && this.#neg?.tsizeRequested === true && (p.code === ERROR_CODE.OPTION_REFUSED || p.code === ERROR_CODE.NOT_DEFINED);
      this.#close(probe ? 'probe' : 'client-error', `client error ${p.code}: ${p.message}`);
    }
    // RRQ/DATA/OACK have no meaning on a transfer port: ignored.
  }

  #onAck(block: number): void {
    if (this.state === 'negotiating') {
      if (block !== 0) return void this.#ignoredAcks++;
      const now = performance.now();
      this.#sample(now);
      this.#timeouts = 0;
      this.#progressAt = now;
      this.state = 'sending';
      this.#sendWindow(1, this.#neg!.windowsize, false, now);
      return;
    }
    if (this.state !== 'sending') return;
    const abs = unwrapBlock(block, this.#acked + 1, this.#sent);
    if (abs === null) {
      // Duplicate or stale ACK: ignored. Only the timer resends.
      this.#ignoredAcks++;
      return;
    }
    const now = performance.now();
    if (abs === this.#sent) this.#sample(now);
    this.#acked = abs;
    this.#timeouts = 0;
    this.#progressAt = now;
    const neg = this.#neg!;
    this.#source?.release(abs + 1, neg.blksize);
    if (this.#last !== null && abs >= this.#last) return this.#close('complete');
    // Slide the window: send only blocks never sent, up to acked + windowsize. An ACK short of what
    // we sent (a gap, or a client that ACKs every block) resends nothing: retransmission is the
    // timer's job alone, so no pattern of ACKs can multiply DATA.
    this.#sendWindow(Math.max(this.#sent + 1, abs + 1), abs + neg.windowsize, false, now);
  }

  /** Server shutdown. */
  abort(): void {
    if (this.state === 'closed') return;
    if (this.state !== 'resolving') this.#send(encodeError(ERROR_CODE.NOT_DEFINED, 'Server shutting down'), true);
    this.#close('aborted');
  }

  /** Sends blocks from..end (absolute, inclusive; clipped at the last block), then arms the timer. */
  #sendWindow(from: number, end: number, isRetransmit: boolean, now = performance.now()): void {
    const gen = ++this.#generation;
    if (from <= end) {
      this.#windowSentAt = now;
      this.#windowRetransmitted = isRetransmit;
    }
    this.#sendFrom(from, end, gen, now);
  }

  /** The send loop: synchronous while packets are in memory; waits (once per run) for a disk read. */
  #sendFrom(from: number, end: number, gen: number, now: number): void {
    const blksize = this.#neg!.blksize;
    const source = this.#source!;
    for (let n = from; n <= end && (this.#last === null || n <= this.#last); n++) {
      let pkt: Buffer | Promise<Buffer>;
      try {
        pkt = source.packet(n, blksize);
      } catch (err) {
        return this.#fail('error', ERROR_CODE.NOT_DEFINED, 'Read error', errText(err));
      }
      if (pkt instanceof Promise) {
        pkt.then(
          (p) => {
            if (gen !== this.#generation || this.state !== 'sending') return;
            this.#emit(n, p, blksize);
            this.#sendFrom(n + 1, end, gen, performance.now());
          },
          (err: unknown) => {
            if (this.state === 'sending') this.#fail('error', ERROR_CODE.NOT_DEFINED, 'Read error', errText(err));
          },
        );
        return;
      }
      this.#emit(n, pkt, blksize);
    }
    this.#arm(now);
  }

  #emit(n: number, pkt: Buffer, blksize: number): void {
    if (n <= this.#sent) this.#retransmits++;
    else this.#sent = n;
    const payload = pkt.length - DATA_HEADER_BYTES;
    if (payload < blksize) {
      this.#last = n;
      this.#lastLen = payload;
    }
    this.#send(pkt);
  }

  /** Jacobson/Karels estimate from windows that were not retransmitted (Karn's rule). */
  #sample(now: number): void {
    if (this.#windowRetransmitted || this.#timeouts > 0) return;
    const rtt = now - this.#windowSentAt;
    if (this.#srtt === null) {
      this.#srtt = rtt;
      this.#rttvar = rtt / 2;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - rtt);
      this.#srtt = 0.875 * this.#srtt + 0.125 * rtt;
    }
  }

  /** The retransmit wait: short first (RTT-based, floor minTimeoutMs), doubled per consecutive timeout. */
  timeoutMs(): number {
    const { limits } = this.#d;
    const ceiling = Math.max(limits.maxTimeoutMs, (this.#neg?.timeoutSeconds ?? 0) * 1000);
    const first = this.state === 'negotiating' ? Math.max(limits.initialTimeoutMs, limits.oackTimeoutMs) : limits.initialTimeoutMs;
    const base = this.#srtt === null ? first : Math.max(limits.minTimeoutMs, this.#srtt + 4 * this.#rttvar);
    return Math.min(ceiling, base * 2 ** this.#timeouts);
  }

  /** (Re)starts the wait for an ACK: moves the deadline; touches the timer only if it would fire too late. */
  #arm(now: number): void {
    const ms = this.timeoutMs();
    this.#deadline = now + ms;
    if (this.#timer !== null && this.#timerAt <= this.#deadline + 1) {
      this.#d.awaitingAck?.(this.#srtt ?? ms);
      return;
    }
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#startTimer(now, ms);
    this.#d.awaitingAck?.(this.#srtt ?? ms);
  }

  #startTimer(now: number, ms: number): void {
    const wait = Math.max(1, Math.ceil(ms));
    this.#timerAt = now + wait;
    this.#timer = setTimeout(this.#onTimer, wait);
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    if (this.state !== 'negotiating' && this.state !== 'sending') return;
    const now = performance.now();
    // Fired before the (moved) deadline: progress was made meanwhile; wait for the rest.
    if (now < this.#deadline - 0.5) return this.#startTimer(now, this.#deadline - now);
    // Node runs timers before polling sockets: under load the ACK may already sit in the socket
    // buffer. Decide after the poll phase (setImmediate); any progress meanwhile moves the deadline.
    const deadline = this.#deadline;
    const state = this.state;
    setImmediate(() => {
      if (this.state !== state || this.#timer !== null) return;
      if (this.#deadline === deadline) this.#retransmit();
      else this.#startTimer(performance.now(), Math.max(0, this.#deadline - performance.now()));
    });
  };

  #retransmit(): void {
    this.#timeouts++;
    if (this.#timeouts > this.#d.limits.retries && performance.now() - this.#progressAt >= this.#d.limits.minStallMs) {
      if (this.#last !== null && this.#acked === this.#last - 1) return this.#close('unconfirmed', 'final ACK never arrived');
      return this.#fail('timeout', ERROR_CODE.NOT_DEFINED, 'Transfer timed out', `no ACK after ${this.#d.limits.retries} retransmits`);
    }
    if (this.state === 'negotiating') {
      this.#retransmits++;
      this.#windowRetransmitted = true;
      this.#send(this.#oack!);
      this.#arm(performance.now());
      return;
    }
    // Go back to the last acknowledged block + 1 and resend the whole window (RFC 7440 §4).
    this.#sendWindow(this.#acked + 1, this.#acked + this.#neg!.windowsize, true);
  }

  #send(buf: Buffer, final = false): void {
    this.#sendTo(buf, this.#d.client.port, this.#d.client.address, final);
  }

  /** DATA goes out without a callback (hot path); a final ERROR is tracked so the socket closes after it. */
  #sendTo(buf: Buffer, port: number, address: string, final = false): void {
    try {
      if (!final) return void this.#d.socket.send(buf, port, address);
      this.#pending++;
      this.#d.socket.send(buf, port, address, (err) => {
        if (err) this.#d.logger.debug({ client: this.#d.client, err: err.message }, 'tftp: send failed');
        if (--this.#pending === 0 && this.#flushed) this.#flushed();
      });
    } catch (err) {
      if (final) this.#pending--;
      this.#d.logger.debug({ client: this.#d.client, err: errText(err) }, 'tftp: send threw');
    }
  }

  /** Resolves once every datagram handed to the socket has left it, so closing it drops nothing. */
  flushed(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#flushed = () => {
        this.#flushed = null;
        resolve();
      };
    });
  }

  #fail(outcome: TransferOutcome, code: number, message: string, detail?: string): void {
    if (this.state === 'closed') return;
    this.#send(encodeError(code, message), true);
    this.#close(outcome, detail ?? message);
  }

  #close(outcome: TransferOutcome, error?: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.#generation++;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const source = this.#source;
    this.#source = null;
    if (source) void source.close().catch(() => undefined);
    const neg = this.#neg;
    const blksize = neg?.blksize ?? 512;
    const blocks = this.#acked;
    const size = source?.size ?? null;
    const bytes = outcome === 'complete' && this.#last !== null ? (this.#last - 1) * blksize + this.#lastLen : Math.min(blocks * blksize, size ?? Infinity);
    const summary: TransferSummary = {
      id: this.#d.id,
      path: this.#d.request.filename,
      client: this.#d.client,
      startedAt: this.#startedAt,
      durationMs: Math.round((performance.now() - this.#t0) * 1000) / 1000,
      outcome,
      options: {
        blksize,
        windowsize: neg?.windowsize ?? 1,
        timeoutSeconds: neg?.timeoutSeconds ?? null,
        tsize: neg?.tsizeRequested ? size : null,
        oack: (neg?.oack.length ?? 0) > 0,
      },
      bytes,
      blocks,
      retransmits: this.#retransmits,
      ignoredAcks: this.#ignoredAcks,
      ...(error !== undefined ? { error } : {}),
    };
    this.#d.onClosed(summary);
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
