import { BootrackError } from '../common/errors.js';
import type { Machine, TokenRecord } from '../registry/index.js';
import type { ApiDeps } from './deps.js';

export type Role = TokenRecord['role'];

/** Who is calling, from a verified bearer token. The token itself is never kept. */
export interface Principal {
  tokenId: string;
  role: Role;
  name: string;
  /** Driver tokens: the owner their allocations carry. */
  owner: string | null;
  /** Agent tokens: the one machine they speak for. */
  machineId: string | null;
  /** For audit rows: `admin:<token name>`, `driver:<owner>`, `agent:<machine>`. */
  actor: string;
}

const BEARER = /^Bearer ([A-Za-z0-9_\-.~+/]{8,256}=*)$/;

/** Null when the header is missing, malformed, or names an unknown, revoked, expired or used token. */
export function authenticate(header: string | undefined, deps: Pick<ApiDeps, 'registry'>): Principal | null {
  if (typeof header !== 'string') return null;
  const match = BEARER.exec(header.trim());
  if (!match) return null;
  const record = deps.registry.tokens.verify(match[1]!);
  if (record === null) return null;
  return principalOf(record, deps);
}

function principalOf(record: TokenRecord, deps: Pick<ApiDeps, 'registry'>): Principal | null {
  switch (record.role) {
    case 'admin':
      return { tokenId: record.id, role: 'admin', name: record.name, owner: null, machineId: null, actor: `admin:${record.name}` };
    case 'driver': {
      const owner = record.owner ?? record.name;
      return { tokenId: record.id, role: 'driver', name: record.name, owner, machineId: null, actor: `driver:${owner}` };
    }
    case 'agent': {
      // An agent token without a machine speaks for nobody.
      if (record.machineId === null) return null;
      const id = deps.registry.machines.findId(record.machineId);
      if (id === null) return null;
      const machine = deps.registry.machines.get(id);
      return { tokenId: record.id, role: 'agent', name: record.name, owner: null, machineId: id, actor: `agent:${machine.name}` };
    }
  }
}

/**
 * The machine a principal may act on. Drivers see only machines they own: any other machine answers
 * MACHINE_NOT_FOUND, so a driver cannot even learn which names exist.
 */
export function machineFor(principal: Principal, ref: string, deps: Pick<ApiDeps, 'registry'>): Machine {
  const machine = deps.registry.machines.get(ref);
  if (principal.role === 'admin') return machine;
  if (principal.role === 'driver' && machine.owner !== null && machine.owner === principal.owner) return machine;
  throw new BootrackError('MACHINE_NOT_FOUND', `no machine ${JSON.stringify(ref)}`, { ref });
}
