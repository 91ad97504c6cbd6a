import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { once } from 'node:events';
// ssh2 is CommonJS: under Node's ESM loader only its default export is reliable.
import ssh2, { type Client as SshClient, type ClientChannel } from 'ssh2';
import { BootrackError, isBootrackError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/logger.js';
import { DEFAULT_EXEC_TIMEOUT_MS, shellQuote, throwIfFailed, type ExecOptions, type ExecResult, type Transport } from './transport.js';

const { Client, utils } = ssh2;

export interface SshTarget {
  host: string;
  port?: number;
  username: string;
  /** PEM / OpenSSH private key text (resolved by getPrivateKey; never stored in a reference). */
  privateKey: string | Buffer;
  passphrase?: string;
  /**
   * The pinned host key: an OpenSSH public key line ("ssh-ed25519 AAAA…", as the discovery agent
   * reports it) or a fingerprint "SHA256:…". A different key is refused with HOST_KEY_MISMATCH.
   */
  hostKey?: string;
  /** Only for throwaway targets: accept any host key when none is pinned. */
  insecureAcceptAnyHostKey?: boolean;
  /** Bound on TCP connect + handshake + auth (Chef's InitialConnectTimeout: 10 s). */
  connectTimeoutMs?: number;
}

export interface SshTransportOptions {
  /** e.g. "sudo ": commands run as `<prefix>sh -c '<command>'`; writes go to a temp file, then `<prefix>mv`. */
  prefix?: string;
  /** Where prefixed writes stage their temp files (Chef's scp_temp_dir). */
  tempDir?: string;
  logger?: Logger;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** "SHA256:<base64 without padding>", the form `ssh-keygen -l` prints. */
export function hostKeyFingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Normalises a pin (OpenSSH line or SHA256 fingerprint) to a fingerprint. */
export function pinFingerprint(pin: string): string {
  const trimmed = pin.trim();
  if (trimmed.startsWith('SHA256:')) return trimmed.replace(/=+$/, '');
  const parts = trimmed.split(/\s+/);
  const blob = parts.length >= 2 ? Buffer.from(parts[1]!, 'base64') : Buffer.alloc(0);
  if (blob.length === 0) throw new BootrackError('VALIDATION_FAILED', `host key pin ${JSON.stringify(pin)} is neither "<type> <base64>" nor "SHA256:<fingerprint>"`, { pin });
  return hostKeyFingerprint(blob);
}

/** The OpenSSH public key line of a private key ("ssh-ed25519 AAAA…"). */
export function publicKeyLine(privateKey: string | Buffer, passphrase?: string): string {
  const parsed = utils.parseKey(privateKey, passphrase);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  if (key === undefined || key instanceof Error) throw new BootrackError('VALIDATION_FAILED', `not a usable private key: ${key instanceof Error ? key.message : 'empty'}`);
  return `${key.type} ${key.getPublicSSH().toString('base64')}`;
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/**
 * Chef's Transport::SSH on ssh2: one lazy, cached session; bounded connect; host-key pinning; file
 * transfer through `cat` on exec channels (works on busybox/dropbear images without sftp-server).
 */
export class SshTransport implements Transport {
  readonly target: SshTarget;
  readonly options: SshTransportOptions;
  #session: Promise<SshClient> | undefined;
  #client: SshClient | undefined;
  #lastError: Error | undefined;
  readonly #forwards = new Map<number, { host: string; port: number }>();
  readonly #log: Logger;

  constructor(target: SshTarget, options: SshTransportOptions = {}) {
    if (!target.hostKey && !target.insecureAcceptAnyHostKey) {
      throw new BootrackError('VALIDATION_FAILED', `SSH to ${target.host}: no host key pinned; pass hostKey (or insecureAcceptAnyHostKey for throwaway hosts)`, { host: target.host });
    }
    this.target = target;
    this.options = options;
    this.#log = (options.logger ?? silentLogger).child({ ssh: `${target.host}:${target.port ?? 22}` });
  }

  get endpoint(): string {
    return `${this.target.username}@${this.target.host}:${this.target.port ?? 22}`;
  }

  get lastError(): Error | undefined {
    return this.#lastError;
  }

  /** Opens (or reuses) the session, bounded by `timeoutMs` (default connectTimeoutMs, 10 s). */
  connect(timeoutMs?: number): Promise<SshClient> {
    this.#session ??= this.#open(timeoutMs ?? this.target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS).catch((err: unknown) => {
      this.#session = undefined;
      throw err;
    });
    return this.#session;
  }

  #open(timeoutMs: number): Promise<SshClient> {
    const client = new Client();
    const expected = this.target.hostKey ? pinFingerprint(this.target.hostKey) : undefined;
    let seen: string | undefined;
    return new Promise<SshClient>((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => fail(new BootrackError('TIMEOUT', `SSH to ${this.endpoint}: no session within ${timeoutMs} ms`, { endpoint: this.endpoint, timeoutMs })), timeoutMs);
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        client.end();
        client.destroy();
        reject(err);
      };
      client.on('ready', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#client = client;
        resolve(client);
      });
      client.on('error', (err: Error & { level?: string; code?: string }) => {
        if (expected !== undefined && seen !== undefined && seen !== expected) {
          fail(new BootrackError('HOST_KEY_MISMATCH', `SSH host key of ${this.endpoint} is ${seen}, but ${expected} is pinned (the key the discovery agent reported); refusing to connect — if the machine was reinstalled, redeploy it so the pin is refreshed`, { endpoint: this.endpoint, expected, actual: seen }));
        } else if (/timed out/i.test(err.message)) {
          fail(new BootrackError('TIMEOUT', `SSH to ${this.endpoint}: ${err.message}`, { endpoint: this.endpoint }, { cause: err }));
        } else {
          fail(new BootrackError('SSH_CONNECT_FAILED', `SSH to ${this.endpoint} failed: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' '), { endpoint: this.endpoint, cause: err.code ?? err.level }, { cause: err }));
        }
        if (settled && this.#client === client) this.#drop(client);
      });
      client.on('close', () => {
        if (this.#client === client) this.#drop(client);
        fail(new BootrackError('SSH_CONNECT_FAILED', `SSH to ${this.endpoint}: connection closed during setup`, { endpoint: this.endpoint }));
      });
      client.on('tcp connection', (info, accept, rejectConn) => {
        const to = this.#forwards.get(info.destPort);
        if (!to) return rejectConn();
        const local = tcpConnect(to.port, to.host);
        local.once('connect', () => {
          const channel = accept();
          channel.pipe(local).pipe(channel);
          channel.on('error', () => local.destroy());
        });
        local.on('error', (e) => {
          this.#log.warn({ err: e.message, to }, 'reverse forward: local connect failed');
          rejectConn();
        });
      });
      client.connect({
        host: this.target.host,
        port: this.target.port ?? 22,
        username: this.target.username,
        privateKey: this.target.privateKey,
        ...(this.target.passphrase !== undefined ? { passphrase: this.target.passphrase } : {}),
        readyTimeout: timeoutMs,
        keepaliveInterval: 15_000,
        hostVerifier: (key: Buffer): boolean => {
          seen = hostKeyFingerprint(key);
          return expected === undefined || seen === expected;
        },
      });
    });
  }

  #drop(client: SshClient): void {
    if (this.#client === client) this.#client = undefined;
    this.#session = undefined;
    this.#forwards.clear();
  }

  async execute(command: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.#run(command, options, this.options.prefix ?? '');
  }

  /**
   * Kills what a timed-out command left running. sshd neither honours the "signal" request nor
   * kills a no-pty command when its channel closes, so every command runs as
   * `sh -c '<command>' bootrack-<tag>` and this finds that process and kills its process group (the
   * exec session's). The tag is assembled at run time so the killer never matches itself.
   */
  async #killTagged(prefix: string, tag: string): Promise<void> {
    const hex = tag.slice('bootrack-'.length);
    const killer = `m=bootrack-; p=$(pgrep -f "\${m}${hex}" | head -n 1); [ -n "$p" ] || exit 0; g=$(ps -o pgid= -p "$p" | tr -d ' '); kill -9 -"$g" 2>/dev/null || kill -9 "$p"`;
    try {
      await this.#run(killer, { timeoutMs: 10_000 }, prefix, false);
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, tag }, 'could not kill a timed-out command');
    }
  }

  async #run(command: string, options: ExecOptions, prefix: string, killable = true): Promise<ExecResult> {
    const client = await this.connect();
    const tag = `bootrack-${randomBytes(6).toString('hex')}`;
    const wire = `${prefix}sh -c ${shellQuote(command)} ${tag}`;
    const timeoutMs = options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS;
    const channel = await new Promise<ClientChannel>((resolve, reject) =>
      client.exec(wire, { pty: options.pty ?? false }, (err, ch) => (err ? reject(new BootrackError('SSH_CONNECT_FAILED', `exec on ${this.endpoint} refused: ${err.message}`, { endpoint: this.endpoint }, { cause: err })) : resolve(ch))),
    );
    return new Promise<ExecResult>((resolve, reject) => {
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let exitCode: number | null = null;
      let exitSignal: string | null = null;
      let done = false;
      const stop = (why: BootrackError): void => {
        if (done) return;
        done = true;
        cleanup();
        channel.close();
        const killed = killable ? this.#killTagged(prefix, tag) : Promise.resolve();
        // The caller learns of the timeout once the command is gone (bounded: the killer has 10 s).
        void killed.then(() => reject(why));
      };
      const timer = timeoutMs > 0 ? setTimeout(() => stop(new BootrackError('TIMEOUT', `command ${JSON.stringify(command)} on ${this.endpoint} did not finish within ${timeoutMs} ms`, { command, timeoutMs })), timeoutMs) : undefined;
      const onAbort = (): void => stop(new BootrackError('TIMEOUT', `command ${JSON.stringify(command)} on ${this.endpoint} aborted`, { command }));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      };
      if (options.stdoutTo) channel.pipe(options.stdoutTo);
      channel.on('data', (chunk: Buffer) => {
        if (!options.stdoutTo) out.push(chunk);
        options.onStdout?.(chunk);
      });
      channel.stderr.on('data', (chunk: Buffer) => {
        err.push(chunk);
        options.onStderr?.(chunk);
      });
      channel.on('exit', (code: number | null, signalName?: string) => {
        exitCode = typeof code === 'number' ? code : null;
        exitSignal = signalName ?? null;
      });
      channel.on('close', () => {
        if (done) return;
        done = true;
        cleanup();
        const bytes = Buffer.concat(out);
        resolve({ command, stdout: bytes.toString('utf8'), stdoutBytes: bytes, stderr: Buffer.concat(err).toString('utf8'), exitCode, exitSignal });
      });
      if (options.signal?.aborted) return onAbort();
      const stdin = options.stdin;
      if (stdin === undefined) channel.end();
      else if (typeof stdin === 'string' || Buffer.isBuffer(stdin)) channel.end(stdin);
      else stdin.pipe(channel);
    });
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    const result = await this.execute(`test -f ${shellQuote(path)} || exit 44; cat ${shellQuote(path)}`);
    if (result.exitCode === 44) return undefined;
    return throwIfFailed(result, this.endpoint).stdoutBytes;
  }

  async #put(remotePath: string, stdin: Buffer | string | NodeJS.ReadableStream): Promise<void> {
    if (!this.options.prefix) {
      throwIfFailed(await this.execute(`cat > ${shellQuote(remotePath)}`, { stdin, timeoutMs: 0 }), this.endpoint);
      return;
    }
    // Prefixed (sudo): the login user writes a temp file, the prefix moves it into place (Chef's scp + mv).
    const temp = `${this.options.tempDir ?? '/tmp'}/bootrack-${randomBytes(6).toString('hex')}`;
    throwIfFailed(await this.#run(`umask 077; cat > ${shellQuote(temp)}`, { stdin, timeoutMs: 0 }, ''), this.endpoint);
    throwIfFailed(await this.execute(`mv ${shellQuote(temp)} ${shellQuote(remotePath)}`), this.endpoint);
  }

  async writeFile(path: string, content: Buffer | string): Promise<void> {
    await this.#put(path, content);
  }

  async uploadFile(localPath: string, remotePath: string): Promise<void> {
    await this.#put(remotePath, createReadStream(localPath));
  }

  /** Streams the remote file into `<local>.<rand>.part`, then renames it over `localPath`. */
  async downloadFile(remotePath: string, localPath: string): Promise<void> {
    const temp = `${localPath}.${randomBytes(4).toString('hex')}.part`;
    const sink = createWriteStream(temp);
    const closed = once(sink, 'close');
    try {
      const result = await this.execute(`test -r ${shellQuote(remotePath)} || exit 44; cat ${shellQuote(remotePath)}`, { stdoutTo: sink, timeoutMs: 0 });
      await closed;
      if (result.exitCode === 44) throw new BootrackError('FILE_NOT_FOUND', `${remotePath} does not exist (or is unreadable) on ${this.endpoint}`, { path: remotePath });
      throwIfFailed(result, this.endpoint);
      await rename(temp, localPath);
    } finally {
      sink.destroy();
      await rm(temp, { force: true });
    }
  }

  /**
   * Non-local URLs pass through. For a URL on this host (localhost/127.x/::1) opens an SSH reverse
   * forward on the remote's 127.0.0.1, same port if free, else any (Chef's remote_forwards), and
   * returns the URL the remote should use. Note (CP#107): any process on the remote can use it.
   */
  async makeUrlAvailableToRemote(url: string): Promise<string> {
    const parsed = new URL(url);
    const host = parsed.hostname;
    if (!(LOCAL_HOSTS.has(host) || host.startsWith('127.'))) return url;
    const localPort = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
    const client = await this.connect();
    const bind = (port: number): Promise<number> =>
      new Promise((resolve, reject) => client.forwardIn('127.0.0.1', port, (err, bound) => (err ? reject(err) : resolve(bound || port))));
    let remotePort: number;
    try {
      remotePort = await bind(localPort);
    } catch {
      remotePort = await bind(0);
    }
    this.#forwards.set(remotePort, { host: host.replace(/^\[|\]$/g, ''), port: localPort });
    parsed.hostname = '127.0.0.1';
    parsed.port = String(remotePort);
    this.#log.info({ url, remote: parsed.href }, 'reverse forward opened');
    return parsed.href;
  }

  async isAvailable(options: { timeoutMs?: number } = {}): Promise<boolean> {
    const timeoutMs = options.timeoutMs ?? this.target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    try {
      await this.connect(timeoutMs);
      const result = await this.execute('true', { timeoutMs });
      if (result.exitCode !== 0) throw new BootrackError('COMMAND_FAILED', `"true" exited ${String(result.exitCode)} on ${this.endpoint}`);
      this.#lastError = undefined;
      return true;
    } catch (err) {
      // A wrong host key is not "not up yet": it is an answer, and waiting will not change it.
      if (isBootrackError(err, 'HOST_KEY_MISMATCH')) throw err;
      this.#lastError = err as Error;
      await this.disconnect();
      return false;
    }
  }

  async disconnect(): Promise<void> {
    const client = this.#client;
    this.#session = undefined;
    this.#client = undefined;
    this.#forwards.clear();
    if (!client) return;
    const closed = once(client, 'close').catch(() => undefined);
    client.end();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
    client.destroy();
  }
}
