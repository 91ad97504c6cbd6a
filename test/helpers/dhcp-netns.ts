/**
 * Network-namespace lab for the DHCP integration tests. Every namespace starts with `brkdh`; every
 * process is spawned by us and killed by its PID; `cleanup()` runs in afterAll even on failure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePacket, type DhcpPacket } from '../../src/protocol/dhcp/packet.js';

export const ROOT = join(import.meta.dirname, '../..');
const TSX = ['--import', 'tsx'];

/** Fails loudly (never skips) when a peer the test needs is not installed. */
export function requireTools(...tools: string[]): void {
  const missing = tools.filter((t) => {
    try {
      execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) throw new Error(`missing tools for this test: ${missing.join(', ')} (see scripts/install-deps.sh)`);
}

export function run(cmd: string, args: string[], timeoutMs = 30_000): string {
  return execFileSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function nsRun(ns: string, cmd: string, args: string[], timeoutMs = 30_000): string {
  return run('ip', ['netns', 'exec', ns, cmd, ...args], timeoutMs);
}

export interface DaemonHandle {
  proc: ChildProcess;
  output: string[];
  stop(signal?: NodeJS.Signals): Promise<{ values: Record<string, number>; errors: string[] } | null>;
}

export interface ClientReply {
  step: number;
  from: string;
  port: number;
  packet: DhcpPacket;
}

export interface DoraResult {
  mac: string;
  offered: string | null;
  acked: string | null;
  reply: string | null;
}

export class NetLab {
  readonly dir: string;
  readonly #namespaces: string[] = [];
  readonly #procs = new Set<ChildProcess>();

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'brkdh-'));
  }

  addNamespace(name: string): void {
    if (!name.startsWith('brkdh')) throw new Error(`namespace ${name} must start with brkdh`);
    try {
      run('ip', ['netns', 'del', name]);
    } catch {
      /* not there: fine */
    }
    run('ip', ['netns', 'add', name]);
    this.#namespaces.push(name);
    run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  }

  /** A veth pair between two namespaces; addresses are optional CIDRs. */
  veth(a: { ns: string; dev: string; cidr?: string }, b: { ns: string; dev: string; cidr?: string }): void {
    // Temporary names in the root namespace, unique per call so two labs never collide there.
    const tag = randomBytes(4).toString('hex');
    run('ip', ['link', 'add', `bd${tag}a`, 'type', 'veth', 'peer', 'name', `bd${tag}b`]);
    run('ip', ['link', 'set', `bd${tag}a`, 'netns', a.ns, 'name', a.dev]);
    run('ip', ['link', 'set', `bd${tag}b`, 'netns', b.ns, 'name', b.dev]);
    for (const end of [a, b]) {
      if (end.cidr) run('ip', ['-n', end.ns, 'addr', 'add', end.cidr, 'dev', end.dev]);
      run('ip', ['-n', end.ns, 'link', 'set', end.dev, 'up']);
    }
  }

  /** Starts test/helpers/dhcp-daemon.ts in `ns`; resolves when it prints READY. */
  async startDaemon(ns: string, config: unknown, name = 'bootrack'): Promise<DaemonHandle> {
    const args = JSON.stringify({ config, databasePath: join(this.dir, `${name}.db`), keyPath: join(this.dir, `${name}.key`) });
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...TSX, join(ROOT, 'test/helpers/dhcp-daemon.ts'), args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#procs.add(proc);
    const output: string[] = [];
    let metrics: ((line: string) => void) | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`daemon not ready in 30 s: ${output.join('\n')}`)), 30_000);
      proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
        for (const line of chunk.split('\n').filter(Boolean)) {
          output.push(line);
          if (line.startsWith('READY')) (clearTimeout(timer), resolve());
          if (line.startsWith('METRICS')) metrics?.(line);
        }
      });
      proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => output.push(chunk));
      proc.once('exit', (code) => (clearTimeout(timer), reject(new Error(`daemon exited ${code}: ${output.join('\n')}`))));
    });
    await ready;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    return {
      proc,
      output,
      stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
        const got = new Promise<string | null>((resolve) => {
          metrics = resolve;
          setTimeout(() => resolve(null), 10_000);
        });
        proc.kill(signal);
        const line = signal === 'SIGTERM' ? await got : null;
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        this.#procs.delete(proc);
        return line ? (JSON.parse(line.slice('METRICS '.length)) as { values: Record<string, number>; errors: string[] }) : null;
      },
    };
  }

  /** Runs test/helpers/dhcp-client.ts in `ns` and decodes the replies it collected. */
  client(ns: string, args: object, timeoutMs = 60_000): { replies: ClientReply[]; sent: number; fuzzReplies: number; dora: DoraResult[]; probesAnswered: number; probesLost: number } {
    const out = nsRun(ns, process.execPath, [...TSX, join(ROOT, 'test/helpers/dhcp-client.ts'), JSON.stringify(args)], timeoutMs);
    const parsed = JSON.parse(out.trim().split('\n').pop()!) as { replies: Array<{ step: number; from: string; port: number; hex: string }>; sent: number; fuzzReplies: number; dora: DoraResult[]; probesAnswered: number; probesLost: number };
    return { ...parsed, replies: parsed.replies.map((r) => ({ step: r.step, from: r.from, port: r.port, packet: decodePacket(Buffer.from(r.hex, 'hex')) })) };
  }

  /** As `client`, without blocking the test worker (for the long fuzz run). */
  async clientAsync(ns: string, args: object, timeoutMs = 60_000): Promise<ReturnType<NetLab['client']>> {
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, ...TSX, join(ROOT, 'test/helpers/dhcp-client.ts'), JSON.stringify(args)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#procs.add(proc);
    let out = '';
    let err = '';
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      proc.once('exit', (c) => (clearTimeout(timer), resolve(c)));
    });
    this.#procs.delete(proc);
    if (code !== 0) throw new Error(`dhcp-client exited ${code}: ${err}`);
    const parsed = JSON.parse(out.trim().split('\n').pop()!) as { replies: Array<{ step: number; from: string; port: number; hex: string }>; sent: number; fuzzReplies: number; dora: DoraResult[]; probesAnswered: number; probesLost: number };
    return { ...parsed, replies: parsed.replies.map((r) => ({ step: r.step, from: r.from, port: r.port, packet: decodePacket(Buffer.from(r.hex, 'hex')) })) };
  }

  /** Starts any long-running peer (dnsmasq, qemu, tcpdump) in `ns`, tracked for cleanup. */
  spawnIn(ns: string, cmd: string, args: string[]): ChildProcess {
    const proc = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'ignore' });
    this.#procs.add(proc);
    return proc;
  }

  async cleanup(): Promise<void> {
    for (const proc of this.#procs) {
      if (proc.exitCode === null && proc.pid !== undefined) proc.kill('SIGKILL');
    }
    this.#procs.clear();
    await new Promise((r) => setTimeout(r, 200));
    for (const ns of this.#namespaces.reverse()) {
      // Anything still running in our namespace was started by this test (dhclient daemonizes).
      try {
        const pids = run('ip', ['netns', 'pids', ns]).split('\n').filter(Boolean);
        for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* already gone */
      }
      try {
        run('ip', ['netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
