import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { decodePacket, encodePacket, type RawOptions, type TftpPacket } from '../../src/protocol/tftp/index.js';

export interface Received {
  packet: TftpPacket;
  rinfo: RemoteInfo;
}

/**
 * A hand-driven TFTP client on a UDP socket, for behaviours no stock client exposes: ACK twice,
 * never ACK, answer from a foreign port, count every DATA. Waits are bounded by explicit timeouts.
 */
export class RawTftpClient {
  readonly socket: Socket;
  readonly #queue: Received[] = [];
  #waiter: (() => void) | null = null;
  /** Every DATA ever received, in order, by wire block number. */
  readonly dataLog: number[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('message', (msg, rinfo) => {
      const d = decodePacket(msg);
      if (!d.ok) return;
      if (d.packet.op === 'DATA') this.dataLog.push(d.packet.block);
      this.#queue.push({ packet: d.packet, rinfo });
      this.#waiter?.();
    });
  }

  static async open(address = '127.0.0.1'): Promise<RawTftpClient> {
    const s = createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, address, resolve));
    return new RawTftpClient(s);
  }

  get port(): number {
    return this.socket.address().port;
  }

  #pending = 0;

  send(packet: TftpPacket | Buffer, port: number, address = '127.0.0.1'): void {
    this.#pending++;
    this.socket.send(Buffer.isBuffer(packet) ? packet : encodePacket(packet), port, address, () => this.#pending--);
  }

  /** Closes once queued datagrams have left (a close right after send() would drop them). */
  async closeFlushed(): Promise<void> {
    for (let i = 0; i < 100 && this.#pending > 0; i++) await new Promise((r) => setTimeout(r, 5));
    this.socket.close();
  }

  rrq(port: number, filename: string, options: RawOptions = [], address = '127.0.0.1'): void {
    this.send({ op: 'RRQ', filename, mode: 'octet', options }, port, address);
  }

  /** Next packet, or null after timeoutMs. */
  async next(timeoutMs: number): Promise<Received | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#waiter = null;
    }
    return this.#queue.shift()!;
  }

  /** Collects everything that arrives within `ms`. */
  async drain(ms: number): Promise<Received[]> {
    const out: Received[] = [];
    const end = Date.now() + ms;
    for (;;) {
      const r = await this.next(Math.max(0, end - Date.now()));
      if (!r) return out;
      out.push(r);
    }
  }

  close(): void {
    this.socket.close();
  }
}

export interface RawDownload {
  data: Buffer;
  /** DATA packets received in total (duplicates included). */
  dataPackets: number;
  blocks: number;
  tid: number;
}

/**
 * Downloads `filename` lock-step (or with a window), acknowledging every DATA `ackCopies` times:
 * 2 reproduces the Sorcerer's Apprentice trigger. Bounded by `timeoutMs` overall.
 */
export async function rawDownload(
  port: number,
  filename: string,
  opts: { options?: RawOptions; ackCopies?: number; windowsize?: number; blksize?: number; timeoutMs?: number } = {},
): Promise<RawDownload> {
  const c = await RawTftpClient.open();
  const chunks: Buffer[] = [];
  const blksize = opts.blksize ?? 512;
  const window = opts.windowsize ?? 1;
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  try {
    c.rrq(port, filename, opts.options ?? []);
    let tid = 0;
    let expected = 1; // absolute
    let sinceAck = 0;
    let dataPackets = 0;
    for (;;) {
      const r = await c.next(Math.max(1, deadline - Date.now()));
      if (!r) throw new Error(`raw download of ${filename} timed out at block ${expected}`);
      const p = r.packet;
      tid = r.rinfo.port;
      const ack = (block: number): void => {
        for (let i = 0; i < (opts.ackCopies ?? 1); i++) c.send({ op: 'ACK', block: block & 0xffff }, tid);
      };
      if (p.op === 'ERROR') throw new Error(`server error ${p.code}: ${p.message}`);
      if (p.op === 'OACK') {
        ack(0);
        continue;
      }
      if (p.op !== 'DATA') continue;
      dataPackets++;
      if (p.block !== (expected & 0xffff)) {
        // Out of order or duplicate: acknowledge what we have (RFC 7440 receiver rule).
        ack(expected - 1);
        sinceAck = 0;
        continue;
      }
      chunks.push(Buffer.from(p.data));
      expected++;
      sinceAck++;
      const last = p.data.length < blksize;
      if (last || sinceAck >= window) {
        ack(expected - 1);
        sinceAck = 0;
      }
      if (last) return { data: Buffer.concat(chunks), dataPackets, blocks: expected - 1, tid };
    }
  } finally {
    await c.closeFlushed();
  }
}
