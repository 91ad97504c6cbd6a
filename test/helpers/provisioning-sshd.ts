import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SSHD = '/usr/sbin/sshd';

/** A free TCP port on 127.0.0.1 (bound, read, released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface KeyPair {
  privateKeyPath: string;
  privateKey: string;
  /** OpenSSH public key line, "ssh-ed25519 AAAA… comment". */
  publicKey: string;
}

/** A throwaway ed25519 key made by the real ssh-keygen. */
export function makeKeyPair(dir: string, name: string): KeyPair {
  const path = join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `bootrack-test-${name}`, '-f', path]);
  return { privateKeyPath: path, privateKey: readFileSync(path, 'utf8'), publicKey: readFileSync(`${path}.pub`, 'utf8').trim() };
}

export interface TestSshd {
  port: number;
  dir: string;
  hostKey: KeyPair;
  userKey: KeyPair;
  /** A different key, for pin-mismatch tests. */
  otherKey: KeyPair;
  stop(): Promise<void>;
}

async function waitForListen(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}: ${stderr()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sshd did not listen on 127.0.0.1:${port} within 5 s: ${stderr()}`);
}

/**
 * A REAL OpenSSH sshd on 127.0.0.1:<free port> with its own throwaway host key and an
 * AuthorizedKeysFile holding a throwaway user key (we run as root). Fails loudly if sshd is missing.
 */
export async function startSshd(options: { listen?: string[] } = {}): Promise<TestSshd> {
  if (!existsSync(SSHD)) throw new Error(`${SSHD} is missing: install openssh-server (scripts/install-deps.sh) — this test needs a real sshd`);
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // sshd's privilege-separation directory
  const dir = mkdtempSync(join(tmpdir(), 'bootrack-sshd-'));
  const hostKey = makeKeyPair(dir, 'host_ed25519');
  const userKey = makeKeyPair(dir, 'user_ed25519');
  const otherKey = makeKeyPair(dir, 'other_ed25519');
  writeFileSync(join(dir, 'authorized_keys'), userKey.publicKey + '\n', { mode: 0o600 });
  const port = await freePort();
  const config = [
    `Port ${port}`,
    // Loopback only; extra 127.x addresses let a test give each "machine" its own IP.
    ...(options.listen ?? ['127.0.0.1']).map((a) => `ListenAddress ${a}`),
    `HostKey ${hostKey.privateKeyPath}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'StrictModes no',
    'UsePAM no',
    'AllowTcpForwarding yes',
    'LogLevel ERROR',
  ].join('\n');
  writeFileSync(join(dir, 'sshd_config'), config + '\n');
  // Debian's bash sources ~/.bashrc for every command run over SSH, and root's here runs `pyenv init`
  // (seconds per command under load). sshd runs in a private mount namespace where that file is
  // masked by /dev/null: nothing outside this sshd is affected, and it vanishes with the process.
  const maskRc = existsSync('/root/.bashrc') ? 'mount --bind /dev/null /root/.bashrc && ' : '';
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `${maskRc}exec ${SSHD} -D -e -f "$1"`, 'sh', join(dir, 'sshd_config')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForListen(port, child, () => err);
  } catch (e) {
    await stop();
    throw e;
  }
  return { port, dir, hostKey, userKey, otherKey, stop };
}
