import type { ApiDeps } from '../deps.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { machineView as machineViewSchema, powerSettings } from '../schemas.js';
import { machineView } from '../views.js';

/** /machines/:ref/power-settings: the BMC. Credentials are write-only; the view shows hasCredentials. */
export function powerSettingsRoutes(deps: ApiDeps): AnyRoute[] {
  const { registry } = deps;
  return [
    defineRoute({
      id: 'machines.powerSettings',
      method: 'put',
      path: '/machines/:ref/power-settings',
      summary: 'Set the power driver, BMC address, options and (write-only) credentials',
      roles: ['admin'],
      body: powerSettings,
      response: { status: 200, schema: machineViewSchema, description: 'the machine; credentials are never returned' },
      handler: ({ params, body, principal }) => {
        // Omitting both username and password keeps the stored credentials; giving either replaces them.
        const credentials = body.username === undefined && body.password === undefined ? undefined : { username: body.username, password: body.password };
        const m = registry.machines.setPower(params.ref!, { type: body.type, address: body.address ?? null, options: body.options ?? {}, credentials }, { actor: principal.actor });
        return { body: machineView(registry, m), audit: { machineId: m.id, data: { type: body.type, credentialsChanged: credentials !== undefined } } };
      },
    }),
  ];
}
