import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

/** Repository root, for spawning bench/tftpd.ts with tsx. */
export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

export function nsExists(name: string): boolean {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .some((l) => l.split(' ')[0] === name);
}

/** Kills what runs inside OUR namespace (everything there was started by this test), then deletes it. */
export function deleteNs(name: string): void {
  if (!nsExists(name)) return;
  const pids = execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const p of pids) {
    try {
      process.kill(Number(p), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  ip('netns', 'del', name);
}

/** One namespace with only loopback up: enough for port 69 without touching the host. */
export function createLoopbackNs(name: string): void {
  deleteNs(name);
  ip('netns', 'add', name);
  ip('-n', name, 'link', 'set', 'lo', 'up');
}

export interface NsPair {
  server: string;
  client: string;
  serverIp: string;
  clientIp: string;
  cleanup(): void;
}

/** Two namespaces joined by a veth (MTU 1500), e.g. brktf-ls-s 10.89.N.1 ⇄ brktf-ls-c 10.89.N.2. */
export function createPair(tag: string, subnet: number): NsPair {
  const server = `brktf-${tag}-s`;
  const client = `brktf-${tag}-c`;
  const vs = `brktf${tag}s`;
  const vc = `brktf${tag}c`;
  const cleanup = (): void => {
    deleteNs(server);
    deleteNs(client);
    try {
      ip('link', 'del', vs);
    } catch {
      // not left in the root namespace
    }
  };
  cleanup();
  ip('netns', 'add', server);
  ip('netns', 'add', client);
  ip('link', 'add', vs, 'type', 'veth', 'peer', 'name', vc);
  ip('link', 'set', vs, 'netns', server);
  ip('link', 'set', vc, 'netns', client);
  for (const [ns, dev, addr] of [
    [server, vs, `10.89.${subnet}.1/24`],
    [client, vc, `10.89.${subnet}.2/24`],
  ] as const) {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    ip('-n', ns, 'link', 'set', dev, 'mtu', '1500', 'up');
    ip('-n', ns, 'addr', 'add', addr, 'dev', dev);
  }
  return { server, client, serverIp: `10.89.${subnet}.1`, clientIp: `10.89.${subnet}.2`, cleanup };
}

/** Drops `percent`% of UDP arriving in `ns` (nftables numgen random on the input hook: this kernel has no netem). */
export function addUdpLoss(ns: string, percent: number): void {
  const rules = `table inet brktfloss {\n chain in { type filter hook input priority 0; policy accept;\n  meta l4proto udp numgen random mod 1000 < ${Math.round(percent * 10)} counter drop;\n }\n}\n`;
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules });
}

/** Packets the loss rule dropped so far in `ns`. */
export function droppedPackets(ns: string): number {
  const text = execFileSync('ip', ['netns', 'exec', ns, 'nft', 'list', 'table', 'inet', 'brktfloss'], { encoding: 'utf8' });
  return Number(/packets (\d+)/.exec(text)?.[1] ?? 0);
}

export interface Daemon {
  child: ChildProcess;
  stderr(): string;
  alive(): boolean;
  stop(): Promise<void>;
}

/** Starts bench/tftpd.ts (bootrack's TFTP composition as a process) inside `ns`; resolves once bound. */
export async function startDaemon(ns: string, args: string[], timeoutMs = 60_000): Promise<Daemon> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', join(REPO, 'bench', 'tftpd.ts'), ...args], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (err.length < 1_000_000) err += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tftpd did not start in ${timeoutMs} ms: ${err}`)), timeoutMs);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tftpd exited with ${code}: ${err}`));
    });
  });
  return {
    child,
    stderr: () => err,
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
