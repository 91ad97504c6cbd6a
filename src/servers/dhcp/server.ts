import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { constants } from 'node:os';
import { getSystemErrorName } from 'node:util';
import type { Registry as PromRegistry } from 'prom-client';
import { BootrackError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Running, Service } from '../../common/service.js';
import { BOOTREQUEST, DEFAULT_MAX_PAYLOAD } from '../../protocol/dhcp/constants.js';
import { ipToInt } from '../../protocol/dhcp/ip.js';
import { chaddrHex, decodePacket, encodePacket, type DhcpPacket } from '../../protocol/dhcp/packet.js';
import { counter, type LabelCounts } from './counters.js';
import { bindSocketToDevice, interfaceAddress, sendBatch, socketFd, type InterfaceAddress } from './bind.js';
import { replyDestination, type Destination } from './destination.js';

/** One decoded request and where it came from, as the policy sees it. */
export interface DhcpRequest {
  packet: DhcpPacket;
  /** The configured interface it arrived on (guaranteed by SO_BINDTODEVICE). */
  iface: InterfaceAddress;
  /** True when it came to the PXE boot-server port (4011, proxy mode). */
  pxePort: boolean;
  source: Destination;
}

/**
 * The policy port. `handle` returns the reply to send, or null to stay silent (not ours, another
 * server's, nothing to say). It may throw: the error is logged, counted, and the loop keeps serving.
 */
export interface DhcpHandler {
  handle(request: DhcpRequest): DhcpPacket | null;
  /**
   * How many durable changes the handler has queued for its next flush, ever (a running count). A
   * reply whose handling queued one (an ACK for a new binding) waits for the flush; any other reply
   * (an OFFER, which reserves an address in memory only; a NAK) leaves at once. A handler without
   * it has every reply wait.
   */
  readonly queuedWrites?: number;
  /**
   * Called once per batch (what arrived since the last flush; see commitIntervalMs), before the
   * replies that wait for it are sent: the handler makes its state durable here. If it throws,
   * those replies are dropped, so no client is told about a lease that was not stored.
   */
  flush?(): void;
  /** Periodic housekeeping (the lease sweep), every `sweepIntervalMs`, between batches. */
  sweep?(): void;
}

interface Pending {
  socket: Socket;
  bytes: Buffer;
  to: Destination;
  type: string;
}

export interface DhcpServerOptions {
  interfaces: readonly string[];
  port: number;
  /** The PXE boot-server port; null when not serving it (full mode). */
  pxePort: number | null;
  handler: DhcpHandler;
  /** How often `handler.sweep` runs; default 60 s. */
  sweepIntervalMs?: number;
  /**
   * The least time between the starts of two flushes (group commits), default 0; each commit also
   * spaces the next by COMMIT_GAP_PER_COMMIT_MS times its own duration (up to MAX_COMMIT_GAP_MS).
   * An idle server flushes at once; a busy one gathers the ACKs that arrive meanwhile into one
   * commit instead of paying a commit (and a WAL page rewrite) for every turn of the event loop.
   */
  commitIntervalMs?: number;
  logger: Logger;
  metrics?: PromRegistry;
}

/**
 * Replies only ever go to address literals (giaddr, ciaddr, the source, broadcast). Answering the
 * lookup synchronously saves dgram's dns.lookup round through process.nextTick on every send.
 */
function literalLookup(address: string, _options: unknown, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  if (isIPv4(address)) callback(null, address, 4);
  else callback(Object.assign(new Error(`not an IPv4 address: ${address}`), { code: 'EINVAL' }), '', 4);
}

const RECV_BUFFER_BYTES = 4 * 1024 * 1024;
const DEFAULT_SWEEP_MS = 60_000;
const DEFAULT_COMMIT_INTERVAL_MS = 0;
/**
 * After a commit that took t ms the next one waits at least this many times t (and at most
 * MAX_COMMIT_GAP_MS): short commits then take about a tenth of the loop's time, and a slower commit
 * gathers more leases into the next one.
 */
