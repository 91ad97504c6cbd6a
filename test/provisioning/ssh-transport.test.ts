import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import { RecordingActionHandler } from '../../src/provisioning/action-handler.js';
import { NoConverge } from '../../src/provisioning/convergence.js';
import { MachineSpec, MemoryEntryStore } from '../../src/provisioning/managed-entry.js';
import { hostKeyFingerprint, pinFingerprint, SshTransport, type SshTarget } from '../../src/provisioning/transport/ssh.js';
import { waitForSsh } from '../../src/provisioning/transport/wait.js';
import { UnixMachine } from '../../src/provisioning/unix-machine.js';
import { freePort, startSshd, type TestSshd } from '../helpers/provisioning-sshd.js';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function expectCode(promise: Promise<unknown>, code: string): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    expect(isBootrackError(err), String(err)).toBe(true);
    expect((err as { code: string }).code).toBe(code);
    return err as Error;
  }
  throw new Error(`expected ${code}, but it resolved`);
}

describe('SshTransport and UnixMachine against a real sshd on loopback', () => {
  let sshd: TestSshd;
  let work: string;
  let target: SshTarget;
  const open: SshTransport[] = [];
  const transport = (extra: Partial<SshTarget> = {}, prefix?: string): SshTransport => {
    const t = new SshTransport({ ...target, ...extra }, prefix ? { prefix } : {});
    open.push(t);
    return t;
  };
  const machine = (t: SshTransport): UnixMachine => new UnixMachine(new MachineSpec(new MemoryEntryStore(), 'box1'), t, new NoConverge());

  beforeAll(async () => {
    sshd = await startSshd();
    work = mkdtempSync(join(tmpdir(), 'bootrack-ssh-work-'));
    target = { host: '127.0.0.1', port: sshd.port, username: 'root', privateKey: sshd.userKey.privateKey, hostKey: sshd.hostKey.publicKey };
  });
  afterAll(async () => {
    for (const t of open) await t.disconnect();
    await sshd?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('streams output while the command runs and returns its exit code', async () => {
    const t = transport();
    const marker = join(work, 'go-on');
    const seen: string[] = [];
    // The command waits (bounded: 200 × 50 ms) for a file that the test creates only when the first
    // line has ARRIVED, so finishing early proves the output was streamed, not delivered at exit.
    const cmd = `echo started; i=0; while [ $i -lt 200 ] && [ ! -f '${marker}' ]; do sleep 0.05; i=$((i+1)); done; echo "waited $i"; echo oops >&2; exit 3`;
    const result = await t.execute(cmd, {
      onStdout: (chunk) => {
        seen.push(chunk.toString());
        if (seen.join('').includes('started')) writeFileSync(marker, '');
      },
    });
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toBe('oops\n');
    const waited = Number(/waited (\d+)/.exec(result.stdout)?.[1]);
    expect(waited).toBeLessThan(200);
    expect(seen.join('')).toBe(result.stdout);
  });

  it('Machine.execute throws COMMAND_FAILED with the exit code; executeAlways does not throw', async () => {
    const m = machine(transport());
    const ah = new RecordingActionHandler();
    const err = await expectCode(m.execute(ah, 'exit 7'), 'COMMAND_FAILED');
    expect((err as unknown as { details: { exitCode: number } }).details.exitCode).toBe(7);
    expect((await m.executeAlways('exit 5')).exitCode).toBe(5);
    const ok = await m.execute(ah, 'echo hi', { stream: true });
    expect(ok?.stdout).toBe('hi\n');
    expect(ah.streams.box1).toBe('hi\n');
  });

  it('kills a command at its timeout with TIMEOUT, and the session stays usable', async () => {
    const t = transport();
    await expectCode(t.execute('sleep 37; echo never', { timeoutMs: 300 }), 'TIMEOUT');
    // The command was killed, not orphaned.
    expect(execFileSync('ps', ['-eo', 'args']).toString().split('\n').filter((l) => l.startsWith('sleep 37'))).toEqual([]);
    expect((await t.execute('echo still here')).stdout).toBe('still here\n');
  });

  it('uploads and downloads a file byte for byte (sha256 on both ends)', async () => {
    const t = transport();
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const local = join(work, 'up.bin');
    writeFileSync(local, data);
    const remote = join(work, "remote dir", "it's uploaded.bin");
    const m = machine(t);
    const ah = new RecordingActionHandler();
    await m.uploadFile(ah, local, remote, { ensureDir: true });
    const remoteSum = (await t.execute(`sha256sum ${JSON.stringify(remote)}`)).stdout.slice(0, 64);
    expect(remoteSum).toBe(sha256(data));
    const back = join(work, 'down.bin');
    await m.downloadFile(ah, remote, back);
    expect(sha256(readFileSync(back))).toBe(sha256(data));
    // Same content again: nothing to do, no action reported.
    const before = ah.texts('action').length;
    await m.uploadFile(ah, local, remote);
    await m.downloadFile(ah, remote, back);
    expect(ah.texts('action').length).toBe(before);
    await expectCode(t.downloadFile(join(work, 'nope'), join(work, 'x')), 'FILE_NOT_FOUND');
    expect(existsSync(join(work, 'x'))).toBe(false);
  });

  it('UnixMachine file operations quote paths and are idempotent', async () => {
    const m = machine(transport());
    const ah = new RecordingActionHandler();
    const dir = join(work, 'a dir; echo pwned');
    const file = join(dir, "file 'q'.txt");
    await m.createDir(ah, dir);
    expect(await m.isDirectory(dir)).toBe(true);
    await m.writeFile(ah, file, 'hello\n');
    await m.writeFile(ah, file, 'hello\n');
    expect(ah.texts('action').filter((t) => t.startsWith('write')).length).toBe(1);
    expect((await m.readFile(file))?.toString()).toBe('hello\n');
    expect(await m.readFile(join(dir, 'missing'))).toBeUndefined();
    expect(await m.filesDifferent(file, undefined, 'hello\n')).toBe(false);
    expect(await m.filesDifferent(file, undefined, 'other')).toBe(true);
    await m.setAttributes(ah, file, { mode: '600' });
    expect((await m.getAttributes(file))?.mode).toBe('600');
    expect((await m.getAttributes(file))?.owner).toBe('root');
    await m.deleteFile(ah, file);
    expect(await m.fileExists(file)).toBe(false);
    expect(existsSync(join(work, 'pwned'))).toBe(false);
    const os = await m.detectOs();
    expect(os.arch).toBe(execFileSync('uname', ['-m']).toString().trim());
    expect(os.platform).not.toBe('unknown');
  });

  it('a prefix wraps every command and stages writes through a temp file + mv', async () => {
    const t = transport({}, 'env BOOTRACK_PREFIXED=yes ');
    expect((await t.execute('echo $BOOTRACK_PREFIXED && echo two')).stdout).toBe('yes\ntwo\n');
    const target = join(work, 'prefixed.txt');
    await t.writeFile(target, 'via mv');
    expect(readFileSync(target, 'utf8')).toBe('via mv');
  });

  it('accepts a pin given as a SHA256 fingerprint and refuses a different key with HOST_KEY_MISMATCH', async () => {
    const fp = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${sshd.hostKey.privateKeyPath}.pub`]).toString().split(' ')[1]!;
    expect(pinFingerprint(sshd.hostKey.publicKey)).toBe(fp);
    expect((await transport({ hostKey: fp }).execute('true')).exitCode).toBe(0);
    const err = await expectCode(transport({ hostKey: sshd.otherKey.publicKey }).execute('true'), 'HOST_KEY_MISMATCH');
    expect(err.message).toContain(fp);
    const details = (err as unknown as { details: { actual: string; expected: string } }).details;
    expect(details.actual).toBe(fp);
    expect(details.expected).toBe(pinFingerprint(sshd.otherKey.publicKey));
    // Waiting does not help a wrong key: waitForSsh fails at once instead of running to its deadline.
    await expectCode(waitForSsh(transport({ hostKey: sshd.otherKey.publicKey }), { timeoutMs: 600_000, ah: new RecordingActionHandler() }), 'HOST_KEY_MISMATCH');
    expect(hostKeyFingerprint(Buffer.from(sshd.hostKey.publicKey.split(' ')[1]!, 'base64'))).toBe(fp);
  });

  it('refuses to build a transport with no pinned host key unless told it is throwaway', () => {
    expect(() => new SshTransport({ host: '127.0.0.1', username: 'root', privateKey: 'x' })).toThrow(/no host key pinned/);
  });

  it('waitForSsh returns once SSH answers and fails at its deadline (counted from the call) when nothing listens', async () => {
    const ah = new RecordingActionHandler();
    await waitForSsh(transport(), { timeoutMs: 30_000, ah });
    const port = await freePort();
    const dead = transport({ port });
    const err = await expectCode(waitForSsh(dead, { timeoutMs: 1500, intervalMs: 200, ah }), 'TIMEOUT');
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).toMatch(/ECONNREFUSED/);
    const progress = ah.texts('progress');
    expect(progress.length).toBeGreaterThan(0);
    for (const p of progress) expect(p).toMatch(/^waiting for SSH \d+ s \/ 2 s$/);
  });

  it('makeUrlAvailableToRemote forwards a local URL over SSH and passes others through', async () => {
    let server: Server | undefined;
    try {
      server = createServer((_req, res) => res.end('through the tunnel'));
      await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
      const port = (server.address() as { port: number }).port;
      const m = machine(transport());
      const url = await m.makeUrlAvailableToRemote(`http://127.0.0.1:${port}/x`);
      // The remote is this host, where `port` is taken, so the forward lands on another port.
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/x$/);
      expect(url).not.toBe(`http://127.0.0.1:${port}/x`);
      const got = await m.execute(new RecordingActionHandler(), `curl -sS --max-time 10 ${url}`);
      expect(got?.stdout).toBe('through the tunnel');
      expect(await m.makeUrlAvailableToRemote('http://10.0.0.1:8080/a')).toBe('http://10.0.0.1:8080/a');
    } finally {
      await new Promise((r) => server?.close(r));
    }
  });
});
