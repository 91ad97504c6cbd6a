/**
 * Byte ranges (RFC 9110 §14) and conditional requests (§13), as pure functions over the request
 * headers and the file's validators, so the static handler only moves bytes.
 */

export type RangeResult =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'unsatisfiable' };

/**
 * One `bytes=` range → partial; none, a syntax error, another unit or several ranges → full (a
 * server may ignore Range, §14.2; multipart/byteranges is not worth it for boot assets); a range
 * that starts at or past the end, or an empty suffix → unsatisfiable (416).
 */
export function parseRange(header: string | undefined, size: number): RangeResult {
  if (header === undefined) return { kind: 'full' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return { kind: 'full' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    const suffix = Number(last);
    if (!Number.isSafeInteger(suffix)) return { kind: 'full' };
    if (suffix === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  if (!Number.isSafeInteger(start)) return { kind: 'full' };
  let end = last === '' ? size - 1 : Number(last);
  if (!Number.isSafeInteger(end) && last !== '') end = size - 1;
  if (last !== '' && end < start) return { kind: 'full' }; // invalid range-spec: ignore the header
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end: Math.min(end, size - 1) };
}

export interface Validators {
  etag: string;
  /** Last modification, whole seconds (HTTP dates have no finer grain). */
  mtimeSeconds: number;
}

export interface ConditionalHeaders {
  ifNoneMatch?: string | undefined;
  ifModifiedSince?: string | undefined;
  ifRange?: string | undefined;
}

/** §13.1.2 and §13.1.3 for GET/HEAD: true when the client's copy is current (answer 304). */
export function notModified(h: ConditionalHeaders, v: Validators): boolean {
  if (h.ifNoneMatch !== undefined) {
    // Weak comparison (§8.8.3.2); when If-None-Match is present If-Modified-Since is ignored.
    const trimmed = h.ifNoneMatch.trim();
    if (trimmed === '*') return true;
    const opaque = (tag: string): string => tag.trim().replace(/^W\//, '');
    const ours = opaque(v.etag);
    return trimmed.split(',').some((tag) => opaque(tag) === ours);
  }
  if (h.ifModifiedSince !== undefined) {
    const since = Date.parse(h.ifModifiedSince);
    if (Number.isNaN(since)) return false;
    return v.mtimeSeconds * 1000 <= since;
  }
  return false;
}

/** §13.1.5: the Range applies only if If-Range names the current representation (strong match or exact date). */
export function rangeStillValid(ifRange: string | undefined, v: Validators): boolean {
  if (ifRange === undefined) return true;
  const value = ifRange.trim();
  if (value.startsWith('"')) return value === v.etag;
  if (value.startsWith('W/')) return false;
  const date = Date.parse(value);
  return !Number.isNaN(date) && date === v.mtimeSeconds * 1000;
}
