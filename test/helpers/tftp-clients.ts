import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export type TftpClientName = 'curl' | 'atftp' | 'tftp-hpa';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking the event loop (an in-process server must keep serving), killed after timeoutMs. */
export function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + String(err) });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Fails loudly (never skips) when a required tool is missing. */
export function requireTools(...tools: string[]): void {
  const missing = tools.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length) throw new Error(`required tool(s) missing: ${missing.join(', ')} (see scripts/install-deps.sh)`);
}

export interface FetchOptions {
  host: string;
  port: number;
  name: string;
  out: string;
  blksize?: number;
  windowsize?: number;
  timeoutMs?: number;
  /** Run inside this network namespace. */
  netns?: string;
}

/** The argv that downloads one file with a real client. */
export function clientArgv(client: TftpClientName, o: FetchOptions): string[] {
  const secs = Math.ceil((o.timeoutMs ?? 60_000) / 1000);
  switch (client) {
    case 'curl':
      return ['curl', '-sS', '--max-time', String(secs), ...(o.blksize ? ['--tftp-blksize', String(o.blksize)] : []), '-o', o.out, `tftp://${o.host}:${o.port}/${o.name}`];
    case 'atftp': {
      const opts: string[] = [];
      if (o.blksize) opts.push('--option', `blksize ${o.blksize}`);
      if (o.windowsize && o.windowsize > 1) opts.push('--option', `windowsize ${o.windowsize}`);
      return ['atftp', ...opts, '-g', '-r', o.name, '-l', o.out, o.host, String(o.port)];
    }
    case 'tftp-hpa':
      // tftp-hpa's client speaks plain RFC 1350: 512-byte blocks, no options.
      return ['tftp', '-m', 'binary', o.host, String(o.port), '-c', 'get', o.name, o.out];
  }
}

export function fetchWith(client: TftpClientName, o: FetchOptions): Promise<RunResult> {
  const argv = clientArgv(client, o);
  const full = o.netns ? ['ip', 'netns', 'exec', o.netns, ...argv] : argv;
  return run(full[0]!, full.slice(1), o.timeoutMs ?? 60_000);
}

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
}
