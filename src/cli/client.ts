import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BootrackError, ERROR_CATALOG, type ErrorCode } from '../common/errors.js';
import type { CliIo } from './io.js';

/**
 * The small HTTP client every API command uses (machine, allocate, power, …).
 *
 *   const api = clientFrom(values, io);              // --api/--token/--ca, env, ~/.config/bootrack/cli.yaml
 *   const view = await api.request<MachineView>('GET', `/machines/${encodeURIComponent(ref)}`);
 *
 * Paths are relative to /api/v1. A non-2xx answer rejects with the server's BootrackError (same code,
 * message and details); a network failure rejects with API_UNREACHABLE.
 */
export interface ClientSettings {
  /** e.g. https://10.0.0.1:8443 (no /api/v1 suffix needed; one is tolerated). */
  baseUrl: string;
  token: string | null;
  /** PEM text of a CA (or the appliance's self-signed cert) to trust. */
  ca: string | null;
  timeoutMs: number;
}

export const DEFAULT_API_URL = 'https://127.0.0.1:8443';

/** parseArgs options every API command accepts; spread them into a command's own options. */
export const CLIENT_OPTIONS = {
  api: { type: 'string' },
  token: { type: 'string' },
  ca: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export interface ClientFlags {
  api?: string;
  token?: string;
  ca?: string;
}

interface CliFile {
  api?: string;
  token?: string;
  ca?: string;
}

/** Where the CLI keeps its settings: $XDG_CONFIG_HOME/bootrack/cli.yaml or ~/.config/bootrack/cli.yaml. */
export function cliConfigPath(env: NodeJS.ProcessEnv): string | null {
  const base = env.XDG_CONFIG_HOME || (env.HOME ? join(env.HOME, '.config') : null);
  return base ? join(base, 'bootrack', 'cli.yaml') : null;
}

function readCliFile(env: NodeJS.ProcessEnv): CliFile {
  const path = cliConfigPath(env);
  if (path === null) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  const doc: unknown = parseYaml(text);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return {};
  const tree = doc as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof tree[k] === 'string' ? (tree[k] as string) : undefined);
  return { api: str('api'), token: str('token'), ca: str('ca') };
}

/** Precedence: flags > environment (BOOTRACK_API_URL, BOOTRACK_TOKEN, BOOTRACK_CA) > CLI config file > defaults. */
export function resolveClientSettings(flags: ClientFlags, env: NodeJS.ProcessEnv): ClientSettings {
  const file = readCliFile(env);
  const caPath = flags.ca ?? env.BOOTRACK_CA ?? file.ca;
  let ca: string | null = null;
  if (caPath) {
    try {
      ca = readFileSync(caPath, 'utf8');
    } catch (err) {
      throw new BootrackError('FILE_NOT_FOUND', `cannot read CA file ${caPath}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { path: caPath });
    }
  }
  return {
    baseUrl: flags.api ?? env.BOOTRACK_API_URL ?? file.api ?? DEFAULT_API_URL,
    token: flags.token ?? env.BOOTRACK_TOKEN ?? file.token ?? null,
    ca,
    timeoutMs: 30_000,
  };
}

export class ApiClient {
  readonly settings: ClientSettings;

  constructor(settings: ClientSettings) {
    this.settings = settings;
  }

  get hasToken(): boolean {
    return this.settings.token !== null;
  }

  /** One JSON request. `path` is relative to /api/v1 (e.g. '/machines'); query values that are undefined are dropped. */
  async request<T = unknown>(method: string, path: string, body?: unknown, query?: Record<string, string | number | boolean | undefined>): Promise<T> {
    const url = this.url(path, query);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const headers: Record<string, string> = { accept: 'application/json' };
    if (payload) (headers['content-type'] = 'application/json'), (headers['content-length'] = String(payload.length));
    if (this.settings.token) headers.authorization = `Bearer ${this.settings.token}`;
    const { status, text } = await this.#send(url, method, headers, payload);
    let parsed: unknown = undefined;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if (status >= 200 && status < 300) return parsed as T;
    throw toError(status, parsed, text);
  }

  url(path: string, query?: Record<string, string | number | boolean | undefined>): URL {
    const base = this.settings.baseUrl.replace(/\/+$/, '').replace(/\/api\/v1$/, '');
    const url = new URL(`${base}/api/v1${path.startsWith('/') ? path : `/${path}`}`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  #send(url: URL, method: string, headers: Record<string, string>, payload: Buffer | undefined): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const options: https.RequestOptions = { method, headers, timeout: this.settings.timeoutMs };
      if (url.protocol === 'https:' && this.settings.ca) options.ca = this.settings.ca;
      const unreachable = (err: Error): BootrackError =>
        new BootrackError('API_UNREACHABLE', `cannot reach ${url.origin}: ${err.message}`, { url: url.origin, cause: (err as NodeJS.ErrnoException).code ?? err.message });
      const req = (url.protocol === 'https:' ? https : http).request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => reject(unreachable(err)));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.settings.timeoutMs} ms`)));
      req.on('error', (err) => reject(unreachable(err)));
      req.end(payload);
    });
  }
}

function toError(status: number, parsed: unknown, text: string): BootrackError {
  if (parsed && typeof parsed === 'object' && typeof (parsed as { code?: unknown }).code === 'string') {
    const { code, message, details } = parsed as { code: string; message?: unknown; details?: unknown };
    if (code in ERROR_CATALOG) {
      return new BootrackError(code as ErrorCode, typeof message === 'string' ? message : code, details && typeof details === 'object' ? (details as Record<string, unknown>) : {});
    }
  }
  return new BootrackError('INTERNAL', `the API answered HTTP ${status}: ${text.slice(0, 200)}`, { status });
}

/** The client for a command, from its parsed flags and the environment. */
export function clientFrom(flags: ClientFlags, io: CliIo): ApiClient {
  return new ApiClient(resolveClientSettings(flags, io.env));
}
