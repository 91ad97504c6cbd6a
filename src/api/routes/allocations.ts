import { BootrackError } from '../../common/errors.js';
import { machineFor } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { allocationRequest, allocationResult, machineView as machineViewSchema } from '../schemas.js';
import { machineView } from '../views.js';

/** /allocations: atomic allocate with constraints (idempotent per owner + requestKey) and release. */
export function allocationRoutes(deps: ApiDeps): AnyRoute[] {
  const { registry } = deps;
  return [
    defineRoute({
      id: 'allocations.create',
      method: 'post',
      path: '/allocations',
      summary: 'Allocate one ready machine matching the constraints (201 new, 200 same requestKey again)',
      roles: ['admin', 'driver'],
      body: allocationRequest,
      response: { status: 201, schema: allocationResult, description: 'the allocated machine; 200 with created=false for a repeated requestKey' },
      handler: ({ body, principal }) => {
        if (principal.role === 'driver' && body.owner !== undefined && body.owner !== principal.owner) {
          throw new BootrackError('FORBIDDEN', 'a driver token allocates under its own owner; owner is for admin tokens', { field: 'owner' });
        }
        const owner = principal.role === 'driver' ? principal.owner! : (body.owner ?? principal.actor);
        const { machine, created } = registry.allocations.allocate({ constraints: body.constraints, owner, requestKey: body.requestKey }, { actor: principal.actor });
        return { status: created ? 201 : 200, body: { machine: machineView(registry, machine), created }, audit: { machineId: machine.id, data: { owner, created } } };
      },
    }),
    defineRoute({
      id: 'allocations.release',
      method: 'delete',
      path: '/allocations/:ref',
      summary: 'Release a machine (drivers: only their own)',
      roles: ['admin', 'driver'],
      response: { status: 200, schema: machineViewSchema, description: 'the machine, ready again' },
      handler: ({ params, principal }) => {
        const target = machineFor(principal, params.ref!, deps);
        const m = registry.allocations.release(target.id, principal.role === 'driver' ? principal.owner : null, { actor: principal.actor, reason: 'released' });
        return { body: machineView(registry, m), audit: { machineId: m.id, data: { previousOwner: target.owner } } };
      },
    }),
  ];
}
