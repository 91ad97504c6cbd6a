import type { BootProfile } from '../../registry/index.js';
import { machineFor } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { deployRequest, machineView as machineViewSchema } from '../schemas.js';
import { machineView } from '../views.js';

/**
 * /machines/:ref/deploy: stores what the machine boots next and moves it to deploying. The default
 * profile is 'ephemeral' (the discovery OS with the allocation's keys); 'image' has its slot ready.
 */
export function deployRoutes(deps: ApiDeps): AnyRoute[] {
  const { registry } = deps;
  return [
    defineRoute({
      id: 'machines.deploy',
      method: 'post',
      path: '/machines/:ref/deploy',
      summary: 'Deploy: allocated (or deployed/failed_deployment/deploying, to redeploy) → deploying with a boot profile',
      roles: ['admin', 'driver'],
      body: deployRequest,
      response: { status: 200, schema: machineViewSchema, description: 'the machine, now deploying' },
      handler: ({ params, body, principal }) => {
        const target = machineFor(principal, params.ref!, deps);
        const input = body.profile ?? { kind: 'ephemeral' as const };
        const profile: BootProfile = { ...input, sshPublicKeys: body.sshPublicKeys };
        const m = registry.transaction(() => {
          // Deploying again while deploying: the earlier deploy's caller gave up (it failed, was killed, or
          // the appliance restarted mid-boot) and is starting over. The lifecycle has no deploying →
          // deploying edge and needs none: the new profile replaces the old, the caller power-cycles.
          const current = registry.machines.get(target.id);
          const moved = current.state === 'deploying' ? current : registry.machines.transition(target.id, 'deploying', { actor: principal.actor, reason: `deploy ${profile.kind}` }, { expectFrom: ['allocated', 'deployed', 'failed_deployment'] });
          // The deployed OS brings fresh host keys; a key from an earlier boot must not be trusted for it.
          if (moved.sshHostKey !== null) registry.machines.setSshHostKey(moved.id, null, { actor: principal.actor });
          return registry.machines.setBootProfile(moved.id, profile, { actor: principal.actor });
        });
        return { body: machineView(registry, m), audit: { machineId: m.id, data: { kind: profile.kind, keys: profile.sshPublicKeys.length, ...(target.state === 'deploying' ? { restarted: true } : {}) } } };
      },
    }),
  ];
}
