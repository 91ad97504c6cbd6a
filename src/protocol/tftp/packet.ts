/**
 * Pure TFTP codec: bytes ⇄ typed packets (RFC 1350, OACK from RFC 2347). No I/O, no config.
 * `decodePacket` never throws: every malformed datagram becomes a `{ ok: false }` naming the problem,
 * so a socket handler can log it and keep serving (a 1-byte datagram crashed both npm servers).
 */

export const OPCODE = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;

/** RFC 1350 error codes, plus 8 from RFC 2347 (option negotiation refused). */
export const ERROR_CODE = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;

export type TransferMode = 'octet' | 'netascii' | 'mail';

/** Options as the client sent them: names lower-cased, values raw strings, in request order. */
export type RawOptions = ReadonlyArray<readonly [name: string, value: string]>;

export interface RequestPacket {
  op: 'RRQ' | 'WRQ';
  filename: string;
  mode: TransferMode;
  options: RawOptions;
}
export interface DataPacket {
  op: 'DATA';
  /** Wire block number, 0..65535 (it wraps on long transfers). */
  block: number;
  data: Buffer;
}
export interface AckPacket {
  op: 'ACK';
  block: number;
}
export interface ErrorPacket {
  op: 'ERROR';
  code: number;
  message: string;
}
export interface OackPacket {
  op: 'OACK';
  options: RawOptions;
}
export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket;

export type DecodeResult = { ok: true; packet: TftpPacket } | { ok: false; reason: string };

/** Largest DATA payload RFC 2348 allows. */
export const MAX_BLKSIZE = 65464;

function fail(reason: string): DecodeResult {
  return { ok: false, reason };
}

/** Splits NUL-terminated strings from `start`; null if the last one is unterminated. */
function nulStrings(buf: Buffer, start: number): string[] | null {
  const out: string[] = [];
  let from = start;
  while (from < buf.length) {
    const end = buf.indexOf(0, from);
    if (end < 0) return null;
    // latin1 keeps every byte as one char, so a non-UTF-8 name is not silently rewritten.
    out.push(buf.toString('latin1', from, end));
    from = end + 1;
  }
  return out;
}

function decodeRequest(op: 'RRQ' | 'WRQ', buf: Buffer): DecodeResult {
  const parts = nulStrings(buf, 2);
  if (parts === null) return fail(`${op}: unterminated string`);
  if (parts.length < 2) return fail(`${op}: missing filename or mode`);
  const [filename, modeRaw, ...rest] = parts as [string, string, ...string[]];
  if (filename.length === 0) return fail(`${op}: empty filename`);
  const mode = modeRaw.toLowerCase();
  if (mode !== 'octet' && mode !== 'netascii' && mode !== 'mail') return fail(`${op}: unknown mode ${JSON.stringify(modeRaw)}`);
  // Some clients pad with an extra NUL; a trailing empty name is ignored, a name without value is not.
  if (rest.length % 2 === 1 && rest[rest.length - 1] === '') rest.pop();
  if (rest.length % 2 === 1) return fail(`${op}: option ${JSON.stringify(rest[rest.length - 1])} has no value`);
  const options: Array<readonly [string, string]> = [];
  for (let i = 0; i < rest.length; i += 2) options.push([rest[i]!.toLowerCase(), rest[i + 1]!]);
  return { ok: true, packet: { op, filename, mode, options } };
}

export function decodePacket(buf: Buffer): DecodeResult {
  if (buf.length < 2) return fail(`datagram of ${buf.length} bytes is shorter than an opcode`);
  const opcode = buf.readUInt16BE(0);
  switch (opcode) {
    case OPCODE.RRQ:
      return decodeRequest('RRQ', buf);
    case OPCODE.WRQ:
      return decodeRequest('WRQ', buf);
    case OPCODE.DATA:
      if (buf.length < 4) return fail('DATA: shorter than 4 bytes');
      if (buf.length - 4 > MAX_BLKSIZE) return fail('DATA: payload larger than 65464 bytes');
      return { ok: true, packet: { op: 'DATA', block: buf.readUInt16BE(2), data: buf.subarray(4) } };
    case OPCODE.ACK:
      // Some stacks pad short frames; extra bytes after the block number are tolerated.
      if (buf.length < 4) return fail('ACK: shorter than 4 bytes');
      return { ok: true, packet: { op: 'ACK', block: buf.readUInt16BE(2) } };
    case OPCODE.ERROR: {
      if (buf.length < 4) return fail('ERROR: shorter than 4 bytes');
      const end = buf.indexOf(0, 4);
      // Be lenient with a missing terminator: the message is informational only.
      const message = buf.toString('latin1', 4, end < 0 ? buf.length : end);
      return { ok: true, packet: { op: 'ERROR', code: buf.readUInt16BE(2), message } };
    }
    case OPCODE.OACK: {
      const parts = nulStrings(buf, 2);
      if (parts === null) return fail('OACK: unterminated string');
      if (parts.length % 2 === 1) return fail('OACK: option without value');
      const options: Array<readonly [string, string]> = [];
      for (let i = 0; i < parts.length; i += 2) options.push([parts[i]!.toLowerCase(), parts[i + 1]!]);
      return { ok: true, packet: { op: 'OACK', options } };
    }
    default:
      return fail(`unknown opcode ${opcode}`);
  }
}

