import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrCreateTls } from '../../src/api/tls.js';
import { ApiClient } from '../../src/cli/client.js';
import { isBootrackError } from '../../src/common/errors.js';
import { silentLogger } from '../../src/common/logger.js';
import { startApiService } from '../helpers/api-service.js';

const client = (url: string, ca: string | null, token: string | null = null): ApiClient => new ApiClient({ baseUrl: url, token, ca, timeoutMs: 10_000 });

describe('apiService: the TLS listener', () => {
  it('creates a self-signed pair (key 0600) on first start, serves HTTPS with it, and reuses it on the next start', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'bootrack-apitls-'));
    try {
      const first = await startApiService({ stateDir });
      let certBefore: string;
      try {
        expect(first.url).toMatch(/^https:/);
        const certPath = join(stateDir, 'tls', 'api.crt');
        certBefore = readFileSync(certPath, 'utf8');
        expect(certBefore).toContain('BEGIN CERTIFICATE');
        expect(statSync(join(stateDir, 'tls', 'api.key')).mode & 0o777).toBe(0o600);
        expect(await client(first.url, certBefore).request('GET', '/healthz')).toMatchObject({ status: 'ok' });
        // Without the CA, the self-signed certificate is refused: TLS really is on.
        const untrusted = await client(first.url, null).request('GET', '/healthz').catch((e: unknown) => e);
        expect(isBootrackError(untrusted, 'API_UNREACHABLE')).toBe(true);
        // An authenticated call over TLS with a real token.
        const admin = first.registry.tokens.create({ name: 'ops', role: 'admin' }).token;
        expect(await client(first.url, certBefore, admin).request('GET', '/machines')).toEqual({ items: [] });
        const denied = await client(first.url, certBefore).request('GET', '/machines').catch((e: unknown) => e);
        expect(isBootrackError(denied, 'UNAUTHENTICATED')).toBe(true);
      } finally {
        await first.stop();
      }
      const second = await startApiService({ stateDir });
      try {
        expect(readFileSync(join(stateDir, 'tls', 'api.crt'), 'utf8')).toBe(certBefore);
        expect(await client(second.url, certBefore).request('GET', '/healthz')).toMatchObject({ status: 'ok' });
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('serves plain HTTP only with api.tls=false, and /metrics answers Prometheus text', async () => {
    const api = await startApiService({ tls: false });
    try {
      expect(api.url).toMatch(/^http:/);
      const res = await fetch(`${api.url}/metrics`, { signal: AbortSignal.timeout(5000) });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('# HELP');
    } finally {
      await api.stop();
    }
  });

  it('refuses a certificate without its key (TLS_SETUP_FAILED) instead of overwriting it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bootrack-apitls-'));
    try {
      mkdirSync(join(dir, 'tls'));
      writeFileSync(join(dir, 'tls', 'api.crt'), 'not a cert');
      const err = await loadOrCreateTls({ certPath: join(dir, 'tls', 'api.crt'), keyPath: join(dir, 'tls', 'api.key'), hostnames: ['127.0.0.1'], logger: silentLogger }).catch((e: unknown) => e);
      expect(isBootrackError(err, 'TLS_SETUP_FAILED')).toBe(true);
      expect(readFileSync(join(dir, 'tls', 'api.crt'), 'utf8')).toBe('not a cert');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
