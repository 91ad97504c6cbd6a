import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { BACKGROUND_THREAD_NICE } from '../../src/common/thread-priority.js';

const CLI = new URL('../../src/cli/bootrack.ts', import.meta.url).pathname;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('bootrack serve', () => {
  it('starts on defaults plus overrides, reports readiness, and stops cleanly on SIGTERM', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'bootrack-serve-'));
    dirs.push(stateDir);
    const [httpPort, apiPort, tftpPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const args = ['--import', 'tsx', CLI, 'serve', '--set', `stateDir=${stateDir}`, '--set', 'advertiseAddress=127.0.0.1',
      '--set', 'http.address=127.0.0.1', '--set', `http.port=${httpPort}`, '--set', 'api.address=127.0.0.1', '--set', `api.port=${apiPort}`,
      '--set', 'tftp.address=127.0.0.1', '--set', `tftp.port=${tftpPort}`];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BOOTRACK_CONFIG: '' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not ready within 60 s:\n${out}`)), 60_000);
        const check = (): void => {
          if (out.includes('"msg":"bootrack ready"')) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout.on('data', check);
        child.once('exit', (code) => reject(new Error(`exited early with ${code}:\n${out}`)));
      });
      expect(statSync(join(stateDir, 'secret.key')).mode & 0o777).toBe(0o600);
      // The socket loop (the main thread, tid = pid) keeps its priority; the helper threads run below it.
      if (process.platform === 'linux') {
        const pid = child.pid!;
        // A thread the daemon starts after "ready" (libuv's pool, on first use) is lowered by the
        // 10 s repeat: wait for that (bounded), reading the kernel's view of every thread.
        const notLowered = (): number[] =>
          readdirSync(`/proc/${pid}/task`).map(Number).filter((tid) => {
            if (tid === pid) return false;
            try {
              return getPriority(tid) < BACKGROUND_THREAD_NICE;
            } catch {
              return false; // exited meanwhile
            }
          });
        for (let i = 0; i < 30 && notLowered().length > 0; i++) await new Promise((r) => setTimeout(r, 500));
        expect(notLowered()).toEqual([]);
        expect(readdirSync(`/proc/${pid}/task`).length).toBeGreaterThan(1);
        expect(getPriority(pid)).toBe(getPriority()); // as started (a child inherits its parent's nice value)
        expect(out).toContain('"msg":"background threads run below the socket loop"');
      }
      const check = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'db', 'check', '--db', join(stateDir, 'bootrack.db'), '--json'], { encoding: 'utf8' });
      expect(check.status, check.stderr).toBe(0);
      expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, integrity: ['ok'] });
    } finally {
      child.kill('SIGTERM');
    }
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code, out).toBe(0);
    expect(out).toContain('"msg":"bootrack stopped"');
  });

  it('refuses a broken config file with its code and a non-zero exit, creating nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bootrack-serve-bad-'));
    dirs.push(dir);
    const result = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'serve', '--set', `stateDir=${join(dir, 'state')}`, '--set', 'http.port=not-a-port'], { encoding: 'utf8' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('CONFIG_INVALID');
    expect(result.stderr).toContain('http.port');
    expect(() => statSync(join(dir, 'state'))).toThrow();
  });
});
