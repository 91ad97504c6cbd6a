import { createSocket, type RemoteInfo, type Socket, type SocketOptions } from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIPv4 } from 'node:net';
import { decodePacket, encodeError, ERROR_CODE, type RequestPacket } from '../../protocol/tftp/index.js';
import type { Config } from '../../config/schema.js';
import type { Logger } from '../../common/logger.js';
import type { Metrics } from '../../common/metrics.js';
import type { Running, Service } from '../../common/service.js';
import { FileCache } from './cache.js';
import { TftpMetrics } from './metrics.js';
import { BusyPoll } from './poll.js';
import { Transfer } from './transfer.js';
import { DEFAULT_LIMITS, type TftpHandler, type TftpLimits, type TftpObserver, type TransferSummary } from './types.js';

export interface TftpServerOptions {
  address: string;
  port: number;
  handler: TftpHandler;
  logger: Logger;
  limits?: Partial<TftpLimits>;
  metrics?: Metrics;
  observer?: TftpObserver;
}

/**
 * RFC 2347/2348/2349/7440 window cap for a client's next transfer: halved after a lossy transfer
 * (more than 2% of its packets resent), doubled back after a clean one. Windowing only pays when the
 * window survives the wire; under loss a smaller window loses less per timeout.
 */
export function nextWindowCap(current: number, summary: Pick<TransferSummary, 'retransmits' | 'blocks' | 'outcome'>, max: number): number {
  if (summary.outcome !== 'complete' && summary.outcome !== 'timeout' && summary.outcome !== 'unconfirmed') return current;
  const ratio = summary.retransmits / Math.max(summary.blocks, 1);
  if (ratio > 0.02 || summary.outcome === 'timeout') return Math.max(1, Math.floor(current / 2));
  if (summary.retransmits === 0) return Math.min(max, current * 2);
  return current;
}

const WINDOW_MEMORY_MS = 10 * 60_000;
const WINDOW_MEMORY_MAX = 10_000;

/**
 * dgram resolves the destination of every send() through `lookup`; the default (dns.lookup) defers
 * even an IP literal to the next tick. Transfer sockets only ever send to the address a datagram
 * came from, so an IPv4 literal is answered synchronously: one less hop per DATA packet.
 */
const literalLookup: NonNullable<SocketOptions['lookup']> = (hostname, options, callback) => {
  if (isIPv4(hostname)) return callback(null, hostname, 4);
  dnsLookup(hostname, options, callback);
};

/** The read-only TFTP server: one listening socket on port 69, one ephemeral socket (TID) per transfer. */
export class TftpServer implements Service {
  readonly name = 'tftp';
  readonly metrics: TftpMetrics;
  readonly #o: TftpServerOptions;
  readonly #limits: TftpLimits;
  readonly #log: Logger;
  /** Keyed by client ip:port, so a retransmitted RRQ does not start a second transfer. */
  readonly #transfers = new Map<string, { transfer: Transfer; socket: Socket }>();
  readonly #perClient = new Map<string, number>();
  readonly #windowCaps = new Map<string, { cap: number; at: number }>();
  readonly #files: FileCache;
  readonly #poll: BusyPoll;
  #socket: Socket | null = null;
  #nextId = 1;
  #logSecond = 0;
  #logged = 0;
  #suppressed = 0;
  #stopping = false;
  #idle: (() => void) | null = null;

  constructor(options: TftpServerOptions) {
    this.#o = options;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#log = options.logger.child({ part: 'tftp' });
    this.metrics = new TftpMetrics(options.metrics);
    this.#files = new FileCache({ maxFileBytes: this.#limits.cacheFileMaxBytes, maxTotalBytes: this.#limits.cacheTotalBytes });
    this.#poll = new BusyPoll(this.#limits.busyPollUs);
  }

