import { BootrackError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { parseMac } from '../../common/mac.js';
import { decodeLldpdu, lldpduFromHex, summarizeLldpdu } from '../../protocol/lldp/index.js';
import type { Machine, MachineState } from '../../registry/index.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type AnyRoute } from '../route.js';
import { agentAck, agentStatus, factsRequest } from '../schemas.js';
import type { z } from 'zod';

type Facts = z.output<typeof factsRequest>['facts'];

/**
 * The discovery OS's check-in. An agent token speaks for one machine during one boot:
 * - facts may be delivered once per token (the first POST consumes it; a replay is refused and logged);
 * - status reports keep working with the same token until it is revoked or expires.
 * So the boot side issues agent tokens with singleUse=false and revokes a machine's old ones first
 * (registry.tokens.revokeAgentTokens) when it renders a new boot.
 */
export function agentRoutes(deps: ApiDeps): AnyRoute[] {
  const { registry, logger } = deps;
  return [
    defineRoute({
      id: 'agent.facts',
      method: 'post',
      path: '/agent/facts',
      summary: 'Hardware facts from the discovery OS (once per agent token)',
      roles: ['agent'],
      body: factsRequest,
      response: { status: 200, schema: agentAck, description: 'stored; the state the machine moved to' },
      handler: ({ body, principal }) => {
        const machine = registry.machines.get(principal.machineId!);
        assertSameMachine(machine, body.facts, body.mac, principal.actor, deps);
        if (!registry.tokens.consume(principal.tokenId)) {
          logger.warn({ machine: machine.id, tokenId: principal.tokenId, actor: principal.actor }, 'agent token replayed: facts refused');
          registry.events.append({ machineId: machine.id, kind: 'audit', type: 'agent_token_replayed', actor: principal.actor, data: { tokenId: principal.tokenId } });
          throw new BootrackError('AGENT_TOKEN_REPLAYED', 'this agent token already delivered facts', { machine: machine.id });
        }
        // Decoded before the write transaction, so the registry's write lock is never held for it.
        const facts = { ...body.facts, lldp: [...body.facts.lldp, ...lldpNeighbours(body.facts.lldpFrames ?? {}, logger.child({ machine: machine.id }))] };
        const next = registry.transaction(() => {
          const stored = registry.machines.setFacts(machine.id, facts, summarize(body.facts), { actor: principal.actor });
          const to = afterFacts(stored.state, deps.autoAccept);
          return to === null ? stored : registry.machines.transition(stored.id, to, { actor: principal.actor, reason: 'facts received' });
        });
        return { body: { machine: next.id, state: next.state }, audit: { machineId: next.id, data: { cpuCount: next.cpuCount, memoryMib: next.memoryMib, diskGib: next.diskGib } } };
      },
    }),
    defineRoute({
      id: 'agent.status',
      method: 'post',
      path: '/agent/status',
      summary: 'Progress from the agent: booted, ssh_ready (with the SSH host key), error, …',
      roles: ['agent'],
      body: agentStatus,
      response: { status: 200, schema: agentAck, description: 'recorded; the machine state after it' },
      handler: ({ body, principal }) => {
        const by = { actor: principal.actor };
        const m = registry.transaction(() => {
          let machine = registry.machines.get(principal.machineId!);
          if (body.sshHostKey !== undefined) machine = registry.machines.setSshHostKey(machine.id, body.sshHostKey, by);
          registry.events.append({ machineId: machine.id, kind: 'agent', type: body.status, actor: principal.actor, data: body.message === undefined ? {} : { message: body.message } });
          const to = afterStatus(machine.state, body.status);
          return to === null ? machine : registry.machines.transition(machine.id, to, { actor: principal.actor, reason: body.message ?? `agent ${body.status}` });
        });
        return { body: { machine: m.id, state: m.state }, audit: { machineId: m.id, data: { status: body.status } } };
      },
    }),
  ];
}

/** The token's machine must be the one the facts describe: the boot MAC (if given) and some NIC must be its own. */
function assertSameMachine(machine: Machine, facts: Facts, bootMac: string | undefined, actor: string, deps: ApiDeps): void {
  const own = new Set(machine.interfaces.map((i) => i.mac));
  const refuse = (why: string): never => {
    deps.logger.warn({ machine: machine.id, actor, why }, 'agent facts for another machine refused');
    throw new BootrackError('FORBIDDEN', `this agent token speaks for ${machine.name} only: ${why}`, { machine: machine.id });
  };
  if (bootMac !== undefined && !own.has(parseMac(bootMac))) refuse(`boot MAC ${parseMac(bootMac)} is not one of its interfaces`);
  if (facts.nics.length > 0 && !facts.nics.some((n) => own.has(parseMac(n.mac)))) refuse('none of the reported NICs is one of its interfaces');
}

export type LldpNeighbour = { interface: string } & ReturnType<typeof summarizeLldpdu>;

/**
 * Decodes the raw LLDPDUs the agent captured into neighbours, one per (interface, chassis, port):
 * the last frame received wins, and a last frame with TTL 0 (the neighbour shutting LLDP down)
 * removes it. A frame that does not decode is logged and skipped; it never fails the POST.
 */
export function lldpNeighbours(frames: Record<string, string[]>, logger: Logger): LldpNeighbour[] {
  const byKey = new Map<string, LldpNeighbour>();
  for (const [iface, list] of Object.entries(frames).sort(([a], [b]) => a.localeCompare(b))) {
    list.forEach((hex, index) => {
      try {
        const n: LldpNeighbour = { interface: iface, ...summarizeLldpdu(decodeLldpdu(lldpduFromHex(hex))) };
        const key = JSON.stringify([iface, n.chassisIdSubtype, n.chassisId, n.portIdSubtype, n.portId]);
        byKey.delete(key);
        if (n.ttl > 0) byKey.set(key, n);
      } catch (err) {
        const details = err instanceof BootrackError ? { code: err.code, ...err.details } : {};
        logger.warn({ interface: iface, frame: index, bytes: hex.length / 2, ...details, err: (err as Error).message }, 'bad LLDPDU from the agent skipped');
      }
    });
  }
  return [...byKey.values()];
}

/** The columns allocation constraints match on. */
export function summarize(facts: Facts): { cpuCount: number; memoryMib: number; diskGib: number; arch: string; firmware: 'bios' | 'uefi' } {
  const totalBytes = facts.disks.reduce((sum, d) => sum + d.sizeBytes, 0);
  return {
    cpuCount: facts.cpu.threads || facts.cpu.cores * Math.max(facts.cpu.sockets, 1),
    memoryMib: facts.memoryMib,
    diskGib: Math.floor(totalBytes / 1024 ** 3),
    arch: facts.arch,
    firmware: facts.firmware,
  };
}

/** commissioning → ready (auto-accept) or → new (an operator accepts); an enlisted new box → ready with auto-accept. */
function afterFacts(state: MachineState, autoAccept: boolean): MachineState | null {
  if (state === 'commissioning') return autoAccept ? 'ready' : 'new';
  if (state === 'new' && autoAccept) return 'ready';
  return null;
}

/** ssh_ready ends a deploy; error fails the commissioning or deploy in progress. */
function afterStatus(state: MachineState, status: string): MachineState | null {
  if (status === 'ssh_ready' && state === 'deploying') return 'deployed';
  if (status === 'error' && state === 'deploying') return 'failed_deployment';
  if (status === 'error' && state === 'commissioning') return 'failed_commissioning';
  return null;
}
