import { parseMac } from '../../common/mac.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { leaseList, leaseQuery } from '../schemas.js';

/** /leases: the DHCP lease table, read-only. */
export function leaseRoutes(deps: ApiDeps): AnyRoute[] {
  return [
    defineRoute({
      id: 'leases.list',
      method: 'get',
      path: '/leases',
      summary: 'DHCP leases',
      roles: ['admin'],
      query: leaseQuery,
      response: { status: 200, schema: leaseList, description: 'leases' },
      handler: ({ query }) => {
        const leases = deps.registry.leases.list({ mac: query.mac === undefined ? undefined : parseMac(query.mac), subnet: query.subnet, activeOnly: query.active === 'true', limit: query.limit });
        return { body: { items: leases.map((l) => ({ ...l, expiresAt: l.expiresAt.toISOString(), updatedAt: l.updatedAt.toISOString() })) } };
      },
    }),
  ];
}
