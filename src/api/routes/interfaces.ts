import { parseMac } from '../../common/mac.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { interfaceAdd, machineView as machineViewSchema } from '../schemas.js';
import { machineView } from '../views.js';

/** /machines/:ref/interfaces: NICs. A MAC belongs to at most one machine. */
export function interfaceRoutes(deps: ApiDeps): AnyRoute[] {
  const { registry } = deps;
  return [
    defineRoute({
      id: 'interfaces.add',
      method: 'post',
      path: '/machines/:ref/interfaces',
      summary: 'Add a NIC',
      roles: ['admin'],
      body: interfaceAdd,
      response: { status: 201, schema: machineViewSchema, description: 'the machine with the new NIC' },
      handler: ({ params, body, principal }) => {
        const m = registry.machines.addInterface(params.ref!, body.mac, { actor: principal.actor }, body.name ?? null);
        return { body: machineView(registry, m), audit: { machineId: m.id, mac: parseMac(body.mac) } };
      },
    }),
    defineRoute({
      id: 'interfaces.remove',
      method: 'delete',
      path: '/machines/:ref/interfaces/:mac',
      summary: 'Remove a NIC (not the last one)',
      roles: ['admin'],
      response: { status: 200, schema: machineViewSchema, description: 'the machine without that NIC' },
      handler: ({ params, principal }) => {
        const mac = parseMac(params.mac!);
        const m = registry.machines.removeInterface(params.ref!, mac, { actor: principal.actor });
        return { body: machineView(registry, m), audit: { machineId: m.id, mac } };
      },
    }),
  ];
}
