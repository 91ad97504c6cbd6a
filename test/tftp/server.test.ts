import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/common/logger.js';
import { encodePacket } from '../../src/protocol/tftp/index.js';
import { nextWindowCap, TftpServer, type TftpHandler, type TftpLimits, type TransferSummary } from '../../src/servers/tftp/index.js';
import { RawTftpClient, rawDownload } from '../helpers/tftp-raw.js';

// In-process server on a loopback high port, driven by a hand-written UDP client (tftp-raw.ts):
// these are the behaviours stock clients cannot provoke on purpose.

const running: Array<{ stop(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

async function serve(handler: TftpHandler, limits: Partial<TftpLimits> = {}) {
  const logger = memoryLogger();
  const summaries: TransferSummary[] = [];
  const server = new TftpServer({ address: '127.0.0.1', port: 0, handler, logger, limits, observer: { transferEnded: (s) => summaries.push(s) } });
  const ac = new AbortController();
  const run = await server.start(ac.signal);
  const handle = {
    server,
    port: server.address.port,
    logger,
    summaries,
    async stop() {
      ac.abort();
      await run.done;
    },
    /** Waits (bounded) until n transfers have ended. */
    async ended(n: number, ms = 10_000): Promise<TransferSummary[]> {
      const end = Date.now() + ms;
      while (summaries.length < n && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
      return summaries;
    },
  };
  running.push(handle);
  return handle;
}

const files = (map: Record<string, Buffer>): TftpHandler => (req) => {
  const data = map[req.path];
  return data ? { kind: 'buffer', data } : { kind: 'not-found' };
};

describe('tftp server behaviour', () => {
  it('does not multiply DATA when every DATA is acknowledged twice (Sorcerer\'s Apprentice)', async () => {
    const data = randomBytes(100 * 1024);
    const s = await serve(files({ f: data }));
    const lock = await rawDownload(s.port, 'f', { ackCopies: 2 });
    expect(lock.data.equals(data)).toBe(true);
    expect(lock.blocks).toBe(201);
    expect(lock.dataPackets).toBe(201); // exactly one DATA per block, not 2^n
    const win = await rawDownload(s.port, 'f', { ackCopies: 2, windowsize: 8, blksize: 1024, options: [['blksize', '1024'], ['windowsize', '8']] });
    expect(win.data.equals(data)).toBe(true);
    expect(win.dataPackets).toBe(win.blocks);
    // A client that negotiates a window but ACKs every block gets no extra DATA either (the window slides).
    const every = await rawDownload(s.port, 'f', { windowsize: 1, blksize: 1024, options: [['blksize', '1024'], ['windowsize', '8']] });
    expect(every.data.equals(data)).toBe(true);
    expect(every.dataPackets).toBe(every.blocks);
    const [a, b] = await s.ended(2);
    expect(a!.retransmits).toBe(0);
    expect(a!.ignoredAcks).toBeGreaterThanOrEqual(200);
    expect(b!.retransmits).toBe(0);
    expect(b!.outcome).toBe('complete');
  });

  it('rolls block numbers over past 65535 (70 001 blocks of 8 bytes, window 64)', async () => {
    const data = randomBytes(70_000 * 8);
    const s = await serve(files({ big: data }), { maxWindowsize: 64 });
    const r = await rawDownload(s.port, 'big', { blksize: 8, windowsize: 64, options: [['blksize', '8'], ['windowsize', '64']], timeoutMs: 60_000 });
    expect(r.blocks).toBe(70_001);
    expect(r.data.equals(data)).toBe(true);
    const [sum] = await s.ended(1);
    expect(sum!.outcome).toBe('complete');
    expect(sum!.bytes).toBe(data.length);
  });

  it('retransmits on timeout only, with a growing wait, and gives up after the retry budget', async () => {
    const s = await serve(files({ f: randomBytes(2000) }), { initialTimeoutMs: 40, retries: 3, minStallMs: 0 });
    const c = await RawTftpClient.open();
    try {
      c.rrq(s.port, 'f');
      const got = await c.drain(2000);
      const data = got.filter((g) => g.packet.op === 'DATA');
      expect(data.length).toBe(4); // first send + 3 retransmits
      expect(data.every((g) => g.packet.op === 'DATA' && g.packet.block === 1)).toBe(true);
      const last = got[got.length - 1]!.packet;
      expect(last).toMatchObject({ op: 'ERROR', code: 0 });
      const [sum] = await s.ended(1);
      expect(sum!.outcome).toBe('timeout');
      expect(sum!.retransmits).toBe(3);
    } finally {
      c.close();
    }
  });

  it('backs off: each retransmit waits longer than the one before', async () => {
    const s = await serve(files({ f: randomBytes(2000) }), { initialTimeoutMs: 30, retries: 4, minStallMs: 0 });
    const c = await RawTftpClient.open();
    const times: number[] = [];
    try {
      c.rrq(s.port, 'f');
      for (;;) {
        const r = await c.next(3000);
        if (!r || r.packet.op !== 'DATA') break;
        times.push(performance.now());
      }
    } finally {
      c.close();
    }
    expect(times.length).toBe(5);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i]!).toBeGreaterThan(gaps[i - 1]!);
  });

  it('answers a foreign TID with ERROR 5 and keeps the transfer going', async () => {
    const data = randomBytes(5000);
    const s = await serve(files({ f: data }));
    const c = await RawTftpClient.open();
    const intruder = await RawTftpClient.open();
    try {
      c.rrq(s.port, 'f');
      const first = await c.next(2000);
      expect(first?.packet).toMatchObject({ op: 'DATA', block: 1 });
      const tid = first!.rinfo.port;
      intruder.send({ op: 'ACK', block: 1 }, tid);
      const err = await intruder.next(2000);
      expect(err?.packet).toMatchObject({ op: 'ERROR', code: 5 });
      // Garbage from the right peer does not break it either.
      c.send(Buffer.from([0]), tid);
      c.send(Buffer.from([0, 4, 0]), tid);
      const chunks = [(first!.packet as { data: Buffer }).data];
      c.send({ op: 'ACK', block: 1 }, tid);
      for (let b = 2; ; b++) {
        const r = await c.next(2000);
        expect(r?.packet).toMatchObject({ op: 'DATA', block: b });
        const d = (r!.packet as { data: Buffer }).data;
        chunks.push(d);
        c.send({ op: 'ACK', block: b }, tid);
        if (d.length < 512) break;
      }
      expect(Buffer.concat(chunks).equals(data)).toBe(true);
    } finally {
      c.close();
      intruder.close();
    }
  });

  it('refuses WRQ with error 2 and mail mode with error 4; ignores stray packets on port 69', async () => {
    const s = await serve(files({}));
    const c = await RawTftpClient.open();
    try {
      c.send({ op: 'WRQ', filename: 'x', mode: 'octet', options: [] }, s.port);
      expect((await c.next(2000))?.packet).toMatchObject({ op: 'ERROR', code: 2 });
      c.send({ op: 'RRQ', filename: 'x', mode: 'mail', options: [] }, s.port);
      expect((await c.next(2000))?.packet).toMatchObject({ op: 'ERROR', code: 4 });
      c.send({ op: 'ACK', block: 1 }, s.port);
      c.send(Buffer.from([1]), s.port);
      c.send({ op: 'RRQ', filename: 'missing', mode: 'octet', options: [] }, s.port);
      expect((await c.next(2000))?.packet).toMatchObject({ op: 'ERROR', code: 1 });
    } finally {
      c.close();
    }
  });

  it('answers the UEFI tsize probe and records the abort as a probe, not a failure', async () => {
    const data = randomBytes(71_680);
    const s = await serve(files({ 'ipxe.efi': data }));
    const c = await RawTftpClient.open();
    try {
      c.rrq(s.port, 'ipxe.efi', [['tsize', '0'], ['blksize', '1468']]);
      const oack = await c.next(2000);
      expect(oack?.packet).toEqual({ op: 'OACK', options: [['tsize', '71680'], ['blksize', '1468']] });
      c.send({ op: 'ERROR', code: 8, message: 'tsize only' }, oack!.rinfo.port);
      const [sum] = await s.ended(1);
      expect(sum!.outcome).toBe('probe');
      expect(sum!.options.tsize).toBe(71_680);
      expect(s.logger.records.filter((r) => r.level === 'warn' || r.level === 'error')).toEqual([]);
    } finally {
      c.close();
    }
  });

  it('caps transfers per client, and a retransmitted RRQ does not start a second transfer', async () => {
    const s = await serve(files({ f: randomBytes(4000) }), { maxTransfersPerClient: 2, initialTimeoutMs: 5000 });
    const a = await RawTftpClient.open();
    const b = await RawTftpClient.open();
    const c = await RawTftpClient.open();
    try {
      a.rrq(s.port, 'f');
      a.rrq(s.port, 'f'); // duplicate RRQ from the same port
      b.rrq(s.port, 'f');
      expect((await a.next(2000))?.packet).toMatchObject({ op: 'DATA', block: 1 });
      expect((await b.next(2000))?.packet).toMatchObject({ op: 'DATA', block: 1 });
      expect(await a.next(300)).toBeNull();
      expect(s.server.activeTransfers).toBe(2);
      c.rrq(s.port, 'f');
      expect((await c.next(2000))?.packet).toMatchObject({ op: 'ERROR', code: 0 });
    } finally {
      a.close();
      b.close();
      c.close();
    }
  });

  it('turns a throwing handler into ERROR 0 and keeps serving', async () => {
    let calls = 0;
    const s = await serve(() => {
      if (calls++ === 0) throw new Error('policy exploded');
      return { kind: 'buffer', data: Buffer.from('ok') };
    });
    const c = await RawTftpClient.open();
    try {
      c.rrq(s.port, 'x');
      expect((await c.next(2000))?.packet).toMatchObject({ op: 'ERROR', code: 0 });
    } finally {
      c.close();
    }
    const r = await rawDownload(s.port, 'x');
    expect(r.data.toString()).toBe('ok');
    expect(s.logger.records.some((l) => JSON.stringify(l.fields).includes('policy exploded'))).toBe(true);
  });

  it('serves a stream of unknown length (tsize left out of the OACK)', async () => {
    const data = randomBytes(10_000);
    const s = await serve(() => ({ kind: 'stream', stream: Readable.from([data.subarray(0, 3000), data.subarray(3000)]) }));
    const c = await RawTftpClient.open();
    try {
      c.rrq(s.port, 's', [['tsize', '0'], ['blksize', '1000']]);
      const oack = await c.next(2000);
      expect(oack?.packet).toEqual({ op: 'OACK', options: [['blksize', '1000']] });
    } finally {
      c.close();
    }
    const r = await rawDownload(s.port, 's', { blksize: 1000, options: [['blksize', '1000']] });
    expect(r.data.equals(data)).toBe(true);
  });

  it('shrinks the window it grants a client after a lossy windowed transfer', async () => {
    const data = randomBytes(20 * 512);
    const s = await serve(files({ f: data }), { initialTimeoutMs: 30 });
    const c = await RawTftpClient.open();
    try {
      c.rrq(s.port, 'f', [['windowsize', '16']]);
      const oack = await c.next(2000);
      expect(oack?.packet).toEqual({ op: 'OACK', options: [['windowsize', '16']] });
      const tid = oack!.rinfo.port;
      c.send({ op: 'ACK', block: 0 }, tid);
      // Swallow the first window without acknowledging it: the server must resend it after its timeout.
      const lost = await c.drain(25);
      expect(lost.length).toBeGreaterThan(0);
      let got = 0;
      for (;;) {
        const r = await c.next(2000);
        if (!r || r.packet.op !== 'DATA') throw new Error('expected DATA');
        got = r.packet.block;
        if (got === 16) c.send({ op: 'ACK', block: 16 }, tid);
        if (got === 21) {
          c.send({ op: 'ACK', block: 21 }, tid);
          break;
        }
      }
    } finally {
      await c.closeFlushed();
    }
    const [sum] = await s.ended(1);
    expect(sum!.retransmits).toBeGreaterThan(0);
    const d = await RawTftpClient.open();
    try {
      d.rrq(s.port, 'f', [['windowsize', '16']]);
      expect((await d.next(2000))?.packet).toEqual({ op: 'OACK', options: [['windowsize', '8']] });
    } finally {
      d.close();
    }
  });

  it('adapts the window cap: halve after loss, double after a clean run, never below 1', () => {
    expect(nextWindowCap(16, { retransmits: 10, blocks: 100, outcome: 'complete' }, 16)).toBe(8);
    expect(nextWindowCap(1, { retransmits: 10, blocks: 100, outcome: 'complete' }, 16)).toBe(1);
    expect(nextWindowCap(4, { retransmits: 0, blocks: 100, outcome: 'complete' }, 16)).toBe(8);
    expect(nextWindowCap(16, { retransmits: 0, blocks: 100, outcome: 'complete' }, 16)).toBe(16);
    expect(nextWindowCap(8, { retransmits: 1, blocks: 100, outcome: 'complete' }, 16)).toBe(8);
    expect(nextWindowCap(8, { retransmits: 0, blocks: 0, outcome: 'not-found' }, 16)).toBe(8);
  });

  it('stops cleanly: aborting ends live transfers and releases every socket', async () => {
    const s = await serve(files({ f: randomBytes(100_000) }), { initialTimeoutMs: 5000 });
    const c = await RawTftpClient.open();
    try {
      c.rrq(s.port, 'f');
      expect((await c.next(2000))?.packet).toMatchObject({ op: 'DATA' });
      await s.stop();
      expect((await c.next(2000))?.packet).toMatchObject({ op: 'ERROR', code: 0 });
      expect(s.summaries[0]!.outcome).toBe('aborted');
      expect(s.server.activeTransfers).toBe(0);
    } finally {
      c.close();
    }
  });

  it('encodes what it sends with the pure codec (sanity on a raw OACK round-trip)', () => {
    expect(encodePacket({ op: 'OACK', options: [['blksize', '1468']] }).toString('latin1')).toBe('\x00\x06blksize\x001468\x00');
  });
});
