import { request, type IncomingHttpHeaders } from 'node:http';
import { connect, type TLSSocket } from 'node:tls';
import { BootrackError } from '../../common/errors.js';

/** How the BMC's certificate is trusted: a pinned SHA-256 fingerprint, or a CA. Never "don't check". */
export type TlsTrust = { fingerprint256: string } | { ca: string };

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface RedfishEndpoint {
  host: string;
  port: number;
  trust: TlsTrust;
  timeoutMs: number;
}

/** Normalizes "ab:cd:..." or "ABCD..." to node's `fingerprint256` spelling (upper hex, colons). */
export function normalizeFingerprint(fp: string): string {
  const hex = fp.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
  if (hex.length !== 64) throw new BootrackError('VALIDATION_FAILED', 'a pinned certificate fingerprint must be a SHA-256 (64 hex digits)', { field: 'fingerprint256' });
  return hex.match(/../g)!.join(':');
}

/**
 * Opens the TLS connection ourselves so the certificate is checked BEFORE a byte of the request
 * (which may carry Basic credentials) is written: with a pinned fingerprint the chain is not
 * validated (BMC certificates are self-signed) but the leaf must match exactly; with a CA the
 * normal chain and host name checks apply.
 */
function openTls(ep: RedfishEndpoint, deadline: AbortSignal): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const pinned = 'fingerprint256' in ep.trust ? normalizeFingerprint(ep.trust.fingerprint256) : null;
    const socket = connect({
      host: ep.host,
      port: ep.port,
      servername: /^[\d.]+$|:/.test(ep.host) ? undefined : ep.host,
      rejectUnauthorized: pinned === null,
      ...('ca' in ep.trust ? { ca: ep.trust.ca } : {}),
    });
    const onAbort = (): void => {
      socket.destroy();
      reject(unreachable(ep, 'timed out connecting'));
    };
    deadline.addEventListener('abort', onAbort, { once: true });
    socket.once('secureConnect', () => {
      deadline.removeEventListener('abort', onAbort);
      if (pinned !== null && socket.getPeerCertificate().fingerprint256 !== pinned) {
        socket.destroy();
        reject(new BootrackError('BMC_AUTH_FAILED', `the BMC certificate at ${ep.host}:${ep.port} does not match the pinned fingerprint`, { host: ep.host, tls: 'fingerprint_mismatch' }));
        return;
      }
      resolve(socket);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      deadline.removeEventListener('abort', onAbort);
      if (err.code && /^(ERR_TLS|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED)/.test(err.code)) {
        reject(new BootrackError('BMC_AUTH_FAILED', `TLS verification of ${ep.host}:${ep.port} failed: ${err.code}`, { host: ep.host, tls: err.code }));
      } else reject(unreachable(ep, err.code ?? err.message));
    });
  });
}

/** One HTTPS request, bounded by ep.timeoutMs end to end, JSON in and out. */
export async function redfishRequest(ep: RedfishEndpoint, method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<HttpResponse> {
  const deadline = AbortSignal.timeout(ep.timeoutMs);
  const socket = await openTls(ep, deadline);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        path,
        host: ep.host,
        port: ep.port,
        createConnection: () => socket,
        headers: {
          Accept: 'application/json',
          'OData-Version': '4.0',
          Connection: 'close',
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}),
          ...headers,
        },
        signal: deadline,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 4 * 1024 * 1024) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.once('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = null;
          if (text) {
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = text;
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
        });
        res.once('error', (err) => reject(unreachable(ep, err.message)));
      },
    );
    req.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      reject(unreachable(ep, err.name === 'AbortError' ? 'timed out' : (err.code ?? err.message)));
    });
    req.end(payload);
  });
}

function unreachable(ep: RedfishEndpoint, why: string): BootrackError {
  return new BootrackError('BMC_UNREACHABLE', `Redfish service ${ep.host}:${ep.port} unreachable: ${why}`, { host: ep.host, port: ep.port, reason: why });
}
