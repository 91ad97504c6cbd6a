import { spawn } from 'node:child_process';
import { accessSync, constants, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BootrackError } from '../../common/errors.js';

export interface ToolResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when our kill timer ended the process. */
  killed: boolean;
  ms: number;
}

/**
 * Runs a tool WITHOUT a shell (argv is passed as-is, so hostnames and options can never be
 * interpreted), with a hard kill timer on top of the tool's own timeouts: FreeIPMI and ipmitool
 * default to 20 s waits even on ICMP port-unreachable (lab README pitfall 12), so the caller bounds
 * every call. SIGTERM at the bound, SIGKILL 1 s later if the tool ignores it.
 */
export function runTool(file: string, args: readonly string[], options: { timeoutMs: number; signal?: AbortSignal }): Promise<ToolResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(file, args, { shell: false, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' } });
    } catch (err) {
      reject(new BootrackError('BMC_ERROR', `cannot run ${file}`, { tool: file }, { cause: err }));
      return;
    }
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    let killed = false;
    let hardKill: NodeJS.Timeout | undefined;
    const kill = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      killed = true;
      child.kill('SIGTERM');
      hardKill = setTimeout(() => child.kill('SIGKILL'), 1000);
    };
    const timer = setTimeout(kill, options.timeoutMs);
    const onAbort = (): void => kill();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => errOut.push(chunk));
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      clearTimeout(hardKill);
      options.signal?.removeEventListener('abort', onAbort);
      const missing = err.code === 'ENOENT';
      reject(new BootrackError(missing ? 'BMC_UNSUPPORTED' : 'BMC_ERROR', missing ? `${file} is not installed` : `cannot run ${file}: ${err.message}`, { tool: file }, { cause: err }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      clearTimeout(hardKill);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(errOut).toString('utf8'),
        killed,
        ms: performance.now() - started,
      });
    });
  });
}

const SECRET_PREFIX = 'bootrack-bmc-';

/** Where credential files live: tmpfs (/dev/shm) when writable, so a secret never reaches a disk; else the OS temp dir. */
export function secretBaseDir(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

/**
 * Removes credential directories left behind by a process that was killed mid-call (its `finally`
 * never ran). Only our own prefix, only older than `olderThanMs` (longer than any call may run).
 * Returns how many were removed.
 */
export function sweepStaleSecretDirs(olderThanMs: number, now = Date.now()): number {
  const base = secretBaseDir();
  let removed = 0;
  let names: string[] = [];
  try {
    names = readdirSync(base).filter((n) => n.startsWith(SECRET_PREFIX));
  } catch {
    return 0;
  }
  for (const name of names) {
    try {
      const path = join(base, name);
      if (now - statSync(path).mtimeMs > olderThanMs) {
        rmSync(path, { recursive: true, force: true });
        removed++;
      }
    } catch {
      // raced with its owner's cleanup
    }
  }
  return removed;
}

/**
 * Writes secret material to a fresh 0700 directory as a 0600 file, hands its path to `fn`, and
 * removes the directory afterwards whatever happens. Passwords never go on argv (visible in
 * /proc/<pid>/cmdline and `ps`) — lab README pitfall 15. (A pipe would be nicer, but FreeIPMI and
 * ipmitool open() the path, and Node's extra stdio pipes are socketpairs: open() gives ENXIO.)
 */
export async function withSecretFile<T>(contents: string, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(secretBaseDir(), SECRET_PREFIX));
  const path = join(dir, 'secret');
  try {
    await writeFile(path, contents, { mode: 0o600, flag: 'wx' });
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