  /** The bound address and port (port 0 in the options picks a free one). */
  get address(): { address: string; port: number } {
    const a = this.#socket?.address();
    return a ? { address: a.address, port: a.port } : { address: this.#o.address, port: this.#o.port };
  }

  get activeTransfers(): number {
    return this.#transfers.size;
  }

  async start(signal: AbortSignal): Promise<Running> {
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    socket.on('message', (msg, rinfo) => {
      try {
        this.#onRequest(msg, rinfo);
      } catch (err) {
        this.#log.error({ err, client: rinfo.address }, 'tftp: request handling failed');
      }
    });
    socket.on('error', (err) => this.#log.error({ err }, 'tftp: socket error'));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(this.#o.port, this.#o.address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.#socket = socket;
    const done = new Promise<void>((resolve) => {
      const stop = (): void => {
        this.#stopping = true;
        this.#poll.stop();
        socket.close();
        this.#socket = null;
        for (const { transfer } of [...this.#transfers.values()]) transfer.abort();
        if (this.#transfers.size === 0) resolve();
        else this.#idle = resolve;
      };
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    });
    return { done, describe: { address: this.address.address, port: this.address.port, ...this.#limits } };
  }

  #onRequest(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.#stopping) return;
    const decoded = decodePacket(msg);
    if (!decoded.ok) {
      this.metrics.malformed.inc({ socket: 'listen' });
      if (this.#logBudget()) this.#log.warn({ client: rinfo.address, port: rinfo.port, reason: decoded.reason }, 'tftp: malformed request ignored');
      return;
    }
    const p = decoded.packet;
    if (p.op === 'WRQ') {
      this.metrics.rejected.inc({ reason: 'write' });
      this.#log.info({ client: rinfo.address, path: p.filename }, 'tftp: write request refused (read-only server)');
      this.#socket?.send(encodeError(ERROR_CODE.ACCESS_VIOLATION, 'Access violation: read-only server'), rinfo.port, rinfo.address);
      return;
    }
    if (p.op !== 'RRQ') return; // DATA/ACK/ERROR/OACK to port 69 belong to no transfer: ignored
    const key = `${rinfo.address}:${rinfo.port}`;
    if (this.#transfers.has(key)) return; // the client resent its RRQ; our own timer resends the answer
    if (p.mode === 'mail') {
      this.#socket?.send(encodeError(ERROR_CODE.ILLEGAL_OPERATION, 'Mail mode not supported'), rinfo.port, rinfo.address);
      return;
    }
    if (this.#transfers.size >= this.#limits.maxTransfers) {
      // Silence, not an error: the client resends its RRQ and gets served once a slot frees up.
      this.metrics.rejected.inc({ reason: 'busy' });
      this.#log.debug({ client: rinfo.address, path: p.filename }, 'tftp: transfer cap reached; request dropped');
      return;
    }
    const count = this.#perClient.get(rinfo.address) ?? 0;
    if (count >= this.#limits.maxTransfersPerClient) {
      this.metrics.rejected.inc({ reason: 'client-cap' });
      this.#log.warn({ client: rinfo.address, path: p.filename, active: count }, 'tftp: per-client transfer cap reached');
      this.#socket?.send(encodeError(ERROR_CODE.NOT_DEFINED, 'Too many transfers from this client'), rinfo.port, rinfo.address);
      return;
    }
    this.#begin(p, rinfo, key);
  }

  #begin(request: RequestPacket, rinfo: RemoteInfo, key: string): void {
    const client = { address: rinfo.address, port: rinfo.port };
    const socket = createSocket({ type: 'udp4', lookup: literalLookup });
    const id = this.#nextId++;
    const transfer = new Transfer({
      id,
      socket,
      client,
      request,
      handler: this.#o.handler,
      limits: this.#limits,
      windowCap: this.#windowCap(client.address),
      logger: this.#log,
      openFile: (path, stats) => this.#files.open(path, stats),
      awaitingAck: (srttMs) => this.#poll.awaiting(srttMs),
      onClosed: (summary) => this.#ended(key, socket, transfer, summary),
    });
    this.#transfers.set(key, { transfer, socket });
    this.#perClient.set(client.address, (this.#perClient.get(client.address) ?? 0) + 1);
    this.metrics.active.inc();
    socket.on('error', (err) => {
      this.#log.warn({ client, err: err.message }, 'tftp: transfer socket error');
      if (transfer.state === 'resolving') transfer.abort();
    });
    socket.on('message', (msg, from) => {
      try {
        transfer.onMessage(msg, from);
      } catch (err) {
        this.#log.error({ err, client }, 'tftp: transfer packet handling failed');
      }
    });
    // The transfer's own port is its TID (RFC 1350 §4); bind it on the listening address.
    socket.bind(0, this.#o.address, () => {
      void transfer.start();
    });
  }

  /** At most 20 malformed-request warnings per second, so a flood cannot flood the log too. */
  #logBudget(): boolean {
    const now = Math.floor(Date.now() / 1000);
    if (now !== this.#logSecond) {
      if (this.#suppressed > 0) this.#log.warn({ suppressed: this.#suppressed }, 'tftp: malformed-request warnings suppressed');
      this.#logSecond = now;
      this.#logged = 0;
      this.#suppressed = 0;
    }
    if (this.#logged < 20) return ++this.#logged > 0;
    this.#suppressed++;
    return false;
  }

  #windowCap(address: string): number {
    const entry = this.#windowCaps.get(address);
    if (!entry || Date.now() - entry.at > WINDOW_MEMORY_MS) return this.#limits.maxWindowsize;
    return entry.cap;
  }

  #ended(key: string, socket: Socket, transfer: Transfer, summary: TransferSummary): void {
    this.#transfers.delete(key);
    const n = (this.#perClient.get(summary.client.address) ?? 1) - 1;
    if (n <= 0) this.#perClient.delete(summary.client.address);
    else this.#perClient.set(summary.client.address, n);
    this.metrics.active.dec();
    this.metrics.ended(summary);
    if (summary.options.windowsize > 1 || this.#windowCaps.has(summary.client.address)) {
      const cap = nextWindowCap(this.#windowCap(summary.client.address), summary, this.#limits.maxWindowsize);
      this.#windowCaps.delete(summary.client.address);
      this.#windowCaps.set(summary.client.address, { cap, at: Date.now() });
      if (this.#windowCaps.size > WINDOW_MEMORY_MAX) this.#windowCaps.delete(this.#windowCaps.keys().next().value!);
    }
    const close = (): void => {
      try {
        socket.close();
      } catch {
        // already closed
      }
    };
    // Close only after the final ERROR (if any) has left; bounded in case a send never completes.
    const guard = setTimeout(close, 1000);
    void transfer.flushed().then(() => {
      clearTimeout(guard);
      close();
    });
    const fields = { transfer: summary.id, client: summary.client.address, path: summary.path, outcome: summary.outcome, bytes: summary.bytes, retransmits: summary.retransmits, ms: summary.durationMs, error: summary.error };
    if (summary.outcome === 'complete' || summary.outcome === 'probe' || summary.outcome === 'unconfirmed') this.#log.debug(fields, 'tftp: transfer ended');
    else this.#log.info(fields, 'tftp: transfer ended');
    try {
      this.#o.observer?.transferEnded?.(summary);
    } catch (err) {
      this.#log.error({ err, transfer: summary.id }, 'tftp: transfer observer failed');
    }
    if (this.#stopping && this.#transfers.size === 0 && this.#idle) {
      this.#idle();
      this.#idle = null;
    }
  }
}

/** The server as the daemon runs it: limits from `config.tftp`, policy from the netboot layer. */
export function tftpService(config: Pick<Config, 'tftp'>, policy: { handler: TftpHandler; observer?: TftpObserver }, logger: Logger, metrics?: Metrics): TftpServer {
  const c = config.tftp;
  return new TftpServer({
    address: c.address,
    port: c.port,
    handler: policy.handler,
    ...(policy.observer ? { observer: policy.observer } : {}),
    logger,
    ...(metrics ? { metrics } : {}),
    limits: {
      maxBlksize: c.maxBlksize,
      maxWindowsize: c.maxWindowsize,
      maxTransfers: c.maxTransfers,
      maxTransfersPerClient: c.maxTransfersPerClient,
      retries: c.retries,
      initialTimeoutMs: c.initialTimeoutMs,
      busyPollUs: c.busyPollUs,
      cacheFileMaxBytes: c.cacheFileMaxBytes,
      cacheTotalBytes: c.cacheTotalBytes,
    },
  });
}
