import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import { systemClock } from '../common/logger.js';
import type { Principal } from './auth.js';
import { withDefaults, type ApiDeps, type ApiOptions } from './deps.js';
import { errorMiddleware, notFound } from './errors.js';
import { apiMetrics } from './metrics.js';
import { openApiDocument } from './openapi.js';
import { defineRoute, routerFor, type AnyRoute } from './route.js';
import { agentRoutes } from './routes/agent.js';
import { allocationRoutes } from './routes/allocations.js';
import { deployRoutes } from './routes/deploy.js';
import { eventRoutes } from './routes/events.js';
import { interfaceRoutes } from './routes/interfaces.js';
import { leaseRoutes } from './routes/leases.js';
import { machineRoutes } from './routes/machines.js';
import { powerSettingsRoutes } from './routes/power-settings.js';
import { powerRoutes } from './routes/power.js';
import { tagRoutes } from './routes/tags.js';
import { tokenRoutes } from './routes/tokens.js';
import { health } from './schemas.js';

export const API_PREFIX = '/api/v1';

/** Every resource's routes, in mount order. The OpenAPI document is generated from this same list. */
export function resourceRoutes(deps: ApiDeps): Array<{ resource: string; routes: AnyRoute[] }> {
  return [
    { resource: 'machines', routes: machineRoutes(deps) },
    { resource: 'tags', routes: tagRoutes(deps) },
    { resource: 'interfaces', routes: interfaceRoutes(deps) },
    { resource: 'power-settings', routes: powerSettingsRoutes(deps) },
    { resource: 'allocations', routes: allocationRoutes(deps) },
    { resource: 'deploy', routes: deployRoutes(deps) },
    { resource: 'power', routes: powerRoutes(deps) },
    { resource: 'events', routes: eventRoutes(deps) },
    { resource: 'leases', routes: leaseRoutes(deps) },
    { resource: 'tokens', routes: tokenRoutes(deps) },
    { resource: 'agent', routes: agentRoutes(deps) },
  ];
}

function metaRoutes(deps: ApiDeps, all: () => AnyRoute[]): AnyRoute[] {
  let document: object | null = null;
  return [
    defineRoute({
      id: 'meta.healthz',
      method: 'get',
      path: '/healthz',
      summary: 'Liveness (no auth)',
      roles: 'public',
      response: { status: 200, schema: health, description: 'alive' },
      handler: () => ({ body: { status: 'ok', version: deps.version } }),
    }),
    defineRoute({
      id: 'meta.openapi',
      method: 'get',
      path: '/openapi.json',
      summary: 'This OpenAPI 3 document (no auth)',
      roles: 'public',
      response: { status: 200, description: 'the OpenAPI document' },
      handler: () => ({ body: (document ??= openApiDocument(all(), { version: deps.version })) }),
    }),
  ];
}

/**
 * The REST API as an Express app: /api/v1/* (bearer tokens), /metrics (Prometheus text, no auth:
 * counters only, no inventory or secrets; firewall the API port if that matters).
 */
export function createApp(options: ApiOptions): Express {
  const deps = withDefaults(options, { clock: systemClock });
  const resources = resourceRoutes(deps);
  const allRoutes = (): AnyRoute[] => [...meta, ...resources.flatMap((r) => r.routes)];
  const meta = metaRoutes(deps, allRoutes);

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(observe(deps));
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.contentType).send(await deps.metrics.metrics());
  });
  const v1 = express.Router();
  v1.use(routerFor(meta, deps));
  for (const { routes } of resources) v1.use(routerFor(routes, deps));
  app.use(API_PREFIX, v1);
  app.use((req: Request) => notFound(req));
  app.use(errorMiddleware(deps.logger));
  return app;
}

/**
 * The agent endpoints alone (POST /api/v1/agent/facts and /status), for the plain boot HTTP port:
 * the discovery OS has no trust store for the API's TLS. Mount it at '/'; it answers its own errors
 * as {code, message, details} and passes every other path on.
 */
export function createAgentRouter(options: ApiOptions): Router {
  const deps = withDefaults(options, { clock: systemClock });
  const outer = express.Router();
  outer.use(API_PREFIX, routerFor(agentRoutes(deps), deps));
  outer.use(errorMiddleware(deps.logger));
  return outer;
}

/** Counts and logs each request by route id (never the raw path, never the Authorization header). */
function observe(deps: ApiDeps) {
  const metrics = apiMetrics(deps.metrics);
  return (req: Request, res: Response, next: NextFunction): void => {
    const t0 = performance.now();
    res.once('finish', () => {
      const route = typeof res.locals.routeId === 'string' ? res.locals.routeId : req.path === '/metrics' ? 'metrics' : 'unmatched';
      const seconds = (performance.now() - t0) / 1000;
      metrics.observe(route, req.method, res.statusCode, seconds);
      const principal = res.locals.principal as Principal | undefined;
      const fields = { method: req.method, route, status: res.statusCode, actor: principal?.actor ?? null, ms: Math.round(seconds * 1000) };
      if (req.method === 'GET') deps.logger.debug(fields, 'api request');
      else deps.logger.info(fields, 'api request');
    });
    next();
  };
}
