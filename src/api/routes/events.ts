import { parseMac } from '../../common/mac.js';
import { machineFor } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { eventList, eventQuery, machineEventQuery, timelineBody, timelineQuery } from '../schemas.js';
import { buildTimeline } from '../timeline.js';
import { machineEvents } from '../views.js';

/** Events (the audit trail) and the per-machine boot timeline. */
export function eventRoutes(deps: ApiDeps): AnyRoute[] {
  const { registry } = deps;
  return [
    defineRoute({
      id: 'events.list',
      method: 'get',
      path: '/events',
      summary: 'The event log, newest N oldest first; filter by machine, MAC, kind',
      roles: ['admin'],
      query: eventQuery,
      response: { status: 200, schema: eventList, description: 'events' },
      handler: ({ query }) => {
        if (query.machine !== undefined) {
          const m = registry.machines.get(query.machine);
          const items = machineEvents(registry, m, { sinceId: query.since, limit: query.limit }).filter((e) => query.kind === undefined || e.kind === query.kind);
          return { body: { items } };
        }
        return { body: { items: registry.events.list({ mac: query.mac === undefined ? undefined : parseMac(query.mac), kinds: query.kind ? [query.kind] : undefined, sinceId: query.since, limit: query.limit }) } };
      },
    }),
    defineRoute({
      id: 'machines.events',
      method: 'get',
      path: '/machines/:ref/events',
      summary: "A machine's events (its id or any of its MACs)",
      roles: ['admin', 'driver'],
      query: machineEventQuery,
      response: { status: 200, schema: eventList, description: 'events' },
      handler: ({ params, query, principal }) => ({ body: { items: machineEvents(registry, machineFor(principal, params.ref!, deps), { sinceId: query.since, limit: query.limit }) } }),
    }),
    defineRoute({
      id: 'machines.timeline',
      method: 'get',
      path: '/machines/:ref/timeline',
      summary: 'The boot flight recorder: boots, steps and where each stalled',
      roles: ['admin', 'driver'],
      query: timelineQuery,
      response: { status: 200, schema: timelineBody, description: 'the timeline' },
      handler: ({ params, query, principal }) => {
        const m = machineFor(principal, params.ref!, deps);
        const events = machineEvents(registry, m, { limit: query.limit ?? 2000 });
        const timeline = buildTimeline(events, { now: deps.clock.now(), gapMs: query.gapSeconds === undefined ? undefined : query.gapSeconds * 1000 });
        return { body: { machine: { id: m.id, name: m.name, macs: m.interfaces.map((i) => i.mac) }, ...timeline } };
      },
    }),
  ];
}