const COMMIT_GAP_PER_COMMIT_MS = 9;
/**
 * The ACKs a commit releases leave together. Under perfdhcp at 7000 DORA/s a 10 ms cap sent bursts
 * that overflowed the client's receive queue (0.1-0.4 % lost); 2 ms kept them small (0-0.06 %) at
 * the same CPU per exchange.
 */
const MAX_COMMIT_GAP_MS = 2;

type State = { phase: 'idle' } | { phase: 'running'; sockets: Socket[] } | { phase: 'stopped' };

/** The DHCP socket loop: one socket per configured interface (and per port), each SO_BINDTODEVICE'd. */
export class DhcpServer implements Service {
  readonly name = 'dhcp';
  readonly #options: DhcpServerOptions;
  readonly #received: LabelCounts;
  readonly #sent: LabelCounts;
  readonly #dropped: LabelCounts;
  #state: State = { phase: 'idle' };
  #pending: Pending[] = [];
  #flushScheduled: { immediate: NodeJS.Immediate } | { timer: NodeJS.Timeout } | undefined;
  /** performance.now() before which the next flush waits (see COMMIT_GAP_PER_COMMIT_MS). */
  #nextFlushAt = -Infinity;
  #writesAtLastFlush: number | undefined;
  readonly #flushNow = () => this.#flush();
  /** Replies ready to leave, sent together (sendmmsg) at the end of this turn of the event loop. */
  #outbox: Pending[] = [];
  #drainScheduled: NodeJS.Immediate | undefined;
  readonly #drainNow = () => this.#drain();
  readonly #sockets = new Map<Socket, { fd: number; log: Logger }>();

  constructor(options: DhcpServerOptions) {
    if (options.interfaces.length === 0) {
      throw new BootrackError('DHCP_CONFIG_INVALID', 'DHCP needs at least one interface; it is never served on all of them', {});
    }
    this.#options = options;
    this.#received = counter(options.metrics, 'bootrack_dhcp_received_total', 'DHCP messages received, by message type', ['type']);
    this.#sent = counter(options.metrics, 'bootrack_dhcp_sent_total', 'DHCP replies sent, by message type', ['type']);
    this.#dropped = counter(options.metrics, 'bootrack_dhcp_dropped_total', 'DHCP datagrams dropped, by reason', ['reason']);
  }

