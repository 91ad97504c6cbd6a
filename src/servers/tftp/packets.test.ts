import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePacket } from '../../protocol/tftp/index.js';
import { FileCache } from './cache.js';
import { PacketRun, readRun } from './packets.js';
import { BufferSource, FileSource, type BlockSource } from './source.js';

const dir = mkdtempSync(join(tmpdir(), 'bootrack-tftp-packets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every packet of a source, in order, decoded: block numbers (wire) and the payload put back together. */
async function drain(source: BlockSource, blksize: number): Promise<{ wire: number[]; data: Buffer }> {
  source.prepare(blksize);
  const wire: number[] = [];
  const parts: Buffer[] = [];
  for (let n = 1; n < 1_000_000; n++) {
    const pkt = await source.packet(n, blksize);
    const d = decodePacket(pkt);
    if (!d.ok || d.packet.op !== 'DATA') throw new Error(`block ${n} is not DATA`);
    wire.push(d.packet.block);
    parts.push(Buffer.from(d.packet.data));
    source.release(n + 1, blksize);
    if (d.packet.data.length < blksize) break;
  }
  return { wire, data: Buffer.concat(parts) };
}

describe('DATA packets laid out in place', () => {
  it('fromBuffer: full blocks, then one short (possibly empty) final block; block numbers wrap', async () => {
    for (const size of [0, 7, 8, 16, 8 * 3 + 5]) {
      const data = randomBytes(size);
      const r = await drain(new BufferSource(data), 8);
      expect(r.data.equals(data)).toBe(true);
      expect(r.wire).toEqual(Array.from({ length: Math.floor(size / 8) + 1 }, (_, i) => i + 1));
    }
    const run = PacketRun.fromBuffer(randomBytes(70_000 * 8), 8);
    expect(decodePacket(run.packet(65_536))).toMatchObject({ ok: true, packet: { op: 'DATA', block: 0 } });
    expect(decodePacket(run.packet(70_001))).toMatchObject({ ok: true, packet: { op: 'DATA', block: 70_001 - 65_536, data: Buffer.alloc(0) } });
  });

  it('readRun reads a file straight into packet slots, past 1024 iovecs, and agrees with fromBuffer', async () => {
    const data = randomBytes(3000 * 8 + 3);
    const path = join(dir, 'run');
    writeFileSync(path, data);
    const fh = await open(path, 'r');
    try {
      const whole = await readRun(fh, data.length, 8, 1, 3001);
      const ref = PacketRun.fromBuffer(data, 8);
      expect(whole.count).toBe(3001);
      for (const n of [1, 1024, 1025, 2999, 3000, 3001]) expect(whole.packet(n).equals(ref.packet(n))).toBe(true);
      const middle = await readRun(fh, data.length, 8, 1500, 10);
      expect(middle.packet(1509).equals(ref.packet(1509))).toBe(true);
      // The file is shorter than its stat said (it shrank): the run ends early with a short block.
      const shrunk = await readRun(fh, data.length + 100, 8, 2990, 20);
      expect(shrunk.count).toBe(12);
      expect(shrunk.packet(3001).equals(ref.packet(3001))).toBe(true);
    } finally {
      await fh.close();
    }
  });

  it('FileSource serves a file across run boundaries, including an exact multiple of blksize', async () => {
    for (const [size, blksize] of [[600_000, 1468], [512 * 1024, 512], [1468 * 180, 1468]] as const) {
      const data = randomBytes(size);
      const path = join(dir, `f${size}`);
      writeFileSync(path, data);
      const source = await FileSource.open(path);
      try {
        const r = await drain(source, blksize);
        expect(r.data.equals(data)).toBe(true);
        expect(r.wire.length).toBe(Math.floor(size / blksize) + 1);
      } finally {
        await source.close();
      }
    }
  });

  it('FileCache shares one copy between transfers and notices a replaced file', async () => {
    const path = join(dir, 'boot.efi');
    const v1 = randomBytes(100_000);
    writeFileSync(path, v1);
    const cache = new FileCache({ maxFileBytes: 1 << 20, maxTotalBytes: 4 << 20 });
    const a = await cache.open(path);
    const b = await cache.open(path);
    expect((await drain(a, 1468)).data.equals(v1)).toBe(true);
    const pa = await a.packet(3, 1468);
    const pb = await b.packet(3, 1468);
    expect(pb.buffer).toBe(pa.buffer); // the same memory, not a second read
    const v2 = randomBytes(90_000);
    writeFileSync(path, v2);
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    expect((await drain(await cache.open(path), 1468)).data.equals(v2)).toBe(true);
    expect(cache.bytes).toBeLessThan(2 * 100_000);
    // Too big for the cache: read from disk per transfer, same bytes.
    const big = randomBytes((1 << 20) + 1);
    writeFileSync(join(dir, 'big'), big);
    const s = await cache.open(join(dir, 'big'));
    expect(s).toBeInstanceOf(FileSource);
    expect((await drain(s, 1468)).data.equals(big)).toBe(true);
    await s.close();
    await expect(cache.open(dir)).rejects.toThrow();
    await expect(cache.open(join(dir, 'missing'))).rejects.toThrow();
  });

  it("FileCache takes the policy's own stat instead of making another, and still refuses a directory", async () => {
    const path = join(dir, 'ipxe.efi');
    const data = randomBytes(50_000);
    writeFileSync(path, data);
    const cache = new FileCache({ maxFileBytes: 1 << 20, maxTotalBytes: 4 << 20 });
    expect((await drain(await cache.open(path, statSync(path)), 1468)).data.equals(data)).toBe(true);
    await expect(cache.open(dir, statSync(dir))).rejects.toMatchObject({ code: 'ENOTFILE' });
  });
});
