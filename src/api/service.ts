import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Config } from '../config/schema.js';
import type { Running, Service } from '../common/service.js';
import { createApp } from './app.js';
import type { ApiOptions } from './deps.js';
import { loadOrCreateTls } from './tls.js';

export interface ApiServiceOptions extends ApiOptions {
  config: Pick<Config, 'api' | 'advertiseAddress' | 'discovery'>;
}

/**
 * The API listener: HTTPS on config.api.port by default (configured or self-signed pair), plain HTTP
 * only with api.tls=false. start() resolves once listening; done settles after abort and close.
 */
export function apiService(options: ApiServiceOptions): Service {
  const { config } = options;
  const logger = options.logger.child({ part: 'api' });
  return {
    name: 'api',
    async start(signal: AbortSignal): Promise<Running> {
      const app = createApp({ ...options, logger, autoAccept: options.autoAccept ?? config.discovery.autoAccept, maxBodyBytes: options.maxBodyBytes ?? config.api.maxBodyBytes });
      let server: Server;
      if (config.api.tls) {
        const hostnames = [...new Set([config.advertiseAddress, '127.0.0.1', 'localhost', ...(config.api.address !== '0.0.0.0' ? [config.api.address] : [])])];
        const pair = await loadOrCreateTls({ certPath: config.api.certPath, keyPath: config.api.keyPath, hostnames, logger });
        server = createHttpsServer({ cert: pair.cert, key: pair.key, headersTimeout: 30_000, requestTimeout: 60_000, keepAliveTimeout: 5000 }, app);
      } else {
        server = createHttpServer({ headersTimeout: 30_000, requestTimeout: 60_000, keepAliveTimeout: 5000 }, app);
      }
      const sockets = new Set<Socket>();
      server.on('connection', (s: Socket) => {
        sockets.add(s);
        s.once('close', () => sockets.delete(s));
      });
      server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
        logger.debug({ code: err.code }, 'bad API connection closed');
        socket.destroy();
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.api.port, config.api.address, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.api.port;
      const done = new Promise<void>((resolve, reject) => {
        server.on('error', (err) => {
          logger.error({ err }, 'API listener failed');
          reject(err);
        });
        const stop = (): void => {
          server.close(() => resolve());
          // Idle keep-alive sockets would hold close() open; in-flight requests get a short grace.
          server.closeIdleConnections();
          setTimeout(() => {
            for (const s of sockets) s.destroy();
          }, 2000).unref();
        };
        if (signal.aborted) stop();
        else signal.addEventListener('abort', stop, { once: true });
      });
      return { done, describe: { url: `${config.api.tls ? 'https' : 'http'}://${config.api.address}:${port}`, tls: config.api.tls, port } };
    },
  };
}
