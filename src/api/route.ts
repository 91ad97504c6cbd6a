import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import type { z } from 'zod';
import { BootrackError } from '../common/errors.js';
import { fromZodError } from './errors.js';
import { authenticate, type Principal, type Role } from './auth.js';
import type { ApiDeps } from './deps.js';

/**
 * A route is a value: method, path, who may call it, the zod schemas of its body and query, its
 * response schema and its handler. Routers mount these values and the OpenAPI document is generated
 * from the same values, so every route is documented with the schemas that actually validate it.
 */
export type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface RouteContext<B, Q> {
  body: B;
  query: Q;
  params: Record<string, string>;
  /** The verified caller (public routes never read it). */
  principal: Principal;
}

export interface RouteResult {
  status?: number;
  body: unknown;
  /** What the audit row of a mutating request refers to. */
  audit?: { machineId?: string | null; mac?: string | null; data?: Record<string, unknown> };
}

export interface RouteSpec<B extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType> {
  /** Stable operation id; also the audit event type (`api.<id>`). */
  id: string;
  method: Method;
  /** Express syntax, relative to /api/v1: '/machines/:ref'. */
  path: string;
  summary: string;
  roles: readonly Role[] | 'public';
  body?: B;
  query?: Q;
  response: { status: number; schema?: z.ZodType; description: string };
  handler(ctx: RouteContext<z.output<B>, z.output<Q>>): RouteResult | Promise<RouteResult>;
}

export type AnyRoute = RouteSpec<z.ZodType, z.ZodType>;

/** Keeps the handler's body/query types tied to the schemas. */
export function defineRoute<B extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType>(spec: RouteSpec<B, Q>): AnyRoute {
  return spec as unknown as AnyRoute;
}

/** One router per resource: mounts each route with auth first, then the body parser, then validation. */
export function routerFor(routes: readonly AnyRoute[], deps: ApiDeps): Router {
  const router = express.Router();
  const json = express.json({ limit: deps.maxBodyBytes, strict: true, type: () => true });
  for (const route of routes) {
    const chain: RequestHandler[] = [authStep(route, deps)];
    if (route.method !== 'get' && route.method !== 'delete') chain.push(bodyStep(json));
    chain.push(handlerStep(route, deps));
    router[route.method](route.path, ...chain);
  }
  return router;
}

function authStep(route: AnyRoute, deps: ApiDeps): RequestHandler {
  return (req, res, next) => {
    res.locals.routeId = route.id;
    if (route.roles === 'public') return next();
    const principal = authenticate(req.headers.authorization, deps);
    if (principal === null) {
      // Logged (never the header itself): a refused agent check-in must be visible on the boot port too.
      deps.logger.warn({ route: route.id, remote: req.socket.remoteAddress ?? null, scheme: req.headers.authorization?.split(' ')[0] ?? null }, 'bearer token refused');
      throw new BootrackError('UNAUTHENTICATED', 'a valid bearer token is required');
    }
    if (!route.roles.includes(principal.role)) {
      deps.logger.warn({ route: route.id, actor: principal.actor, role: principal.role }, 'token role refused');
      throw new BootrackError('FORBIDDEN', `a ${principal.role} token may not call ${route.method.toUpperCase()} ${route.path}`, { role: principal.role });
    }
    res.locals.principal = principal;
    next();
  };
}

/** A body is read only after the token checked out; empty bodies count as {}. */
function bodyStep(json: RequestHandler): RequestHandler {
  return (req, res, next) => {
    const length = req.headers['content-length'];
    const chunked = req.headers['transfer-encoding'] !== undefined;
    if (!chunked && (length === undefined || length === '0')) {
      req.body = {};
      return next();
    }
    json(req, res, next);
  };
}

function handlerStep(route: AnyRoute, deps: ApiDeps): RequestHandler {
  return async (req: Request, res: Response) => {
    const body = route.body ? parse(route.body, req.body ?? {}, 'body') : undefined;
    const query = route.query ? parse(route.query, { ...(req.query as Record<string, unknown>) }, 'query') : undefined;
    const principal = res.locals.principal as Principal;
    const params: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.params)) if (typeof v === 'string') params[k] = v;
    const result = await route.handler({ body, query, params, principal });
    const status = result.status ?? route.response.status;
    if (route.method !== 'get' && principal) {
      deps.registry.events.append({
        kind: 'audit',
        type: `api.${route.id}`,
        actor: principal.actor,
        machineId: result.audit?.machineId ?? null,
        mac: result.audit?.mac ?? null,
        data: { method: route.method.toUpperCase(), route: route.path, status, ...result.audit?.data },
      });
    }
    if (result.body === undefined) res.status(status).end();
    else res.status(status).json(result.body);
  };
}

function parse<S extends z.ZodType>(schema: S, input: unknown, where: 'body' | 'query'): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw fromZodError(result.error, where);
  return result.data;
}
