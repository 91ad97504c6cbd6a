import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootDirs, curl, startBootHttp, tempDir, type BootHttpFixture } from '../helpers/http-fixtures.js';
import { tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';

const SIZE = 8 * 1024 * 1024;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('static boot assets (real curl against the in-process service)', () => {
  let reg: TempRegistry;
  let dirs: ReturnType<typeof tempDir>;
  let http: BootHttpFixture;
  let data: Buffer;
  let url: string;
  const secret = `TOP-SECRET-${randomBytes(8).toString('hex')}`;

  beforeAll(async () => {
    reg = tempRegistry('brkht-reg-');
    dirs = tempDir();
    const d = bootDirs(dirs.dir);
    data = randomBytes(SIZE);
    writeFileSync(join(d.ipxeDir, 'big.bin'), data);
    // Outside the served root: a secret file and a directory; symlinks inside the root point at them.
    mkdirSync(join(dirs.dir, 'outside'));
    writeFileSync(join(dirs.dir, 'outside', 'secret.txt'), secret);
    symlinkSync(join(dirs.dir, 'outside', 'secret.txt'), join(d.ipxeDir, 'escape.txt'));
    symlinkSync(join(dirs.dir, 'outside'), join(d.ipxeDir, 'escape-dir'));
    symlinkSync('big.bin', join(d.ipxeDir, 'alias.bin')); // a link that stays inside is fine
    // Debian ships /usr/lib/ipxe/ipxe.efi -> /boot/ipxe.efi: a configured boot program may link out.
    writeFileSync(join(dirs.dir, 'outside', 'ipxe-real.efi'), 'EFI-PROGRAM');
    symlinkSync(join(dirs.dir, 'outside', 'ipxe-real.efi'), join(d.ipxeDir, 'ipxe.efi'));
    writeFileSync(join(d.ipxeDir, '.hidden'), secret);
    mkdirSync(join(d.ipxeDir, 'sub'));
    writeFileSync(join(d.ipxeDir, 'sub', 'a b.txt'), 'spaced');
    http = await startBootHttp(reg.registry, d);
    url = `${http.base}/ipxe/big.bin`;
  });
  afterAll(async () => {
    await http?.stop();
    reg?.cleanup();
    dirs?.cleanup();
  });

  it('GET streams the whole file (sha256), HEAD gives the headers and no body', async () => {
    const out = join(dirs.dir, 'full.bin');
    await curl(['-o', out, url]);
    expect(sha256(readFileSync(out))).toBe(sha256(data));
    const head = await curl(['-I', url]);
    expect(head.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(head.stdout).toMatch(new RegExp(`content-length: ${SIZE}\\r`, 'i'));
    expect(head.stdout).toMatch(/accept-ranges: bytes/i);
    expect(head.stdout).toMatch(/etag: "[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"/i);
    expect(head.stdout).toMatch(/last-modified: \w{3}, /i);
  });

  it('Range resume: half downloaded, then `curl -C -` yields the right sha256', async () => {
    const out = join(dirs.dir, 'resumed.bin');
    const half = SIZE / 2;
    await curl(['-r', `0-${half - 1}`, '-o', out, url]);
    expect(statSync(out).size).toBe(half);
    const resumed = await curl(['-C', '-', '-o', out, '-w', '%{http_code}', url]);
    expect(resumed.stdout).toBe('206');
    expect(sha256(readFileSync(out))).toBe(sha256(data));
  });

  it('Range resume after a killed transfer: curl stalled mid-body, SIGKILLed, then `curl -C -`', async () => {
    const out = join(dirs.dir, 'killed.bin');
    // curl writes the body to a pipe nobody drains after the first chunk, so it stalls mid-transfer
    // (no reliance on curl's bursty --limit-rate); what it had delivered is the partial file.
    const child = spawn('curl', ['-sS', '--max-time', '30', url], { stdio: ['ignore', 'pipe', 'ignore'] });
    const got: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.stdout.once('data', (c: Buffer) => {
        got.push(c);
        child.stdout.pause();
        resolve();
      });
    });
    await new Promise((r) => setTimeout(r, 200));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    writeFileSync(out, Buffer.concat(got));
    const partial = statSync(out).size;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(SIZE);
    const resumed = await curl(['-C', '-', '-o', out, '-w', '%{http_code}', url]);
    expect(resumed.stdout).toBe('206');
    expect(sha256(readFileSync(out))).toBe(sha256(data));
  });

  it('single ranges: first byte, middle, open-ended, suffix; multi-range falls back to a full 200', async () => {
    for (const [spec, start, end] of [
      ['0-0', 0, 0],
      ['1000-1999', 1000, 1999],
      [`${SIZE - 4096}-`, SIZE - 4096, SIZE - 1],
      ['-4096', SIZE - 4096, SIZE - 1],
      [`100-${SIZE * 2}`, 100, SIZE - 1],
    ] as const) {
      const out = join(dirs.dir, 'r.bin');
      const r = await curl(['-r', spec, '-o', out, '-D', '-', url]);
      expect(r.stdout, spec).toMatch(/^HTTP\/1\.1 206/);
      expect(r.stdout, spec).toContain(`Content-Range: bytes ${start}-${end}/${SIZE}`);
      expect(sha256(readFileSync(out)), spec).toBe(sha256(data.subarray(start, end + 1)));
    }
    const multi = await curl(['-r', '0-9,20-29', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', url]);
    expect(multi.stdout).toBe(`200 ${SIZE}`);
  });

  it('416 for an unsatisfiable range, with Content-Range: bytes */size', async () => {
    const r = await curl(['-r', `${SIZE}-`, '-D', '-', '-o', '/dev/null', url]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 416/);
    expect(r.stdout).toContain(`Content-Range: bytes */${SIZE}`);
  });

  it('ETag / Last-Modified revalidation: 304 on If-None-Match and If-Modified-Since; If-Range picks 206 or 200', async () => {
    const head = await curl(['-I', url]);
    const etag = /etag: (\S+)\r/i.exec(head.stdout)![1]!;
    const lastModified = /last-modified: ([^\r]+)\r/i.exec(head.stdout)![1]!;
    const code = async (...args: string[]): Promise<string> => (await curl([...args, '-o', '/dev/null', '-w', '%{http_code} %{size_download}', url])).stdout;
    expect(await code('-H', `If-None-Match: ${etag}`)).toBe('304 0');
    expect(await code('-H', `If-None-Match: "other", ${etag}`)).toBe('304 0');
    expect(await code('-H', 'If-None-Match: "stale"')).toBe(`200 ${SIZE}`);
    expect(await code('-H', `If-Modified-Since: ${lastModified}`)).toBe('304 0');
    expect(await code('-H', 'If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT')).toBe(`200 ${SIZE}`);
    expect(await code('-r', '0-99', '-H', `If-Range: ${etag}`)).toBe('206 100');
    expect(await code('-r', '0-99', '-H', 'If-Range: "stale"')).toBe(`200 ${SIZE}`);
    expect(await code('-r', '0-99', '-H', `If-Range: ${lastModified}`)).toBe('206 100');
  });

  it('a symlink inside the root, a percent-encoded space, and the configured iPXE program linking out are served', async () => {
    const alias = await curl(['-o', '/dev/null', '-w', '%{http_code} %{size_download}', `${http.base}/ipxe/alias.bin`]);
    expect(alias.stdout).toBe(`200 ${SIZE}`);
    const spaced = await curl([`${http.base}/ipxe/sub/a%20b.txt`]);
    expect(spaced.stdout).toBe('spaced');
    // The configured UEFI program (config.ipxe.uefiX64File) may be a symlink out of the directory.
    const efi = await curl(['-D', '-', `${http.base}/ipxe/ipxe.efi`]);
    expect(efi.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(efi.stdout).toContain('Content-Type: application/efi');
    expect(efi.stdout.endsWith('EFI-PROGRAM')).toBe(true);
  });

  const TRAVERSALS: Array<[string, string]> = [
    ['../ (raw)', '/ipxe/../../../../etc/passwd'],
    ['../ to a sibling', '/ipxe/../outside/secret.txt'],
    ['..%2f', '/ipxe/..%2f..%2foutside%2fsecret.txt'],
    ['%2e%2e/', '/ipxe/%2e%2e/outside/secret.txt'],
    ['%2e%2e%2f', '/ipxe/%2e%2e%2f%2e%2e%2fetc%2fpasswd'],
    ['double-encoded %252e%252e', '/ipxe/%252e%252e/outside/secret.txt'],
    ['absolute (//)', '/ipxe//etc/passwd'],
    ['absolute (%2f)', '/ipxe/%2fetc%2fpasswd'],
    ['NUL (%00)', '/ipxe/big.bin%00.txt'],
    ['backslash raw', '/ipxe/..\\outside\\secret.txt'],
    ['backslash %5c', '/ipxe/..%5coutside%5csecret.txt'],
    ['malformed percent', '/ipxe/%E0%A4%A.txt'],
    ['hidden file', '/ipxe/.hidden'],
    ['symlink to a file outside', '/ipxe/escape.txt'],
    ['symlink to a dir outside', '/ipxe/escape-dir/secret.txt'],
  ];
  for (const [name, path] of TRAVERSALS) {
    it(`traversal refused: ${name}`, async () => {
      const r = await curl(['--path-as-is', '-g', '-w', '\n%{http_code}', `${http.base}${path}`]);
      const status = Number(r.stdout.slice(r.stdout.lastIndexOf('\n') + 1));
      expect(r.stdout).not.toContain(secret);
      expect(r.stdout).not.toContain('root:x:0:0');
      expect([400, 403, 404]).toContain(status);
      if (status !== 400) expect(r.stdout).toMatch(/"code":"(PATH_REFUSED|FILE_NOT_FOUND|ROUTE_NOT_FOUND)"/);
    });
  }

  it('garbage on the socket is answered 400 (or dropped) and the server keeps serving', async () => {
    const send = (bytes: Buffer): Promise<string> =>
      new Promise((resolve) => {
        const chunks: Buffer[] = [];
        const s = connect(http.port, '127.0.0.1', () => s.end(bytes));
        const timer = setTimeout(() => s.destroy(), 2000);
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('error', () => undefined);
        s.on('close', () => {
          clearTimeout(timer);
          resolve(Buffer.concat(chunks).toString('latin1'));
        });
      });
    expect(await send(Buffer.from('GARBAGE\r\n\r\n'))).toMatch(/^HTTP\/1\.1 400/);
    expect(await send(Buffer.from('GET /ipxe/big.bin HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n'))).toMatch(/^HTTP\/1\.1 400/);
    expect(await send(Buffer.from(`GET /${'a'.repeat(70_000)} HTTP/1.1\r\n\r\n`))).toMatch(/^HTTP\/1\.1 (400|431)/);
    for (let i = 0; i < 50; i++) await send(randomBytes(1 + (i * 37) % 600));
    const after = await curl(['-o', '/dev/null', '-w', '%{http_code}', `${http.base}/ipxe/undionly.kpxe`]);
    expect(after.stdout).toBe('200');
    const metrics = await http.metrics.metrics();
    expect(metrics).toMatch(/bootrack_http_requests_total\{route="bad_request",method="\?",status="400"\} \d+/);
  });

  it('only GET and HEAD', async () => {
    const r = await curl(['-X', 'DELETE', '-o', '/dev/null', '-w', '%{http_code}', url]);
    expect(r.stdout).toBe('405');
  });
});
