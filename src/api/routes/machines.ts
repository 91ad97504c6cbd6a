import type { MachineFilter } from '../../registry/index.js';
import { machineFor } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { emptyBody, machineCreate, machineList, machinePatch, machineQuery, machineView as machineViewSchema } from '../schemas.js';
import { machineView } from '../views.js';

/** /machines: inventory. Drivers list and read only the machines they own; admins do everything. */
export function machineRoutes(deps: ApiDeps): AnyRoute[] {
  const { registry } = deps;
  return [
    defineRoute({
      id: 'machines.list',
      method: 'get',
      path: '/machines',
      summary: 'List machines (drivers see only their own)',
      roles: ['admin', 'driver'],
      query: machineQuery,
      response: { status: 200, schema: machineList, description: 'matching machines' },
      handler: ({ query, principal }) => {
        const filter: MachineFilter = { ...query };
        if (principal.role === 'driver') {
          if (query.owner !== undefined && query.owner !== principal.owner) return { body: { items: [] } };
          filter.owner = principal.owner ?? '\u0000';
        }
        const activeIps = registry.leases.activeIpsByMac();
        return { body: { items: registry.machines.list(filter).map((m) => machineView(registry, m, activeIps)) } };
      },
    }),
    defineRoute({
      id: 'machines.create',
      method: 'post',
      path: '/machines',
      summary: 'Enlist a machine by hand',
      roles: ['admin'],
      body: machineCreate,
      response: { status: 201, schema: machineViewSchema, description: 'the new machine' },
      handler: ({ body, principal }) => {
        const m = registry.machines.create({ ...body }, { actor: principal.actor });
        return { body: machineView(registry, m), audit: { machineId: m.id } };
      },
    }),
    defineRoute({
      id: 'machines.get',
      method: 'get',
      path: '/machines/:ref',
      summary: 'One machine by id, name or MAC',
      roles: ['admin', 'driver'],
      response: { status: 200, schema: machineViewSchema, description: 'the machine' },
      handler: ({ params, principal }) => ({ body: machineView(registry, machineFor(principal, params.ref!, deps)) }),
    }),
    defineRoute({
      id: 'machines.update',
      method: 'patch',
      path: '/machines/:ref',
      summary: 'Rename, set arch/firmware or replace tags',
      roles: ['admin'],
      body: machinePatch,
      response: { status: 200, schema: machineViewSchema, description: 'the machine after the change' },
      handler: ({ params, body, principal }) => {
        const m = registry.machines.update(params.ref!, body, { actor: principal.actor });
        return { body: machineView(registry, m), audit: { machineId: m.id, data: { fields: Object.keys(body) } } };
      },
    }),
    defineRoute({
      id: 'machines.delete',
      method: 'delete',
      path: '/machines/:ref',
      summary: 'Remove a machine and its interfaces',
      roles: ['admin'],
      response: { status: 204, description: 'removed' },
      handler: ({ params, principal }) => {
        const m = registry.machines.get(params.ref!);
        registry.machines.remove(m.id, { actor: principal.actor });
        return { body: undefined, audit: { machineId: m.id, data: { name: m.name } } };
      },
    }),
    defineRoute({
      id: 'machines.commission',
      method: 'post',
      path: '/machines/:ref/commission',
      summary: 'Commission: ready/new/broken/failed_commissioning → commissioning, and PXE-cycle when power is configured',
      roles: ['admin'],
      body: emptyBody,
      response: { status: 200, schema: machineViewSchema, description: 'the machine, now commissioning' },
      handler: async ({ params, principal }) => {
        const before = registry.machines.get(params.ref!);
        const m = registry.machines.transition(before.id, 'commissioning', { actor: principal.actor, reason: 'commission requested' }, { expectFrom: ['ready', 'new', 'broken', 'failed_commissioning'] });
        let power: string = 'not_configured';
        if (deps.power !== null && m.power.type !== null) {
          try {
            await deps.power.setNextBoot(m.id, 'pxe', false, principal.actor);
            await deps.power.act(m.id, 'cycle', principal.actor);
            power = 'cycled';
          } catch (err) {
            // The transition stands: the operator can power the box by hand; the failure is on record.
            power = 'failed';
            deps.logger.warn({ machine: m.id, err: (err as Error).message }, 'commission: power cycle failed');
          }
        }
        return { body: machineView(registry, registry.machines.get(m.id)), audit: { machineId: m.id, data: { power } } };
      },
    }),
  ];
}

