import { spawn } from 'node:child_process';
import { BootrackError } from '../../../common/errors.js';

export interface VagrantRunOptions {
  /** The project directory (the cluster dir holding the Vagrantfile). */
  cwd: string;
  /** Kill the whole process group (SIGTERM, then SIGKILL 10 s later) and throw TIMEOUT after this long. */
  timeoutMs: number;
  /** Extra environment (e.g. VAGRANT_HOME, LIBVIRT_DEFAULT_URI); the rest is inherited. */
  env?: Record<string, string>;
  /** Every complete output line (stdout and stderr), as it arrives. */
  onLine?: (line: string) => void;
}

export interface VagrantResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** The install hint for a provider's plugin (the Debian package names). */
export function providerInstallHint(provider: string): string {
  return provider === 'libvirt'
    ? 'install vagrant-libvirt (apt-get install vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu, or `vagrant plugin install vagrant-libvirt`)'
    : provider === 'virtualbox'
      ? 'install VirtualBox'
      : `install the vagrant-${provider} plugin (\`vagrant plugin install vagrant-${provider}\`)`;
}

/**
 * Runs `<binary> args…` bounded in time. Vagrant ignores SIGINT while it waits for a guest (the
 * lab's pitfall 4) and starts ssh/qemu-img children, so the child gets its own process group and
 * the timeout kills that group by the child's pid. A binary that cannot be spawned (ENOENT/EACCES)
 * is VAGRANT_NOT_INSTALLED naming what to install.
 */
export function runVagrant(binary: string, args: readonly string[], options: VagrantRunOptions): Promise<VagrantResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let pending = '';
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const feed = (chunk: Buffer): void => {
      if (!options.onLine) return;
      pending += chunk.toString('utf8');
      const parts = pending.split(/\r?\n/);
      pending = parts.pop() ?? '';
      for (const p of parts) options.onLine(p);
    };
    child.stdout.on('data', (c: Buffer) => (out.push(c), feed(c)));
    child.stderr.on('data', (c: Buffer) => (err.push(c), feed(c)));
    const killGroup = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // the group is already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup('SIGTERM');
      killTimer = setTimeout(() => killGroup('SIGKILL'), 10_000);
    }, Math.max(1, options.timeoutMs));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (e.code === 'ENOENT' || e.code === 'EACCES') {
        reject(new BootrackError('VAGRANT_NOT_INSTALLED', `the vagrant binary ${JSON.stringify(binary)} cannot be run (${e.code}): install Vagrant (apt-get install vagrant, or from HashiCorp) or set driverOptions.vagrantBinary to its path`, { binary }, { cause: e }));
      } else reject(new BootrackError('VAGRANT_COMMAND_FAILED', `${binary} ${args.join(' ')} could not start: ${e.message}`, { binary, args }, { cause: e }));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      if (pending && options.onLine) options.onLine(pending);
      const result = { exitCode: code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
      if (timedOut) {
        reject(new BootrackError('TIMEOUT', `vagrant ${args.join(' ')} did not finish within ${Math.round(options.timeoutMs / 1000)} s; it was stopped (its process group got SIGTERM)`, { args, timeoutMs: options.timeoutMs, stderr: tail(result.stderr || result.stdout) }));
      } else resolve(result);
    });
  });
}

export function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Throws VAGRANT_NOT_INSTALLED for a missing provider plugin, else VAGRANT_COMMAND_FAILED, unless it exited 0. */
export function checkVagrant(result: VagrantResult, args: readonly string[], provider: string): VagrantResult {
  if (result.exitCode === 0) return result;
  const text = `${result.stderr}\n${result.stdout}`;
  // Vagrant 2.3.4: "The provider 'x' could not be found, but was requested to back the machine…"
  // and "The provider 'virtualbox' that was requested to back the machine 'm1' is reporting that it
  // isn't usable on this system" (plugin present, hypervisor missing).
  if (/provider '[^']+' could not be found|provider '[^']+' that was requested[\s\S]*?isn't usable on this system/i.test(text)) {
    throw new BootrackError('VAGRANT_NOT_INSTALLED', `Vagrant cannot use the provider "${provider}": ${providerInstallHint(provider)} (vagrant said: ${tail(text, 3).replace(/\s+/g, ' ')})`, { provider, stderr: tail(text) });
  }
  throw new BootrackError('VAGRANT_COMMAND_FAILED', `vagrant ${args.join(' ')} exited ${String(result.exitCode)}: ${tail(result.stderr || result.stdout, 5)}`, { args, exitCode: result.exitCode, stderr: tail(result.stderr || result.stdout, 30) });
}
