import { BootrackError } from '../common/errors.js';
import type { Clock } from '../common/logger.js';
import { parseMac } from '../common/mac.js';
import type { Db } from './db.js';
import { OWNED_STATES } from './lifecycle.js';
import type { MachineRepo } from './machines.js';
import type { Actor, Constraints, Machine } from './types.js';

export interface AllocateRequest {
  constraints: Constraints;
  owner: string;
  /** Same owner + same key → the same machine again, so a retried request never takes a second box. */
  requestKey?: string;
}

/** Atomic allocation: the pick and the transition happen under one BEGIN IMMEDIATE write lock. */
export class Allocator {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #machines: MachineRepo;

  constructor(db: Db, clock: Clock, machines: MachineRepo) {
    this.#db = db;
    this.#clock = clock;
    this.#machines = machines;
  }

  allocate(request: AllocateRequest, by: Actor): { machine: Machine; created: boolean } {
    const { sql, params } = constraintSql(request.constraints);
    return this.#db
      .transaction(() => {
        if (request.requestKey !== undefined) {
          const held = this.#db
            .prepare(`SELECT id FROM machines WHERE owner = ? AND allocation_key = ? AND state IN (${OWNED_STATES.map(() => '?').join(', ')}) LIMIT 1`)
            .get(request.owner, request.requestKey, ...OWNED_STATES) as { id: string } | undefined;
          if (held) return { machine: this.#machines.get(held.id), created: false };
        }
        const pick = this.#db.prepare(`SELECT m.id FROM machines m WHERE m.state = 'ready' ${sql} ORDER BY m.name LIMIT 1`).get(params) as { id: string } | undefined;
        if (!pick) {
          throw new BootrackError('NO_MATCHING_MACHINE', 'no ready machine matches the constraints', { constraints: request.constraints });
        }
        this.#db
          .prepare('UPDATE machines SET owner = ?, allocation_key = ?, allocated_at = ? WHERE id = ?')
          .run(request.owner, request.requestKey ?? null, this.#clock.now().getTime(), pick.id);
        const machine = this.#machines.transitionInTx(this.#machines.get(pick.id), 'allocated', { actor: by.actor, reason: by.reason ?? `allocated to ${request.owner}` }, { expectFrom: ['ready'] });
        return { machine, created: true };
      })
      .immediate();
  }

  /**
   * Gives a machine back. Allocated → ready directly; after a deploy it passes through releasing.
   * `owner` null means an admin release, which may release anyone's machine.
   */
  release(ref: string, owner: string | null, by: Actor): Machine {
    return this.#db
      .transaction((): Machine => {
        const machine = this.#machines.get(ref);
        if (owner !== null && machine.owner !== owner) {
          throw new BootrackError('NOT_OWNER', `${machine.name} is not allocated to ${owner}`, { machine: machine.id });
        }
        if (machine.state === 'allocated') return this.#machines.transitionInTx(machine, 'ready', by);
        const releasing = this.#machines.transitionInTx(machine, 'releasing', by, { expectFrom: ['deploying', 'deployed', 'failed_deployment'] });
        return this.#machines.transitionInTx(releasing, 'ready', by);
      })
      .immediate();
  }
}

/** Builds the WHERE fragment for constraints; values are always bound, never interpolated. */
export function constraintSql(c: Constraints): { sql: string; params: Record<string, unknown> } {
  const parts: string[] = [];
  const params: Record<string, unknown> = {};
  if (c.name !== undefined) (parts.push('m.name = @name'), (params.name = c.name));
  if (c.mac !== undefined) (parts.push('m.id IN (SELECT machine_id FROM interfaces WHERE mac = @mac)'), (params.mac = parseMac(c.mac)));
  if (c.arch !== undefined) (parts.push('m.arch = @arch'), (params.arch = c.arch));
  if (c.minCpus !== undefined) (parts.push('m.cpu_count >= @minCpus'), (params.minCpus = c.minCpus));
  if (c.minMemoryMib !== undefined) (parts.push('m.memory_mib >= @minMemoryMib'), (params.minMemoryMib = c.minMemoryMib));
  if (c.minDiskGib !== undefined) (parts.push('m.disk_gib >= @minDiskGib'), (params.minDiskGib = c.minDiskGib));
  (c.tags ?? []).forEach((tag, i) => {
    parts.push(`EXISTS (SELECT 1 FROM json_each(m.tags) WHERE value = @tag${i})`);
    params[`tag${i}`] = tag;
  });
  (c.notTags ?? []).forEach((tag, i) => {
    parts.push(`NOT EXISTS (SELECT 1 FROM json_each(m.tags) WHERE value = @notTag${i})`);
    params[`notTag${i}`] = tag;
  });
  return { sql: parts.map((p) => `AND ${p}`).join(' '), params };
}
