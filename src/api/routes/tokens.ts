import { BootrackError } from '../../common/errors.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { tokenCreate, tokenCreated, tokenList, tokenRecord } from '../schemas.js';

/** /tokens: admin only. The plaintext token appears once, in the 201 answer; never in events or logs. */
export function tokenRoutes(deps: ApiDeps): AnyRoute[] {
  const { registry } = deps;
  return [
    defineRoute({
      id: 'tokens.create',
      method: 'post',
      path: '/tokens',
      summary: 'Create a token (shown exactly once)',
      roles: ['admin'],
      body: tokenCreate,
      response: { status: 201, schema: tokenCreated, description: 'the token and its record' },
      handler: ({ body }) => {
        if (body.role === 'agent' && body.machine === undefined) {
          throw new BootrackError('VALIDATION_FAILED', 'an agent token needs a machine', { in: 'body', issues: [{ path: 'machine', message: 'required for role agent' }] });
        }
        if (body.role !== 'agent' && body.machine !== undefined) {
          throw new BootrackError('VALIDATION_FAILED', 'only agent tokens name a machine', { in: 'body', issues: [{ path: 'machine', message: 'only for role agent' }] });
        }
        if (body.role !== 'driver' && body.owner !== undefined) {
          throw new BootrackError('VALIDATION_FAILED', 'only driver tokens carry an owner', { in: 'body', issues: [{ path: 'owner', message: 'only for role driver' }] });
        }
        const machineId = body.machine === undefined ? null : registry.machines.get(body.machine).id;
        const created = registry.tokens.create({
          name: body.name,
          role: body.role,
          owner: body.role === 'driver' ? (body.owner ?? body.name) : null,
          machineId,
          expiresAt: body.expiresInSeconds === undefined ? null : new Date(deps.clock.now().getTime() + body.expiresInSeconds * 1000),
        });
        return { status: 201, body: created, audit: { machineId, data: { tokenId: created.record.id, name: body.name, role: body.role } } };
      },
    }),
    defineRoute({
      id: 'tokens.list',
      method: 'get',
      path: '/tokens',
      summary: 'Token records (never the tokens)',
      roles: ['admin'],
      response: { status: 200, schema: tokenList, description: 'records' },
      handler: () => ({ body: { items: registry.tokens.list() } }),
    }),
    defineRoute({
      id: 'tokens.revoke',
      method: 'delete',
      path: '/tokens/:id',
      summary: 'Revoke a token',
      roles: ['admin'],
      response: { status: 200, schema: tokenRecord, description: 'the revoked record' },
      handler: ({ params }) => {
        const record = registry.tokens.revoke(params.id!);
        return { body: record, audit: { machineId: record.machineId, data: { tokenId: record.id, name: record.name } } };
      },
    }),
  ];
}