/**
 * Fast path for the one packet a sender sees thousands of times: the block number of a well-formed
 * ACK, or -1 for anything else (which then goes through `decodePacket`). Agrees with `decodePacket`.
 */
export function peekAck(buf: Buffer): number {
  return buf.length >= 4 && buf[0] === 0 && buf[1] === OPCODE.ACK ? buf.readUInt16BE(2) : -1;
}

function strings(op: number, values: readonly string[]): Buffer {
  const size = 2 + values.reduce((n, v) => n + Buffer.byteLength(v, 'latin1') + 1, 0);
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt16BE(op, 0);
  let at = 2;
  for (const v of values) {
    at += buf.write(v, at, 'latin1');
    buf[at++] = 0;
  }
  return buf;
}

/** Length of the encoded packet, equal to `encodePacket(p).length`. */
export function encodedLength(packet: TftpPacket): number {
  switch (packet.op) {
    case 'DATA':
      return 4 + packet.data.length;
    case 'ACK':
      return 4;
    case 'ERROR':
      return 5 + Buffer.byteLength(packet.message, 'latin1');
    case 'OACK':
      return 2 + packet.options.reduce((n, [k, v]) => n + Buffer.byteLength(k, 'latin1') + Buffer.byteLength(v, 'latin1') + 2, 0);
    case 'RRQ':
    case 'WRQ':
      return (
        4 +
        Buffer.byteLength(packet.filename, 'latin1') +
        Buffer.byteLength(packet.mode, 'latin1') +
        packet.options.reduce((n, [k, v]) => n + Buffer.byteLength(k, 'latin1') + Buffer.byteLength(v, 'latin1') + 2, 0)
      );
  }
}

export function encodePacket(packet: TftpPacket): Buffer {
  switch (packet.op) {
    case 'DATA':
      return encodeData(packet.block, packet.data);
    case 'ACK': {
      const buf = Buffer.allocUnsafe(4);
      buf.writeUInt16BE(OPCODE.ACK, 0);
      buf.writeUInt16BE(packet.block & 0xffff, 2);
      return buf;
    }
    case 'ERROR': {
      const buf = Buffer.allocUnsafe(5 + Buffer.byteLength(packet.message, 'latin1'));
      buf.writeUInt16BE(OPCODE.ERROR, 0);
      buf.writeUInt16BE(packet.code & 0xffff, 2);
      const at = 4 + buf.write(packet.message, 4, 'latin1');
      buf[at] = 0;
      return buf;
    }
    case 'OACK':
      return strings(OPCODE.OACK, packet.options.flat());
    case 'RRQ':
    case 'WRQ':
      return strings(OPCODE[packet.op], [packet.filename, packet.mode, ...packet.options.flat()]);
  }
}

/** DATA header + payload in one buffer; `block` is reduced modulo 65536 (RFC 1350 has no rule, everyone wraps to 0). */
export function encodeData(block: number, data: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(DATA_HEADER_BYTES + data.length);
  writeDataHeader(buf, 0, block);
  data.copy(buf, DATA_HEADER_BYTES);
  return buf;
}

/** Bytes before the payload of a DATA packet (opcode + block number). */
export const DATA_HEADER_BYTES = 4;

/**
 * Writes a DATA header at `at` (block modulo 65536, as `encodeData`), so a sender can lay packets out
 * in place — header slot, then the payload read straight from disk behind it — and send views of
 * that memory with no per-packet allocation or copy.
 */
export function writeDataHeader(target: Buffer, at: number, block: number): void {
  target[at] = 0;
  target[at + 1] = OPCODE.DATA;
  target[at + 2] = (block >>> 8) & 0xff;
  target[at + 3] = block & 0xff;
}

export function encodeError(code: number, message: string): Buffer {
  return encodePacket({ op: 'ERROR', code, message });
}
