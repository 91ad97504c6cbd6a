import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import { BootrackError, ERROR_CATALOG, isBootrackError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Metrics } from '../../common/metrics.js';
import type { Running, Service } from '../../common/service.js';
import { httpMetrics } from './metrics.js';
import type { HttpHandler, HttpRoute } from './types.js';

export interface BootHttpOptions {
  address: string;
  port: number;
  logger: Logger;
  metrics?: Metrics;
  /** Policy, mounted by prefix in this order (netboot scripts, iPXE programs, discovery images). */
  routes: readonly HttpRoute[];
  /**
   * One extra handler from the composition root (the API's agent router), mounted at `/` after the
   * routes and before the 404. Anything Connect/Express-compatible; servers/ knows nothing about it.
   */
  extra?: HttpHandler;
  /** How long in-flight downloads may finish after stop before their sockets are cut. Default 2 s. */
  drainMs?: number;
}

/**
 * The plain-HTTP boot side: firmware and iPXE fetch scripts, kernels and initrds here, and the
 * discovery OS reaches the agent API here (it has no TLS trust store).
 *
 * Built on Express 5 because the composition root mounts the API's agent Router on this port, and a
 * Router needs Express's request/response prototypes (res.json, req.body parsers). Express adds a few
 * microseconds per request; the bytes of big files never go through it (the static handler writes
 * to the socket itself), so it does not cost throughput.
 */
export function createBootHttpService(options: BootHttpOptions): Service {
  const logger = options.logger.child({ part: 'http' });
  const metrics = httpMetrics(options.metrics);
  return {
    name: 'http',
    async start(signal: AbortSignal): Promise<Running> {
      const app = express();
      app.disable('x-powered-by');
      app.set('etag', false);
      for (const route of options.routes) {
        app.use(route.prefix, labelled(route.name, route.handler));
      }
      if (options.extra) app.use(labelled('extra', options.extra));
      app.use((req: Request, _res: Response, next: NextFunction) => {
        next(new BootrackError('ROUTE_NOT_FOUND', `no route for ${req.method} ${req.path}`, { method: req.method, path: req.path.slice(0, 200) }));
      });
      app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
        renderError(err, req, res, logger);
      });

      const server = createServer({ keepAliveTimeout: 5000, headersTimeout: 30_000, requestTimeout: 60_000 }, (req, res) => {
        const t0 = performance.now();
        // Bytes this response put on the socket (headers included); keep-alive requests are sequential.
        const written0 = req.socket.bytesWritten;
        res.once('close', () => {
          metrics.observe(routeOf(res), req.method ?? '?', res.statusCode, req.socket.bytesWritten - written0, (performance.now() - t0) / 1000);
        });
        app(req, res);
      });
      // A malformed request is answered (or dropped) here and never reaches the app or throws.
      server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
        logger.warn({ code: err.code, remote: socket.remoteAddress }, 'bad HTTP request; connection closed');
        metrics.observe('bad_request', '?', 400, 0, 0);
        if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        else socket.destroy();
      });
      await listen(server, options.address, options.port);
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : options.port;

      const done = new Promise<void>((resolve, reject) => {
        let stopping = false;
        const onError = (err: Error): void => {
          logger.error({ err }, 'boot HTTP server failed');
          reject(err);
        };
        server.on('error', onError);
        const stop = (): void => {
          if (stopping) return;
          stopping = true;
          server.close(() => resolve());
          server.closeIdleConnections();
          const cut = setTimeout(() => server.closeAllConnections(), options.drainMs ?? 2000);
          cut.unref();
        };
        if (signal.aborted) stop();
        else signal.addEventListener('abort', stop, { once: true });
      });
      return { done, describe: { address: options.address, port } };
    },
  };
}

const ROUTE = Symbol('bootrack.http.route');
type Labelled = ServerResponse & { [ROUTE]?: string };

function labelled(name: string, handler: HttpHandler): HttpHandler {
  return (req, res, next) => {
    (res as Labelled)[ROUTE] = name;
    handler(req, res, (err?: unknown) => {
      if (err === undefined) delete (res as Labelled)[ROUTE];
      next(err);
    });
  };
}

function routeOf(res: ServerResponse): string {
  return (res as Labelled)[ROUTE] ?? 'none';
}

function renderError(err: unknown, req: IncomingMessage, res: ServerResponse, logger: Logger): void {
  const known = isBootrackError(err) ? err : null;
  // body-parser style errors carry a status (400/413) and `expose`.
  const status = known?.httpStatus ?? statusOf(err) ?? 500;
  const body = known
    ? known.toJSON()
    : status === 413
      ? { code: 'BODY_TOO_LARGE', message: ERROR_CATALOG.BODY_TOO_LARGE.summary, details: {} }
      : status < 500
        ? { code: 'VALIDATION_FAILED', message: ERROR_CATALOG.VALIDATION_FAILED.summary, details: {} }
        : { code: 'INTERNAL', message: ERROR_CATALOG.INTERNAL.summary, details: {} };
  if (!known && status >= 500) logger.error({ err, method: req.method, url: req.url?.slice(0, 200) }, 'boot HTTP request failed');
  else if (status >= 500) logger.warn({ code: body.code, method: req.method, url: req.url?.slice(0, 200), remote: req.socket.remoteAddress }, body.message);
  else logger.info({ code: body.code, method: req.method, url: req.url?.slice(0, 200), remote: req.socket.remoteAddress }, body.message);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : text);
}

function statusOf(err: unknown): number | null {
  if (typeof err === 'object' && err !== null && 'status' in err) {
    const status = (err as { status: unknown }).status;
    if (typeof status === 'number' && status >= 400 && status < 600) return status;
  }
  return null;
}

function listen(server: Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ host: address, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
