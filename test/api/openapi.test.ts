import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiPath } from '../../src/api/openapi.js';
import { startApi, type ApiHarness } from '../helpers/api-server.js';
import { allRoutes } from '../helpers/api-sweep.js';

interface Doc {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, { operationId: string; parameters?: Array<{ name: string; in: string; required?: boolean }>; requestBody?: unknown; responses: Record<string, unknown>; security?: unknown[] }>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

/** Every "$ref" string anywhere in the document. */
function refs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refs(n, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

describe('GET /api/v1/openapi.json', () => {
  let h: ApiHarness;
  let doc: Doc;
  beforeAll(async () => {
    h = await startApi();
    const r = await h.call('GET', '/api/v1/openapi.json', { token: null });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('application/json');
    doc = JSON.parse(r.text) as Doc;
  });
  afterAll(async () => h.close());

  it('is an OpenAPI 3.0 document', () => {
    expect(doc.openapi).toMatch(/^3\.0\.\d$/);
    expect(doc.info.title).toBe('bootrack API');
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('documents every mounted route, with its path parameters, body and success status', () => {
    const routes = allRoutes(h.registry);
    expect(routes.length).toBeGreaterThanOrEqual(25);
    for (const route of routes) {
      const op = doc.paths[`/api/v1${openApiPath(route.path)}`]?.[route.method];
      expect(op, `${route.method} ${route.path}`).toBeDefined();
      expect(op!.operationId).toBe(route.id);
      expect(Object.keys(op!.responses)).toContain(String(route.response.status));
      expect(Object.keys(op!.responses)).toContain('default');
      for (const [, name] of route.path.matchAll(/:([a-z]+)/g)) {
        expect(op!.parameters?.some((p) => p.in === 'path' && p.name === name && p.required === true), `${route.id} param ${name}`).toBe(true);
      }
      expect(op!.requestBody !== undefined, `${route.id} body`).toBe(route.body !== undefined);
    }
    for (const path of ['/api/v1/healthz', '/api/v1/openapi.json']) expect(doc.paths[path]?.get).toBeDefined();
  });

  it('names the shared schemas and every $ref resolves', () => {
    for (const name of ['MachineView', 'Error', 'Facts', 'AllocationRequest', 'Constraints', 'DeployRequest', 'TokenCreated', 'Timeline']) {
      expect(doc.components.schemas[name], name).toBeDefined();
    }
    const all = refs(doc);
    expect(all.length).toBeGreaterThan(20);
    for (const ref of all) {
      const [, section, name] = /^#\/components\/(schemas|securitySchemes|parameters)\/(.+)$/.exec(ref) ?? [];
      expect(section, ref).toBeDefined();
      expect((doc.components as unknown as Record<string, Record<string, unknown>>)[section!]?.[name!], ref).toBeDefined();
    }
  });

  it('the strict request schemas say so (additionalProperties: false)', () => {
    expect(doc.components.schemas.MachineCreate).toMatchObject({ additionalProperties: false });
    expect(doc.components.schemas.Facts).toMatchObject({ additionalProperties: false });
  });

  it('operation ids are unique', () => {
    const ids = Object.values(doc.paths).flatMap((ops) => Object.values(ops).map((o) => o.operationId));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
