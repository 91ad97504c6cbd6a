import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchWith, requireTools, sha256File } from '../helpers/tftp-clients.js';
import { tftpRoot, type TftpRoot } from '../helpers/tftp-fixtures.js';
import { addUdpLoss, createPair, droppedPackets, startDaemon, type Daemon, type NsPair } from '../helpers/tftp-netns.js';

// 5 % of UDP dropped on the receiving side (nftables numgen random on the namespace's input hook;
// this kernel has no netem), 20 concurrent 1 MB downloads.
//
// atftp 0.8 cannot survive lost ACKs whatever the server does: it aborts on a resent OACK ("unexpected
// OACK") and answers only the first duplicate DATA ("got wrong block, ignoring"), so a twice-lost ACK
// deadlocks it. The atftp storm therefore drops server→client packets (as ../shared/bench does);
// tftp-hpa's client re-ACKs duplicates, so its storm runs with loss in both directions.
let pair: NsPair;
let root: TftpRoot;
let daemon: Daemon | undefined;
let out: string;

beforeAll(async () => {
  requireTools('ip', 'nft', 'atftp');
  root = tftpRoot({ f1m: 1 << 20 });
  out = mkdtempSync(join(tmpdir(), 'bootrack-loss-out-'));
  pair = createPair('ls', 41);
  daemon = await startDaemon(pair.server, ['--root', root.dir, '--addr', pair.serverIp, '--port', '69']);
  addUdpLoss(pair.client, 5); // DATA and OACK lost on the way to the clients
});

afterAll(async () => {
  await daemon?.stop();
  pair?.cleanup();
  root?.cleanup();
  if (out) rmSync(out, { recursive: true, force: true });
});

async function storm(client: 'atftp' | 'tftp-hpa', tag: string): Promise<void> {
  const files = Array.from({ length: 20 }, (_, i) => join(out, `${tag}${i}`));
  const results = await Promise.all(
    files.map((file) => fetchWith(client, { netns: pair.client, host: pair.serverIp, port: 69, name: 'f1m', out: file, blksize: 1468, timeoutMs: 150_000 })),
  );
  results.forEach((r, i) => expect(r.code, `${client} transfer ${i}: ${r.stderr}`).toBe(0));
  for (const f of files) expect(await sha256File(f), f).toBe(root.sha.f1m);
}

describe('TFTP under 5 % loss', () => {
  it('completes 20 concurrent 1 MB atftp transfers intact (5 % of server→client dropped)', async () => {
    const before = droppedPackets(pair.client);
    await storm('atftp', 'a');
    expect(droppedPackets(pair.client) - before).toBeGreaterThan(200); // ~5 % of 20 × 715 DATA
    expect(daemon!.alive()).toBe(true);
  }, 200_000);

  it('completes 20 concurrent 1 MB tftp-hpa transfers intact (5 % dropped in both directions)', async () => {
    addUdpLoss(pair.server, 5); // RRQs and ACKs lost on the way to the server too
    const c0 = droppedPackets(pair.client);
    const s0 = droppedPackets(pair.server);
    await storm('tftp-hpa', 'h');
    expect(droppedPackets(pair.client) - c0).toBeGreaterThan(500);
    expect(droppedPackets(pair.server) - s0).toBeGreaterThan(500);
    expect(daemon!.alive()).toBe(true);
  }, 200_000);
});
