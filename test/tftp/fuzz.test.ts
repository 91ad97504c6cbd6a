import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchWith, requireTools, run, sha256File } from '../helpers/tftp-clients.js';
import { tftpRoot, type TftpRoot } from '../helpers/tftp-fixtures.js';
import { createLoopbackNs, deleteNs, REPO, startDaemon, type Daemon } from '../helpers/tftp-netns.js';

// 1e5 random and mutated datagrams to port 69 and to live transfer ports of bootrack's TFTP daemon
// (a separate process in namespace brktf-fz, so a crash is a dead process, not a test exception).
const NS = 'brktf-fz';
let root: TftpRoot;
let daemon: Daemon | undefined;
let out: string;

beforeAll(async () => {
  requireTools('ip', 'curl');
  root = tftpRoot({ f1m: 1 << 20, f8m: 8 << 20 });
  out = mkdtempSync(join(tmpdir(), 'bootrack-fuzz-out-'));
  createLoopbackNs(NS);
  daemon = await startDaemon(NS, ['--root', root.dir, '--addr', '127.0.0.1', '--port', '69', '--retries', '4']);
});

afterAll(async () => {
  await daemon?.stop();
  deleteNs(NS);
  root?.cleanup();
  if (out) rmSync(out, { recursive: true, force: true });
});

describe('TFTP fuzz', () => {
  it('survives 100 000 random and mutated datagrams, then still serves a real download', async () => {
    const r = await run('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', join(REPO, 'test', 'helpers', 'tftp-fuzz.ts'), '--host', '127.0.0.1', '--port', '69', '--count', '100000', '--file', 'f8m'], 180_000);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as { sent: number; toListen: number; toTransfers: number; fromPeers: number; liveTids: number[]; liveAcked: number[] };
    expect(report.sent).toBe(100_000);
    expect(report.toListen).toBeGreaterThanOrEqual(50_000);
    expect(report.toTransfers).toBeGreaterThanOrEqual(49_000);
    // The live transfers kept making progress while being fuzzed.
    for (const n of report.liveAcked) expect(n).toBeGreaterThan(10);
    expect(daemon!.alive()).toBe(true);
    expect(daemon!.stderr()).not.toMatch(/Uncaught|TypeError|RangeError|at .*\.ts:\d+/);
    const file = join(out, 'after');
    const dl = await fetchWith('curl', { netns: NS, host: '127.0.0.1', port: 69, name: 'f1m', out: file, blksize: 1468 });
    expect(dl.code, dl.stderr).toBe(0);
    expect(await sha256File(file)).toBe(root.sha.f1m);
    expect(daemon!.alive()).toBe(true);
  }, 240_000);
});
