import type { Writable } from 'node:stream';
import { BootrackError } from '../../common/errors.js';

/** Chef's Transport::DEFAULT_TIMEOUT: 15 minutes. 0 means no timeout. */
export const DEFAULT_EXEC_TIMEOUT_MS = 15 * 60 * 1000;

export interface ExecOptions {
  /** Kill the command and throw TIMEOUT after this long (default 15 min; 0 = none). */
  timeoutMs?: number;
  /** Live output, chunk by chunk, as it arrives. */
  onStdout?: (chunk: Buffer) => void;
  onStderr?: (chunk: Buffer) => void;
  /** Sent as the command's stdin, then EOF. Without it, stdin is closed at once. */
  stdin?: Buffer | string | NodeJS.ReadableStream;
  /** Pipe stdout here (with backpressure) instead of collecting it. */
  stdoutTo?: Writable;
  /** Allocate a pseudo-terminal. */
  pty?: boolean;
  signal?: AbortSignal;
}

export interface ExecResult {
  command: string;
  /** Collected output, UTF-8 decoded (empty when stdout was piped elsewhere). */
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
  /** null when the command died of a signal. */
  exitCode: number | null;
  exitSignal: string | null;
}

/** Throws COMMAND_FAILED (details: command, exitCode, exitSignal, stderr tail) unless the command exited 0. */
export function throwIfFailed(result: ExecResult, where = ''): ExecResult {
  if (result.exitCode === 0) return result;
  const how = result.exitCode === null ? `died of signal ${result.exitSignal ?? '?'}` : `exited ${result.exitCode}`;
  const tail = result.stderr.trim().split('\n').slice(-5).join('\n');
  throw new BootrackError('COMMAND_FAILED', `command ${JSON.stringify(result.command)}${where ? ` on ${where}` : ''} ${how}${tail ? `: ${tail}` : ''}`, {
    command: result.command,
    exitCode: result.exitCode,
    exitSignal: result.exitSignal,
    stderr: tail,
  });
}

/** How a Machine reaches its box. SshTransport is the one implementation today; WinRM would be another. */
export interface Transport {
  /** A human name for messages, e.g. "root@10.0.0.5:22". */
  readonly endpoint: string;
  execute(command: string, options?: ExecOptions): Promise<ExecResult>;
  /** undefined when the file does not exist. */
  readFile(path: string): Promise<Buffer | undefined>;
  writeFile(path: string, content: Buffer | string): Promise<void>;
  uploadFile(localPath: string, remotePath: string): Promise<void>;
  downloadFile(remotePath: string, localPath: string): Promise<void>;
  /** The URL the remote should use to reach `url` (a reverse forward for local URLs). */
  makeUrlAvailableToRemote(url: string): Promise<string>;
  /** Connects and runs a no-op within `timeoutMs`; false (with `lastError` set) if it cannot. */
  isAvailable(options?: { timeoutMs?: number }): Promise<boolean>;
  readonly lastError: Error | undefined;
  disconnect(): Promise<void>;
}

/** POSIX single-quote: the one way paths and arguments reach a remote shell (Chef interpolated them raw). */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
