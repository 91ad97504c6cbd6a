import { BootrackError } from '../../common/errors.js';
import type { PowerControl } from '../../power/types.js';
import { machineFor } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { bootDevice, powerAction, powerActionResult, powerStatus } from '../schemas.js';

/** /machines/:ref/power and /boot-device, through PowerControl; 409 POWER_NOT_CONFIGURED when it is absent. */
export function powerRoutes(deps: ApiDeps): AnyRoute[] {
  const control = (machine: string): PowerControl => {
    if (deps.power === null) throw new BootrackError('POWER_NOT_CONFIGURED', 'power control is not enabled on this appliance', { machine });
    return deps.power;
  };
  return [
    defineRoute({
      id: 'power.status',
      method: 'get',
      path: '/machines/:ref/power',
      summary: 'Ask the BMC for the power state',
      roles: ['admin', 'driver'],
      response: { status: 200, schema: powerStatus, description: 'the observed state' },
      handler: async ({ params, principal }) => {
        const m = machineFor(principal, params.ref!, deps);
        return { body: { state: await control(m.id).status(m.id, principal.actor) } };
      },
    }),
    defineRoute({
      id: 'power.act',
      method: 'post',
      path: '/machines/:ref/power',
      summary: 'on, off, cycle, reset or soft_off',
      roles: ['admin', 'driver'],
      body: powerAction,
      response: { status: 200, schema: powerActionResult, description: 'the BMC accepted the action' },
      handler: async ({ params, body, principal }) => {
        const m = machineFor(principal, params.ref!, deps);
        await control(m.id).act(m.id, body.action, principal.actor);
        return { body: { action: body.action, done: true }, audit: { machineId: m.id, data: { action: body.action } } };
      },
    }),
    defineRoute({
      id: 'power.bootDevice',
      method: 'put',
      path: '/machines/:ref/boot-device',
      summary: 'Set the next (or persistent) boot device',
      roles: ['admin', 'driver'],
      body: bootDevice,
      response: { status: 200, schema: bootDevice, description: 'the boot device set' },
      handler: async ({ params, body, principal }) => {
        const m = machineFor(principal, params.ref!, deps);
        await control(m.id).setNextBoot(m.id, body.device, body.persistent, principal.actor);
        return { body, audit: { machineId: m.id, data: { ...body } } };
      },
    }),
  ];
}