  async start(signal: AbortSignal): Promise<Running> {
    if (this.#state.phase !== 'idle') throw new BootrackError('INTERNAL', 'the DHCP server was already started', {});
    const ifaces = this.#options.interfaces.map(interfaceAddress);
    const sockets: Socket[] = [];
    const closeAll = () => Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    try {
      for (const iface of ifaces) {
        sockets.push(await this.#open(iface, this.#options.port, false));
        if (this.#options.pxePort !== null) sockets.push(await this.#open(iface, this.#options.pxePort, true));
      }
    } catch (err) {
      await closeAll();
      throw err;
    }
    this.#state = { phase: 'running', sockets };
    const sweeper = setInterval(() => this.#sweep(), this.#options.sweepIntervalMs ?? DEFAULT_SWEEP_MS);
    const done = new Promise<void>((resolve) => {
      const stop = () => {
        clearInterval(sweeper);
        this.#flush();
        this.#state = { phase: 'stopped' };
        void closeAll().then(() => resolve());
      };
      if (signal.aborted) stop();
      else signal.addEventListener('abort', stop, { once: true });
    });
    return {
      done,
      describe: { interfaces: ifaces.map((i) => `${i.name}=${i.address}`), port: this.#options.port, pxePort: this.#options.pxePort },
    };
  }

  async #open(iface: InterfaceAddress, port: number, pxePort: boolean): Promise<Socket> {
    const socket = createSocket({ type: 'udp4', reuseAddr: true, lookup: literalLookup });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        socket.close();
        reject(new BootrackError('DHCP_INTERFACE_UNAVAILABLE', `cannot bind UDP ${port} for ${iface.name}: ${err.message}`, { interface: iface.name, port }, { cause: err }));
      };
      socket.once('error', onError);
      // 0.0.0.0: a socket bound to the interface address never sees broadcasts (deps.md §2).
      socket.bind({ port, address: '0.0.0.0', exclusive: true }, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    try {
      socket.setBroadcast(true);
      // A boot storm arrives in bursts; ask for a deep queue (the kernel caps it at net.core.rmem_max).
      socket.setRecvBufferSize(RECV_BUFFER_BYTES);
      bindSocketToDevice(socket, iface.name);
    } catch (err) {
      socket.close();
      throw err;
    }
    const log = this.#options.logger.child({ interface: iface.name, port });
    // Replies leave through sendBatch, which reports failures at once. Only when the send queue is
    // full are they handed to dgram, without a callback: a failure then arrives as an error event.
    socket.on('error', (err) => {
      this.#dropped.inc('send_failed');
      log.warn({ err }, 'DHCP socket error (a reply could not be sent)');
    });
    socket.on('message', (msg, rinfo) => this.#onMessage(socket, iface, pxePort, msg, { address: rinfo.address, port: rinfo.port }, log));
    this.#sockets.set(socket, { fd: socketFd(socket), log });
    return socket;
  }

  /** Never throws: a bad datagram is logged and counted, and the loop keeps serving (DESIGN.md). */
  #onMessage(socket: Socket, iface: InterfaceAddress, pxePort: boolean, msg: Buffer, source: Destination, log: Logger): void {
    if (this.#state.phase !== 'running') return;
    let packet: DhcpPacket;
    try {
      packet = decodePacket(msg);
    } catch (err) {
      this.#dropped.inc('malformed');
      log.debug({ from: source.address, bytes: msg.length, reason: (err as BootrackError).details?.reason }, 'malformed DHCP datagram dropped');
      return;
    }
    const type = packet.options.messageType ?? 'unknown';
    this.#received.inc(type);
    if (packet.op !== BOOTREQUEST) {
      this.#dropped.inc('not_request');
      return;
    }
    let reply: DhcpPacket | null;
    let bytes: Buffer;
    // Whatever the handler does (reply, silence, throw), its writes are committed with this batch.
    // A batch is what libuv reads in one poll phase (up to 32 datagrams per socket), or more while
    // the last commit's pacing gap runs: an idle server commits and answers at once, and a busy one
    // commits once for everything that arrived meanwhile.
    this.#scheduleFlush();
    const handler = this.#options.handler;
    const writesBefore = handler.queuedWrites;
    try {
      reply = handler.handle({ packet, iface, pxePort, source });
      if (reply === null) return;
      const maxPayload = Math.max((packet.options.maxMessageSize ?? 0) - 28, DEFAULT_MAX_PAYLOAD);
      bytes = encodePacket(reply, { maxPayload });
    } catch (err) {
      this.#dropped.inc('handler_error');
      log.error({ err, mac: chaddrHex(packet), type }, 'DHCP request failed; no reply sent');
      return;
    }
    const to = replyDestination(packet, reply, { pxePort, source, serverPort: this.#options.port });
    const replyType = reply.options.messageType ?? 'unknown';
    const ready = { socket, bytes, to, type: replyType };
    if (writesBefore !== undefined && handler.queuedWrites === writesBefore) this.#queueSend(ready);
    else this.#pending.push(ready);
  }

  #queueSend(reply: Pending): void {
    this.#outbox.push(reply);
    this.#drainScheduled ??= setImmediate(this.#drainNow);
  }

  /** Sends the outbox: one sendmmsg per run of replies on the same socket. */
  #drain(): void {
    if (this.#drainScheduled !== undefined) clearImmediate(this.#drainScheduled);
    this.#drainScheduled = undefined;
    const out = this.#outbox;
    this.#outbox = [];
    if (this.#state.phase !== 'running') return;
    for (let i = 0; i < out.length; ) {
      let j = i + 1;
      while (j < out.length && out[j]!.socket === out[i]!.socket) j++;
      this.#sendRun(out, i, j);
      i = j;
    }
  }

  #sendRun(out: Pending[], from: number, to: number): void {
    const socket = out[from]!.socket;
    const { fd, log } = this.#sockets.get(socket)!;
    const replies: Pending[] = [];
    const buffers: Buffer[] = [];
    const ips: number[] = [];
    const ports: number[] = [];
    for (let k = from; k < to; k++) {
      const reply = out[k]!;
      let ip: number;
      try {
        ip = ipToInt(reply.to.address); // replyDestination only ever gives address literals
      } catch {
        this.#dropped.inc('send_failed');
        log.warn({ to: reply.to, type: reply.type }, 'a DHCP reply has no IPv4 destination; not sent');
        continue;
      }
      replies.push(reply);
      buffers.push(reply.bytes);
      ips.push(ip);
      ports.push(reply.to.port);
    }
    for (let at = 0; at < replies.length; ) {
      const result = sendBatch(fd, buffers, ips, ports, at);
      if (result > 0) {
        for (let k = at; k < at + result; k++) this.#sent.inc(replies[k]!.type);
        at += result;
        continue;
      }
      const errno = result === 0 ? constants.errno.EIO : -result;
      if (errno === constants.errno.EAGAIN || errno === constants.errno.EWOULDBLOCK) {
        // The socket's send queue is full: dgram queues the rest and sends them as it drains.
        for (const reply of replies.slice(at)) {
          socket.send(reply.bytes, reply.to.port, reply.to.address);
          this.#sent.inc(reply.type);
        }
        return;
      }
      const reply = replies[at]!;
      this.#dropped.inc('send_failed');
      log.warn({ to: reply.to, type: reply.type, errno: getSystemErrorName(-errno) }, 'a DHCP reply could not be sent');
      at += 1;
    }
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled !== undefined) return;
    const wait = this.#nextFlushAt - performance.now();
    this.#flushScheduled = wait > 0 ? { timer: setTimeout(this.#flushNow, wait) } : { immediate: setImmediate(this.#flushNow) };
  }

  /** Commits the batch through the handler, then sends its replies; a failed commit sends nothing. */
  #flush(): void {
    const scheduled = this.#flushScheduled;
    if (scheduled !== undefined) {
      if ('timer' in scheduled) clearTimeout(scheduled.timer);
      else clearImmediate(scheduled.immediate);
    }
    this.#flushScheduled = undefined;
    const batch = this.#pending;
    this.#pending = [];
    const started = performance.now();
    const handler = this.#options.handler;
    try {
      handler.flush?.();
      // Paced only after a flush that had something to store: an idle server's next ACK never waits.
      if (batch.length > 0 || handler.queuedWrites !== this.#writesAtLastFlush) {
        const took = performance.now() - started;
        const minimum = this.#options.commitIntervalMs ?? DEFAULT_COMMIT_INTERVAL_MS;
        this.#nextFlushAt = started + Math.max(minimum, Math.min(MAX_COMMIT_GAP_MS, took * COMMIT_GAP_PER_COMMIT_MS));
      }
      this.#writesAtLastFlush = handler.queuedWrites;
    } catch (err) {
      this.#dropped.inc('commit_failed', Math.max(batch.length, 1));
      this.#options.logger.error({ err, replies: batch.length }, 'DHCP state could not be stored; replies of this batch dropped');
      return;
    }
    for (const reply of batch) this.#outbox.push(reply);
    this.#drain();
  }

  /** The periodic sweep, after the pending batch is stored and answered; a failure is logged, never thrown. */
  #sweep(): void {
    if (this.#state.phase !== 'running' || !this.#options.handler.sweep) return;
    this.#flush();
    try {
      this.#options.handler.sweep();
    } catch (err) {
      this.#options.logger.error({ err }, 'DHCP lease sweep failed; retried at the next interval');
    }
  }
}
