import { describe, expect, it } from 'vitest';
import { blockCount, negotiate, parseOptionInt, unwrapBlock } from './options.js';

const limits = { maxBlksize: 1468, maxWindowsize: 16 };

describe('tftp option negotiation', () => {
  it('answers plain RFC 1350 when no option is asked', () => {
    expect(negotiate([], limits, 100)).toEqual({ blksize: 512, windowsize: 1, timeoutSeconds: null, tsizeRequested: false, oack: [] });
  });

  it('clamps blksize to the path MTU (EDK2 asks 1468, curl may ask 65464)', () => {
    expect(negotiate([['blksize', '65464']], limits, 10).oack).toEqual([['blksize', '1468']]);
    expect(negotiate([['blksize', '1432']], limits, 10).blksize).toBe(1432);
  });

  it('ignores (does not refuse) out-of-range or non-numeric values', () => {
    for (const v of ['7', '65465', '-1', '1e3', ' 8', '0x10', '', '99999999999']) {
      expect(negotiate([['blksize', v]], limits, 10).oack, v).toEqual([]);
    }
    expect(negotiate([['timeout', '0']], limits, 10).oack).toEqual([]);
    expect(negotiate([['timeout', '256']], limits, 10).oack).toEqual([]);
    expect(negotiate([['windowsize', '0']], limits, 10).oack).toEqual([]);
  });

  it('answers tsize with the size, or leaves it out when the size is unknown', () => {
    const n = negotiate([['tsize', '0'], ['blksize', '1468']], limits, 71680);
    expect(n.oack).toEqual([['tsize', '71680'], ['blksize', '1468']]);
    expect(n.tsizeRequested).toBe(true);
    expect(negotiate([['tsize', '0']], limits, null).oack).toEqual([]);
  });

  it('caps windowsize (RFC 7440) and echoes timeout (RFC 2349)', () => {
    const n = negotiate([['windowsize', '64'], ['timeout', '3']], limits, 1);
    expect(n.windowsize).toBe(16);
    expect(n.timeoutSeconds).toBe(3);
    expect(n.oack).toEqual([['windowsize', '16'], ['timeout', '3']]);
    expect(negotiate([['windowsize', '8']], { ...limits, maxWindowsize: 1 }, 1).windowsize).toBe(1);
  });

  it('ignores unknown options and repeats (first wins)', () => {
    expect(negotiate([['multicast', ''], ['blksize', '1024'], ['blksize', '512']], limits, 1).oack).toEqual([['blksize', '1024']]);
  });

  it('parses only plain decimal integers', () => {
    expect(parseOptionInt('1468')).toBe(1468);
    expect(parseOptionInt('+1')).toBeNull();
    expect(parseOptionInt('1.5')).toBeNull();
  });

  it('unwraps wire block numbers across the 65535 → 0 rollover', () => {
    expect(unwrapBlock(3, 0, 10)).toBe(3);
    expect(unwrapBlock(0, 65530, 65540)).toBe(65536);
    expect(unwrapBlock(65535, 65530, 65540)).toBe(65535);
    expect(unwrapBlock(4, 65530, 65540)).toBe(65540);
    expect(unwrapBlock(5, 65530, 65540)).toBeNull(); // beyond what was sent
    expect(unwrapBlock(65529, 65530, 65540)).toBeNull(); // stale, before the window
    expect(unwrapBlock(1, 131072, 131075)).toBe(131073);
  });

  it('counts blocks with a final short (possibly empty) block', () => {
    expect(blockCount(0, 512)).toBe(1);
    expect(blockCount(512, 512)).toBe(2);
    expect(blockCount(1048576, 1468)).toBe(715);
  });
});
