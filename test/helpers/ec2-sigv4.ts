/**
 * AWS Signature Version 4 VERIFICATION for the EC2 API test double (the server side of SigV4, per
 * AWS's "Create a signed AWS API request"): parse the Authorization header, rebuild the canonical
 * request from what actually arrived, derive the signing key from the secret we hold for that
 * access key id, and compare signatures in constant time.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export type SigV4Result =
  | { ok: true; accessKeyId: string; region: string; service: string }
  | { ok: false; code: 'AuthFailure' | 'SignatureDoesNotMatch' | 'IncompleteSignature' | 'MissingAuthenticationToken'; message: string };

const AUTH = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalQuery(search: URLSearchParams): string {
  return [...search.entries()]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

export function verifySigV4(method: string, rawUrl: string, headers: IncomingHttpHeaders, body: Buffer, secrets: ReadonlyMap<string, string>): SigV4Result {
  const auth = headers.authorization;
  if (!auth) return { ok: false, code: 'MissingAuthenticationToken', message: 'Request is missing Authentication Token' };
  const m = AUTH.exec(auth);
  if (!m) return { ok: false, code: 'IncompleteSignature', message: `Authorization header is not AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` };
  const [, accessKeyId, date, region, service, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string, string];
  const secret = secrets.get(accessKeyId);
  if (secret === undefined) return { ok: false, code: 'AuthFailure', message: 'AWS was not able to validate the provided access credentials' };
  const amzDate = String(headers['x-amz-date'] ?? '');
  if (!amzDate.startsWith(date)) return { ok: false, code: 'IncompleteSignature', message: `x-amz-date ${amzDate || '(missing)'} does not match the credential scope date ${date}` };
  const names = signedHeaders.split(';');
  if (!names.includes('host')) return { ok: false, code: 'IncompleteSignature', message: 'the host header must be signed' };
  const canonicalHeaders = names.map((h) => {
    const v = headers[h];
    return `${h}:${(Array.isArray(v) ? v.join(',') : String(v ?? '')).trim().replace(/\s+/g, ' ')}\n`;
  }).join('');
  const url = new URL(rawUrl, 'http://double.invalid');
  const payloadHash = typeof headers['x-amz-content-sha256'] === 'string' ? headers['x-amz-content-sha256'] : sha256(body);
  const canonicalRequest = [method, url.pathname || '/', canonicalQuery(url.searchParams), canonicalHeaders, signedHeaders, payloadHash].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  const expected = hmac(key, stringToSign);
  const given = Buffer.from(signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, code: 'AuthFailure', message: 'AWS was not able to validate the provided access credentials (signature mismatch)' };
  }
  return { ok: true, accessKeyId, region, service };
}
