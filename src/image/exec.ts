import { execFile } from 'node:child_process';
import { BootrackError } from '../common/errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * Runs a program without a shell and returns its output and exit code; never throws for a non-zero
 * exit (callers map that to the right error). A program that cannot be started at all (ENOENT) is an
 * IMAGE_BUILD_FAILED naming it, since every tool the builder uses comes from a Debian package.
 */
export function run(file: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env ?? { ...process.env, LC_ALL: 'C' }, maxBuffer: 64 * 1024 * 1024, timeout: options.timeoutMs ?? 600_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code === 'string') {
          reject(new BootrackError('IMAGE_BUILD_FAILED', `cannot run ${file}: ${err.code} (is its package installed? see scripts/install-deps.sh)`, { program: file, errno: err.code }, { cause: err }));
          return;
        }
        if (err && err.killed) {
          reject(new BootrackError('IMAGE_BUILD_FAILED', `${file} ${args.join(' ')} timed out`, { program: file }, { cause: err }));
          return;
        }
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ stdout, stderr, code });
      },
    );
  });
}

/** Like `run` but a non-zero exit is an IMAGE_BUILD_FAILED carrying the tail of stderr. */
export async function runOk(file: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(file, args, options);
  if (r.code !== 0) {
    throw new BootrackError('IMAGE_BUILD_FAILED', `${file} ${args.join(' ')} exited ${r.code}: ${lastLines(r.stderr || r.stdout)}`, { program: file, args, exitCode: r.code });
  }
  return r.stdout;
}

export function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}
