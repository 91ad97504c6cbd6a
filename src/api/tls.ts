import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { BootrackError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';

const run = promisify(execFile);

export interface TlsPair {
  cert: Buffer;
  key: Buffer;
  /** True when this call created a self-signed pair. */
  created: boolean;
}

/**
 * The API's certificate: the configured pair when both files exist, otherwise a self-signed pair
 * created there on first start (openssl, run without a shell; the key is 0600, its directory 0700).
 * One file without the other is a configuration mistake, not something to overwrite.
 */
export async function loadOrCreateTls(options: { certPath: string; keyPath: string; hostnames: readonly string[]; logger: Logger; openssl?: string }): Promise<TlsPair> {
  const { certPath, keyPath } = options;
  const haveCert = existsSync(certPath);
  const haveKey = existsSync(keyPath);
  let created = false;
  if (haveCert !== haveKey) {
    throw new BootrackError('TLS_SETUP_FAILED', `found ${haveCert ? certPath : keyPath} but not ${haveCert ? keyPath : certPath}; provide both or neither`, { certPath, keyPath });
  }
  if (!haveCert) {
    for (const dir of new Set([dirname(certPath), dirname(keyPath)])) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const san = options.hostnames.map((h) => (/^\d+\.\d+\.\d+\.\d+$/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
    const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', '3650', '-subj', '/CN=bootrack', '-addext', `subjectAltName=${san}`, '-keyout', keyPath, '-out', certPath];
    try {
      await run(options.openssl ?? 'openssl', args, { timeout: 30_000, env: { ...process.env, OPENSSL_CONF: '/dev/null' } });
    } catch (err) {
      throw new BootrackError('TLS_SETUP_FAILED', `openssl could not create a self-signed certificate: ${(err as Error).message}`, { certPath, keyPath }, { cause: err });
    }
    chmodSync(keyPath, 0o600);
    created = true;
    options.logger.info({ certPath, hostnames: options.hostnames }, 'created a self-signed API certificate; clients trust it with --ca');
  }
  try {
    return { cert: readFileSync(certPath), key: readFileSync(keyPath), created };
  } catch (err) {
    throw new BootrackError('TLS_SETUP_FAILED', `cannot read the API certificate or key: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { certPath, keyPath }, { cause: err });
  }
}
