import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DATA_HEADER_BYTES, decodePacket, encodedLength, encodePacket, encodeData, OPCODE, peekAck, writeDataHeader, type TftpPacket } from './packet.js';

function roundTrip(p: TftpPacket): void {
  const bytes = encodePacket(p);
  expect(bytes.length).toBe(encodedLength(p));
  const back = decodePacket(bytes);
  expect(back).toEqual({ ok: true, packet: p });
  if (back.ok) expect(encodePacket(back.packet)).toEqual(bytes);
}

describe('tftp codec', () => {
  it('round-trips every packet type (encode → decode → re-encode equal; length matches)', () => {
    roundTrip({ op: 'RRQ', filename: 'ipxe.efi', mode: 'octet', options: [['blksize', '1468'], ['tsize', '0'], ['windowsize', '16']] });
    roundTrip({ op: 'WRQ', filename: 'a/b', mode: 'netascii', options: [] });
    roundTrip({ op: 'DATA', block: 65535, data: Buffer.from('hello') });
    roundTrip({ op: 'DATA', block: 0, data: Buffer.alloc(0) });
    roundTrip({ op: 'ACK', block: 7 });
    roundTrip({ op: 'ERROR', code: 1, message: 'File not found' });
    roundTrip({ op: 'OACK', options: [['blksize', '1468'], ['tsize', '71680']] });
  });

  it('decodes real client RRQs byte for byte', () => {
    // Captured on a UDP socket: curl 7.88 `--tftp-blksize 1468 tftp://127.0.0.1/f1m`.
    const curl = Buffer.from('000166316d006f63746574007473697a65003000626c6b73697a6500313436380074696d656f7574003100', 'hex');
    expect(decodePacket(curl)).toEqual({ ok: true, packet: { op: 'RRQ', filename: 'f1m', mode: 'octet', options: [['tsize', '0'], ['blksize', '1468'], ['timeout', '1']] } });
    // atftp 0.8 `--option "blksize 1468" --option "windowsize 16" -g -r f1m`.
    const atftp = Buffer.from('000166316d006f6374657400626c6b73697a6500313436380077696e646f7773697a6500313600', 'hex');
    expect(decodePacket(atftp)).toEqual({ ok: true, packet: { op: 'RRQ', filename: 'f1m', mode: 'octet', options: [['blksize', '1468'], ['windowsize', '16']] } });
  });

  it('lower-cases mode and option names, keeps values', () => {
    const r = decodePacket(Buffer.from('\x00\x01FILE\0OCTET\0BlkSize\x001432\0', 'latin1'));
    expect(r).toEqual({ ok: true, packet: { op: 'RRQ', filename: 'FILE', mode: 'octet', options: [['blksize', '1432']] } });
  });

  it('tolerates a trailing empty string after the options (some ROMs pad)', () => {
    const r = decodePacket(Buffer.from('\x00\x01f\0octet\0tsize\x000\0\0', 'latin1'));
    expect(r.ok).toBe(true);
  });

  it('names the problem in each malformed fixture instead of throwing', () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['empty', Buffer.alloc(0), /shorter than an opcode/],
      ['one byte', Buffer.from([1]), /shorter than an opcode/],
      ['unknown opcode', Buffer.from([0, 9, 0, 0]), /unknown opcode 9/],
      ['opcode 0', Buffer.from([0, 0]), /unknown opcode 0/],
      ['RRQ no NUL', Buffer.from('\x00\x01file', 'latin1'), /unterminated/],
      ['RRQ no mode', Buffer.from('\x00\x01file\0', 'latin1'), /missing filename or mode/],
      ['RRQ empty name', Buffer.from('\x00\x01\0octet\0', 'latin1'), /empty filename/],
      ['RRQ bad mode', Buffer.from('\x00\x01f\0binary\0', 'latin1'), /unknown mode/],
      ['RRQ option w/o value', Buffer.from('\x00\x01f\0octet\0blksize\0', 'latin1'), /has no value/],
      ['short ACK', Buffer.from([0, 4, 1]), /ACK: shorter/],
      ['short DATA', Buffer.from([0, 3, 1]), /DATA: shorter/],
      ['short ERROR', Buffer.from([0, 5, 0]), /ERROR: shorter/],
      ['OACK odd', Buffer.from('\x00\x06blksize\0', 'latin1'), /option without value/],
    ];
    for (const [name, bytes, reason] of cases) {
      const r = decodePacket(bytes);
      expect(r.ok, name).toBe(false);
      if (!r.ok) expect(r.reason, name).toMatch(reason);
    }
  });

  it('never throws on 20k random and mutated datagrams', () => {
    const seeds = [
      encodePacket({ op: 'RRQ', filename: 'ipxe.efi', mode: 'octet', options: [['blksize', '1468'], ['tsize', '0']] }),
      encodePacket({ op: 'ACK', block: 1 }),
      encodePacket({ op: 'ERROR', code: 8, message: 'x' }),
    ];
    let okCount = 0;
    for (let i = 0; i < 20_000; i++) {
      let buf: Buffer;
      if (i % 2) buf = randomBytes(i % 64);
      else {
        buf = Buffer.from(seeds[i % seeds.length]!);
        const flips = 1 + (i % 4);
        for (let f = 0; f < flips && buf.length; f++) buf[(i * 7919 + f * 31) % buf.length] = (i * 131 + f) & 0xff;
        if (i % 10 === 0) buf = buf.subarray(0, i % (buf.length + 1));
      }
      const r = decodePacket(buf);
      expect(typeof r.ok).toBe('boolean');
      if (r.ok) okCount++;
    }
    expect(okCount).toBeGreaterThan(0);
  });

  it('peekAck agrees with decodePacket on ACKs and declines everything else', () => {
    expect(peekAck(encodePacket({ op: 'ACK', block: 65535 }))).toBe(65535);
    expect(peekAck(Buffer.from([0, 4, 0]))).toBe(-1);
    expect(peekAck(encodePacket({ op: 'DATA', block: 1, data: Buffer.alloc(0) }))).toBe(-1);
    for (let i = 0; i < 2000; i++) {
      const b = randomBytes(i % 8);
      if (i % 3 === 0 && b.length >= 2) (b[0] = 0), (b[1] = 4);
      const d = decodePacket(b);
      expect(peekAck(b)).toBe(d.ok && d.packet.op === 'ACK' ? d.packet.block : -1);
    }
  });

  it('wraps block numbers modulo 65536 on DATA', () => {
    const d = encodeData(65536 + 3, Buffer.from('x'));
    expect(d.readUInt16BE(0)).toBe(OPCODE.DATA);
    expect(d.readUInt16BE(2)).toBe(3);
  });

  it('writeDataHeader lays out the same header as encodeData, in place', () => {
    const slab = Buffer.alloc(DATA_HEADER_BYTES * 2 + 2, 0xee);
    writeDataHeader(slab, DATA_HEADER_BYTES + 1, 65536 + 258);
    const view = slab.subarray(DATA_HEADER_BYTES + 1, DATA_HEADER_BYTES * 2 + 2);
    expect(view.equals(encodeData(258, Buffer.from([0xee])))).toBe(true);
    expect(decodePacket(view)).toEqual({ ok: true, packet: { op: 'DATA', block: 258, data: Buffer.from([0xee]) } });
  });
});
