import type { ApiDeps } from '../deps.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { machineView as machineViewSchema, tagsChange } from '../schemas.js';
import { machineView } from '../views.js';

/** /machines/:ref/tags: add and remove tags in one call (removals win over additions of the same tag). */
export function tagRoutes(deps: ApiDeps): AnyRoute[] {
  const { registry } = deps;
  return [
    defineRoute({
      id: 'machines.tags',
      method: 'post',
      path: '/machines/:ref/tags',
      summary: 'Add and/or remove tags',
      roles: ['admin'],
      body: tagsChange,
      response: { status: 200, schema: machineViewSchema, description: 'the machine with its new tags' },
      handler: ({ params, body, principal }) => {
        const m = registry.transaction(() => {
          const current = registry.machines.get(params.ref!);
          const remove = new Set(body.remove ?? []);
          const tags = [...new Set([...current.tags, ...(body.add ?? [])])].filter((t) => !remove.has(t));
          return registry.machines.update(current.id, { tags }, { actor: principal.actor });
        });
        return { body: machineView(registry, m), audit: { machineId: m.id, data: { add: body.add ?? [], remove: body.remove ?? [] } } };
      },
    }),
  ];
}
