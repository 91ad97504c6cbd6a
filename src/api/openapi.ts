import { OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ERROR_CATALOG } from '../common/errors.js';
import type { AnyRoute } from './route.js';
import { errorBody } from './schemas.js';

/** Express '/machines/:ref' → OpenAPI '/machines/{ref}'. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/**
 * The OpenAPI 3.0 document, generated from the same route values and zod schemas that validate
 * requests. Error answers all share the Error schema; their codes are listed in the description.
 */
export function openApiDocument(routes: readonly AnyRoute[], info: { version: string }): object {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer', description: 'API token (brk_…)' });
  for (const route of routes) {
    const path = openApiPath(route.path);
    const paramNames = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
    const params = paramNames.length ? z.object(Object.fromEntries(paramNames.map((n) => [n, z.string()]))) : undefined;
    const errors = route.roles === 'public' ? ['INTERNAL'] : ['VALIDATION_FAILED', 'UNAUTHENTICATED', 'FORBIDDEN', 'MACHINE_NOT_FOUND', 'INTERNAL'];
    registry.registerPath({
      method: route.method,
      path: `/api/v1${path}`,
      operationId: route.id,
      summary: route.summary,
      tags: [route.id.split('.')[0]!],
      security: route.roles === 'public' ? [] : [{ [bearer.name]: [] }],
      description: route.roles === 'public' ? 'No authentication.' : `Roles: ${route.roles.join(', ')}.`,
      request: {
        ...(params ? { params } : {}),
        ...(route.query ? { query: route.query as z.ZodObject } : {}),
        ...(route.body ? { body: { required: true, content: { 'application/json': { schema: route.body } } } } : {}),
      },
      responses: {
        [route.response.status]: route.response.schema
          ? { description: route.response.description, content: { 'application/json': { schema: route.response.schema } } }
          : { description: route.response.description },
        default: {
          description: `An error {code, message, details}; codes include ${errors.join(', ')} (catalog: ${Object.keys(ERROR_CATALOG).length} codes)`,
          content: { 'application/json': { schema: errorBody } },
        },
      },
    });
  }
  return new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: { title: 'bootrack API', version: info.version, description: 'Bare-metal inventory, allocation, deploy and power. Bearer tokens; errors carry stable codes.' },
    servers: [{ url: '/' }],
  });
}
