import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BootrackError, ERROR_CATALOG, type ErrorCode } from '../../../common/errors.js';

/** The part of the API's MachineView this driver reads (registry Machine + ipAddresses). */
export interface MachineView {
  id: string;
  name: string;
  state: string;
  owner: string | null;
  allocationKey: string | null;
  allocatedAt: string | null;
  sshHostKey: string | null;
  interfaces: Array<{ mac: string; boot: boolean }>;
  ipAddresses: string[];
  /** What the machine boots while deploying/deployed (ephemeral: the in-memory OS; image: to disk). */
  bootProfile?: { kind: string } | null;
}

/** An entry of GET /machines/:ref/events (the registry's event record). */
export interface MachineEvent {
  id: number;
  at: string;
  kind: string;
  type: string;
  fromState?: string | null;
  toState?: string | null;
  data?: Record<string, unknown>;
}

/** GET /machines/:ref/timeline: the boot flight recorder, one entry per boot with a verdict. */
export interface TimelineView {
  boots: Array<{ startedAt: string; reached: string; stalledAt: string | null; verdict: string; inProgress: boolean }>;
}

export interface ApiClientOptions {
  token?: string;
  /** PEM text of the CA to trust for https, or a path to it. */
  ca?: string;
  requestTimeoutMs?: number;
}

function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CATALOG, code);
}

/** A small JSON client of the appliance REST API (/api/v1), on node:http/https (custom CA via `ca`). */
export class ApplianceClient {
  readonly baseUrl: string;
  readonly #token: string | undefined;
  readonly #caSource: string | undefined;
  #ca: string | undefined;
  readonly #timeoutMs: number;

  constructor(baseUrl: string, options: ApiClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#caSource = options.ca;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  /** driverOptions.ca: PEM text, or a path read on first use. */
  #caPem(): string | undefined {
    if (this.#ca !== undefined || this.#caSource === undefined) return this.#ca;
    if (this.#caSource.includes('-----BEGIN')) return (this.#ca = this.#caSource);
    try {
      return (this.#ca = readFileSync(this.#caSource, 'utf8'));
    } catch (err) {
      throw new BootrackError('CONFIG_UNREADABLE', `driverOptions.ca names ${this.#caSource}, which cannot be read: ${(err as Error).message}`, { path: this.#caSource }, { cause: err });
    }
  }

  /** Throws the API's own error code when it is in our catalog (e.g. MACHINE_NOT_FOUND), else DRIVER_API_ERROR. */
  async request<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const url = new URL(`${this.baseUrl}/api/v1${path}`);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) headers['content-type'] = 'application/json';
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const ca = url.protocol === 'https:' ? this.#caPem() : undefined;
    const where = `${method} ${url.pathname}`;
    const res = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(url, { method, headers, timeout: this.#timeoutMs, ...(ca ? { ca } : {}) }, (r: IncomingMessage) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        r.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new BootrackError('TIMEOUT', `${where} on ${this.baseUrl}: no answer within ${this.#timeoutMs} ms`)));
      req.on('error', (err: Error & { code?: string }) =>
        reject(err instanceof BootrackError ? err : new BootrackError('DRIVER_API_ERROR', `${where} on ${this.baseUrl} failed: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' '), { url: url.href, cause: err.code }, { cause: err })),
      );
      req.end(payload);
    });
    let parsed: unknown = undefined;
    if (res.text.length > 0) {
      try {
        parsed = JSON.parse(res.text);
      } catch {
        throw new BootrackError('DRIVER_API_ERROR', `${where} answered ${res.status} with a body that is not JSON`, { status: res.status });
      }
    }
    if (res.status >= 200 && res.status < 300) return { status: res.status, body: parsed as T };
    const e = (parsed ?? {}) as { code?: unknown; message?: unknown; details?: unknown };
    const message = `${where} → ${res.status}${typeof e.message === 'string' ? `: ${e.message}` : ''}`;
    const details = { status: res.status, apiCode: e.code, ...(typeof e.details === 'object' && e.details !== null ? { apiDetails: e.details } : {}) };
    throw new BootrackError(isErrorCode(e.code) ? e.code : 'DRIVER_API_ERROR', message, details);
  }

  async getMachine(ref: string): Promise<MachineView> {
    return (await this.request<MachineView>('GET', `/machines/${encodeURIComponent(ref)}`)).body;
  }

  /** Events of the machine (its id or MACs), oldest first; `limit` alone gives the newest N. */
  async events(ref: string, query: { since?: number; limit?: number } = {}): Promise<MachineEvent[]> {
    const qs = new URLSearchParams();
    if (query.since !== undefined) qs.set('since', String(query.since));
    if (query.limit !== undefined) qs.set('limit', String(query.limit));
    const body = (await this.request<{ items: MachineEvent[] }>('GET', `/machines/${encodeURIComponent(ref)}/events${qs.size ? `?${qs}` : ''}`)).body;
    return Array.isArray(body?.items) ? body.items : [];
  }

  async timeline(ref: string): Promise<TimelineView> {
    const body = (await this.request<TimelineView>('GET', `/machines/${encodeURIComponent(ref)}/timeline`)).body;
    return { boots: Array.isArray(body?.boots) ? body.boots : [] };
  }

  async allocate(constraints: Record<string, unknown>, requestKey: string): Promise<{ machine: MachineView; created: boolean }> {
    return (await this.request<{ machine: MachineView; created: boolean }>('POST', '/allocations', { constraints, requestKey })).body;
  }

  async release(ref: string): Promise<void> {
    await this.request('DELETE', `/allocations/${encodeURIComponent(ref)}`);
  }

  async deploy(ref: string, sshPublicKeys: string[], profile?: Record<string, unknown>): Promise<MachineView> {
    return (await this.request<MachineView>('POST', `/machines/${encodeURIComponent(ref)}/deploy`, { sshPublicKeys, ...(profile ? { profile } : {}) })).body;
  }

  async setBootDevice(ref: string, device: 'pxe' | 'disk', persistent = false): Promise<void> {
    await this.request('PUT', `/machines/${encodeURIComponent(ref)}/boot-device`, { device, persistent });
  }

  async powerState(ref: string): Promise<'on' | 'off' | 'unknown' | 'error'> {
    return (await this.request<{ state: 'on' | 'off' | 'unknown' | 'error' }>('GET', `/machines/${encodeURIComponent(ref)}/power`)).body.state;
  }

  async power(ref: string, action: 'on' | 'off' | 'cycle' | 'reset' | 'soft_off'): Promise<void> {
    await this.request('POST', `/machines/${encodeURIComponent(ref)}/power`, { action });
  }
}
