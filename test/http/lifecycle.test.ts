import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { memoryLogger } from '../../src/common/logger.js';
import { createBootHttpService, createStaticHandler } from '../../src/servers/http/index.js';
import { freePort, tempDir } from '../helpers/http-fixtures.js';

describe('boot HTTP service lifecycle', () => {
  it('stop while a slow client is mid-download: done settles once the drain window cuts the socket', async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir.dir, 'big.bin'), randomBytes(16 * 1024 * 1024));
      const port = await freePort();
      const logger = memoryLogger();
      const service = createBootHttpService({ address: '127.0.0.1', port, logger, drainMs: 300, routes: [{ name: 'files', prefix: '/', handler: createStaticHandler({ root: dir.dir, logger }) }] });
      const controller = new AbortController();
      const running = await service.start(controller.signal);
      expect(running.describe).toEqual({ address: '127.0.0.1', port });
      // A client that asks for 16 MiB and never reads: the server is stuck on backpressure.
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      socket.pause();
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((r) => setTimeout(r, 200));
      controller.abort();
      const settled = await Promise.race([running.done.then(() => 'done'), new Promise((r) => setTimeout(() => r('hung'), 5000))]);
      expect(settled).toBe('done');
      socket.destroy();
      // The port is free again.
      await new Promise<void>((resolve, reject) => {
        const probe = createServer().once('error', reject).listen(port, '127.0.0.1', () => probe.close(() => resolve()));
      });
    } finally {
      dir.cleanup();
    }
  });

  it('start rejects when the port is taken (the daemon reports it, nothing is left listening)', async () => {
    const port = await freePort();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', () => resolve()));
    try {
      const service = createBootHttpService({ address: '127.0.0.1', port, logger: memoryLogger(), routes: [] });
      await expect(service.start(new AbortController().signal)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});
