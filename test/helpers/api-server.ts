import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { memoryLogger, type Clock, type LogRecord } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import { createApp } from '../../src/api/index.js';
import type { PowerControl } from '../../src/power/types.js';
import type { Registry } from '../../src/registry/index.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRegistry } from '../../src/registry/index.js';
import type { TempRegistry } from './registry-fixtures.js';

/** A real registry on a temp SQLite file, on the given clock (so recorded events carry test times). */
function tempRegistryOn(clock: Clock | undefined): TempRegistry {
  const dir = mkdtempSync(join(tmpdir(), 'bootrack-api-'));
  const dbPath = join(dir, 'bootrack.db');
  const key = randomBytes(32);
  const registry = openRegistry({ databasePath: dbPath, secretKey: key, ...(clock ? { clock } : {}) });
  return { registry, dir, dbPath, key, cleanup: () => (registry.close(), rmSync(dir, { recursive: true, force: true })) };
}

export interface ApiHarness extends TempRegistry {
  url: string;
  logs: LogRecord[];
  admin: string;
  /** Driver tokens of two owners, for isolation tests. */
  driverA: string;
  driverB: string;
  call<T = ErrorBody>(method: string, path: string, options?: CallOptions): Promise<Reply<T>>;
  close(): Promise<void>;
}

export interface CallOptions {
  /** Default: the admin token; null sends no Authorization header. */
  token?: string | null;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
}

export interface ErrorBody {
  code: string;
  message: string;
  details: { in?: string; issues?: Array<{ path: string; message: string }>; [key: string]: unknown };
}

export interface Reply<T> {
  status: number;
  /** The parsed JSON answer (typed by the caller; an error answer is an ErrorBody). */
  body: T;
  text: string;
  headers: Headers;
}

/** The real app over a real listener on 127.0.0.1:0, with the real registry on a temp file. */
export async function startApi(options: { power?: PowerControl | null | ((registry: Registry) => PowerControl); autoAccept?: boolean; clock?: Clock; maxBodyBytes?: number } = {}): Promise<ApiHarness> {
  const t = tempRegistryOn(options.clock);
  const logs: LogRecord[] = [];
  const app = createApp({
    registry: t.registry,
    logger: memoryLogger(logs),
    metrics: createMetrics({ defaultMetrics: false }),
    power: typeof options.power === 'function' ? options.power(t.registry) : (options.power ?? null),
    autoAccept: options.autoAccept ?? true,
    maxBodyBytes: options.maxBodyBytes ?? 64 * 1024,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const server: Server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const admin = t.registry.tokens.create({ name: 'ops', role: 'admin' }).token;
  const driverA = t.registry.tokens.create({ name: 'chef-a', role: 'driver', owner: 'alice' }).token;
  const driverB = t.registry.tokens.create({ name: 'chef-b', role: 'driver', owner: 'bob' }).token;
  const call = async <T = ErrorBody>(method: string, path: string, o: CallOptions = {}): Promise<Reply<T>> => {
    const headers: Record<string, string> = { ...o.headers };
    const token = o.token === undefined ? admin : o.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (o.raw !== undefined) body = o.raw;
    else if (o.body !== undefined) body = JSON.stringify(o.body);
    if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
    const res = await fetch(url + path, { method, headers, body, signal: AbortSignal.timeout(10_000) });
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed as T, text, headers: res.headers };
  };
  return {
    ...t,
    url,
    logs,
    admin,
    driverA,
    driverB,
    call,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      t.cleanup();
    },
  };
}

/** Minimal valid facts for a machine with these MACs. */
export function factsFor(macs: string[], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cpu: { model: 'QEMU Virtual CPU', sockets: 1, cores: 4, threads: 8 },
    memoryMib: 16384,
    disks: [{ name: 'vda', sizeBytes: 100 * 1024 ** 3, model: 'QEMU HARDDISK', serial: 'd1', rotational: false }],
    nics: macs.map((mac) => ({ mac, driver: 'virtio_net', link: true, speedMbps: 1000 })),
    lldp: [],
    dmi: { vendor: 'QEMU', product: 'Standard PC', serial: 's1', uuid: '00000000-0000-0000-0000-000000000001' },
    bmc: null,
    firmware: 'uefi',
    arch: 'amd64',
    ...overrides,
  };
}

export const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBc0b2sxZmFrZWtleWZvcnRlc3RzMDAwMDAwMDAwMDA test@example';
