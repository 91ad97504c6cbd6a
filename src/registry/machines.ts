import { randomBytes } from 'node:crypto';
import { BootrackError } from '../common/errors.js';
import type { Clock } from '../common/logger.js';
import { isMac, parseMac, type Mac } from '../common/mac.js';
import type { Db } from './db.js';
import type { EventLog } from './events.js';
import { canTransition, OWNED_STATES, type MachineState } from './lifecycle.js';
import { toMachine, type MachineRow } from './rows.js';
import type { SecretBox } from './secrets.js';
import type {
  Actor,
  BootProfile,
  Machine,
  MachineFilter,
  MachineInput,
  MachinePatch,
  PowerCredentials,
  PowerState,
} from './types.js';

/** Machines and their interfaces. Every state change goes through `transition`, which writes its event row. */
export class MachineRepo {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #events: EventLog;
  readonly #secrets: SecretBox;

  constructor(db: Db, clock: Clock, events: EventLog, secrets: SecretBox) {
    this.#db = db;
    this.#clock = clock;
    this.#events = events;
    this.#secrets = secrets;
  }

  create(input: MachineInput, by: Actor): Machine {
    const macs = input.macs.map(parseMac);
    if (macs.length === 0) throw new BootrackError('VALIDATION_FAILED', 'a machine needs at least one MAC address', { field: 'macs' });
    if (new Set(macs).size !== macs.length) throw new BootrackError('DUPLICATE_MAC', 'the same MAC is listed twice', { macs });
    const create = this.#db.transaction((): Machine => {
      for (const mac of macs) this.#assertMacFree(mac);
      const id = newMachineId();
      const name = input.name ?? `node-${macs[0]!.replaceAll(':', '')}`;
      if (this.#db.prepare('SELECT 1 FROM machines WHERE name = ?').get(name)) {
        throw new BootrackError('DUPLICATE_NAME', `machine name ${name} is taken`, { name });
      }
      const now = this.#clock.now().getTime();
      const state = input.state ?? 'new';
      this.#db
        .prepare(
          `INSERT INTO machines (id, name, state, arch, firmware, tags, created_at, updated_at, state_changed_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(id, name, state, input.arch ?? null, input.firmware ?? null, JSON.stringify(normalizeTags(input.tags ?? [])), now, now, now);
      const addIf = this.#db.prepare('INSERT INTO interfaces (mac, machine_id, boot, created_at) VALUES (?, ?, ?, ?)');
      macs.forEach((mac, i) => addIf.run(mac, id, i === 0 ? 1 : 0, now));
      this.#events.append({ machineId: id, mac: macs[0], kind: 'state', type: 'created', actor: by.actor, toState: state, reason: by.reason ?? null });
      return this.#load(id);
    });
    return create.immediate();
  }

  /** Resolves an id, a name or a MAC (any spelling) to a machine; MACHINE_NOT_FOUND otherwise. */
  get(ref: string): Machine {
    const id = this.findId(ref);
    if (id === null) throw new BootrackError('MACHINE_NOT_FOUND', `no machine ${JSON.stringify(ref)}`, { ref });
    return this.#load(id);
  }

  findId(ref: string): string | null {
    if (isMac(ref)) {
      const row = this.#db.prepare('SELECT machine_id FROM interfaces WHERE mac = ?').get(parseMac(ref)) as { machine_id: string } | undefined;
      if (row) return row.machine_id;
    }
    const row = this.#db.prepare('SELECT id FROM machines WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1').get(ref, ref, ref) as
      | { id: string }
      | undefined;
    return row?.id ?? null;
  }

  findByMac(mac: Mac): Machine | null {
    const id = this.findId(mac);
    return id === null ? null : this.#load(id);
  }

  list(filter: MachineFilter = {}): Machine[] {
    const where: string[] = [];
    const params: Record<string, unknown> = {};
    if (filter.state) (where.push('m.state = @state'), (params.state = filter.state));
    if (filter.owner) (where.push('m.owner = @owner'), (params.owner = filter.owner));
    if (filter.arch) (where.push('m.arch = @arch'), (params.arch = filter.arch));
    if (filter.tag) (where.push('EXISTS (SELECT 1 FROM json_each(m.tags) WHERE value = @tag)'), (params.tag = filter.tag));
    if (filter.mac) (where.push('EXISTS (SELECT 1 FROM interfaces i WHERE i.machine_id = m.id AND i.mac = @mac)'), (params.mac = parseMac(filter.mac)));
    params.limit = Math.min(Math.max(filter.limit ?? 1000, 1), 100_000);
    const rows = this.#db
      .prepare(`SELECT m.* FROM machines m ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY m.name LIMIT @limit`)
      .all(params) as MachineRow[];
    return rows.map((row) => toMachine(row, this.#interfacesOf(row.id)));
  }

  update(ref: string, patch: MachinePatch, by: Actor): Machine {
    return this.#db
      .transaction((): Machine => {
        const machine = this.get(ref);
        if (patch.name !== undefined && patch.name !== machine.name) {
          if (this.#db.prepare('SELECT 1 FROM machines WHERE name = ?').get(patch.name)) {
            throw new BootrackError('DUPLICATE_NAME', `machine name ${patch.name} is taken`, { name: patch.name });
          }
        }
        const next = {
          name: patch.name ?? machine.name,
          arch: patch.arch === undefined ? machine.arch : patch.arch,
          firmware: patch.firmware === undefined ? machine.firmware : patch.firmware,
          tags: JSON.stringify(patch.tags === undefined ? machine.tags : normalizeTags(patch.tags)),
        };
        this.#db
          .prepare('UPDATE machines SET name = @name, arch = @arch, firmware = @firmware, tags = @tags, updated_at = @now WHERE id = @id')
          .run({ ...next, now: this.#clock.now().getTime(), id: machine.id });
        this.#events.append({ machineId: machine.id, kind: 'audit', type: 'edited', actor: by.actor, reason: by.reason ?? null, data: { fields: Object.keys(patch) } });
        return this.#load(machine.id);
      })
      .immediate();
  }

  remove(ref: string, by: Actor): void {
    this.#db
      .transaction(() => {
        const machine = this.get(ref);
        this.#db.prepare('DELETE FROM machines WHERE id = ?').run(machine.id);
        this.#events.append({ machineId: machine.id, kind: 'audit', type: 'deleted', actor: by.actor, fromState: machine.state, reason: by.reason ?? null, data: { name: machine.name, macs: machine.interfaces.map((i) => i.mac) } });
      })
      .immediate();
  }

  addInterface(ref: string, macInput: string, by: Actor, name: string | null = null): Machine {
    const mac = parseMac(macInput);
    return this.#db
      .transaction((): Machine => {
        const machine = this.get(ref);
        this.#assertMacFree(mac);
        this.#db.prepare('INSERT INTO interfaces (mac, machine_id, name, boot, created_at) VALUES (?, ?, ?, 0, ?)').run(mac, machine.id, name, this.#clock.now().getTime());
        this.#events.append({ machineId: machine.id, mac, kind: 'audit', type: 'interface_added', actor: by.actor });
        return this.#load(machine.id);
      })
      .immediate();
  }

  removeInterface(ref: string, macInput: string, by: Actor): Machine {
    const mac = parseMac(macInput);
    return this.#db
      .transaction((): Machine => {
        const machine = this.get(ref);
        if (!machine.interfaces.some((i) => i.mac === mac)) {
          throw new BootrackError('VALIDATION_FAILED', `${mac} is not an interface of ${machine.name}`, { mac });
        }
        if (machine.interfaces.length === 1) {
          throw new BootrackError('VALIDATION_FAILED', `${mac} is the only interface of ${machine.name}`, { mac });
        }
        this.#db.prepare('DELETE FROM interfaces WHERE mac = ?').run(mac);
        this.#events.append({ machineId: machine.id, mac, kind: 'audit', type: 'interface_removed', actor: by.actor });
        return this.#load(machine.id);
      })
      .immediate();
  }

  /** The one way a state changes: checked against the transition table, one transaction, one event row. */
  transition(ref: string, to: MachineState, by: Actor, options: { expectFrom?: readonly MachineState[] } = {}): Machine {
    return this.#db.transaction((): Machine => this.transitionInTx(this.get(ref), to, by, options)).immediate();
  }

  /** For callers already inside a transaction (allocation, release). */
  transitionInTx(machine: Machine, to: MachineState, by: Actor, options: { expectFrom?: readonly MachineState[] } = {}): Machine {
    const from = machine.state;
    if ((options.expectFrom && !options.expectFrom.includes(from)) || !canTransition(from, to)) {
      throw new BootrackError('ILLEGAL_TRANSITION', `${machine.name} cannot go from ${from} to ${to}`, { machine: machine.id, from, to });
    }
    const now = this.#clock.now().getTime();
    const keepsOwner = OWNED_STATES.includes(to) || to === 'releasing';
    this.#db
      .prepare(
        `UPDATE machines SET state = @to, state_changed_at = @now, updated_at = @now,
           owner = CASE WHEN @keep THEN owner ELSE NULL END,
           allocation_key = CASE WHEN @keep THEN allocation_key ELSE NULL END,
           allocated_at = CASE WHEN @keep THEN allocated_at ELSE NULL END,
           boot_profile = CASE WHEN @keep THEN boot_profile ELSE NULL END
         WHERE id = @id AND state = @from`,
      )
      .run({ to, now, keep: keepsOwner ? 1 : 0, id: machine.id, from });
    this.#events.append({ machineId: machine.id, kind: 'state', type: 'transition', actor: by.actor, fromState: from, toState: to, reason: by.reason ?? null });
    return this.#load(machine.id);
  }

  /** Stores hardware facts and the columns allocation constraints match on. */
  setFacts(ref: string, facts: Record<string, unknown>, summary: { cpuCount?: number; memoryMib?: number; diskGib?: number; arch?: string; firmware?: 'bios' | 'uefi' }, by: Actor): Machine {
    return this.#db
      .transaction((): Machine => {
        const machine = this.get(ref);
        this.#db
          .prepare(
            `UPDATE machines SET facts = @facts, cpu_count = @cpu, memory_mib = @mem, disk_gib = @disk,
               arch = COALESCE(@arch, arch), firmware = COALESCE(@firmware, firmware), updated_at = @now WHERE id = @id`,
          )
          .run({
            facts: JSON.stringify(facts),
            cpu: summary.cpuCount ?? null,
            mem: summary.memoryMib ?? null,
            disk: summary.diskGib ?? null,
            arch: summary.arch ?? null,
            firmware: summary.firmware ?? null,
            now: this.#clock.now().getTime(),
            id: machine.id,
          });
        this.#events.append({ machineId: machine.id, kind: 'agent', type: 'facts_stored', actor: by.actor, data: { ...summary } });
        return this.#load(machine.id);
      })
      .immediate();
  }

  setSshHostKey(ref: string, hostKey: string | null, by: Actor): Machine {
    const machine = this.get(ref);
    this.#db.prepare('UPDATE machines SET ssh_host_key = ?, updated_at = ? WHERE id = ?').run(hostKey, this.#clock.now().getTime(), machine.id);
    this.#events.append({ machineId: machine.id, kind: 'agent', type: 'ssh_host_key', actor: by.actor });
    return this.#load(machine.id);
  }

  setBootProfile(ref: string, profile: BootProfile | null, by: Actor): Machine {
    const machine = this.get(ref);
    this.#db.prepare('UPDATE machines SET boot_profile = ?, updated_at = ? WHERE id = ?').run(profile ? JSON.stringify(profile) : null, this.#clock.now().getTime(), machine.id);
    this.#events.append({ machineId: machine.id, kind: 'audit', type: 'boot_profile_set', actor: by.actor, data: { kind: profile?.kind ?? null } });
    return this.#load(machine.id);
  }

  /** Credentials are sealed with the machine id as context; passing undefined keeps the stored ones. */
  setPower(ref: string, settings: { type: string | null; address?: string | null; options?: Record<string, unknown>; credentials?: PowerCredentials | null }, by: Actor): Machine {
    return this.#db
      .transaction((): Machine => {
        const machine = this.get(ref);
        const row = this.#db.prepare('SELECT power_secret FROM machines WHERE id = ?').get(machine.id) as { power_secret: string | null };
        const secret =
          settings.credentials === undefined ? row.power_secret : settings.credentials === null ? null : this.#secrets.seal(JSON.stringify(settings.credentials), `power:${machine.id}`);
        this.#db
          .prepare('UPDATE machines SET power_type = ?, power_address = ?, power_options = ?, power_secret = ?, power_state = ?, updated_at = ? WHERE id = ?')
          .run(settings.type, settings.address ?? null, JSON.stringify(settings.options ?? {}), secret, 'unknown', this.#clock.now().getTime(), machine.id);
        // The event names what changed, never the values of secrets.
        this.#events.append({ machineId: machine.id, kind: 'audit', type: 'power_settings', actor: by.actor, data: { type: settings.type, address: settings.address ?? null, credentialsChanged: settings.credentials !== undefined } });
        return this.#load(machine.id);
      })
      .immediate();
  }

  getPowerCredentials(ref: string): PowerCredentials | null {
    const id = this.get(ref).id;
    const row = this.#db.prepare('SELECT power_secret FROM machines WHERE id = ?').get(id) as { power_secret: string | null };
    return row.power_secret === null ? null : (JSON.parse(this.#secrets.open(row.power_secret, `power:${id}`)) as PowerCredentials);
  }

  /** Records an observed power state; returns true when it changed (and wrote an event). */
  recordPowerState(ref: string, state: PowerState, by: Actor): boolean {
    return this.#db
      .transaction((): boolean => {
        const machine = this.get(ref);
        const now = this.#clock.now().getTime();
        this.#db.prepare('UPDATE machines SET power_state = ?, power_checked_at = ? WHERE id = ?').run(state, now, machine.id);
        if (machine.power.state === state) return false;
        this.#events.append({ machineId: machine.id, kind: 'power', type: 'power_state_changed', actor: by.actor, data: { from: machine.power.state, to: state } });
        return true;
      })
      .immediate();
  }

  #assertMacFree(mac: Mac): void {
    const owner = this.#db.prepare('SELECT m.name FROM interfaces i JOIN machines m ON m.id = i.machine_id WHERE i.mac = ?').get(mac) as { name: string } | undefined;
    if (owner) throw new BootrackError('DUPLICATE_MAC', `MAC ${mac} already belongs to ${owner.name}`, { mac, machine: owner.name });
  }

  #interfacesOf(id: string): Array<{ mac: string; name: string | null; boot: number }> {
    return this.#db.prepare('SELECT mac, name, boot FROM interfaces WHERE machine_id = ? ORDER BY boot DESC, mac').all(id) as Array<{ mac: string; name: string | null; boot: number }>;
  }

  #load(id: string): Machine {
    const row = this.#db.prepare('SELECT * FROM machines WHERE id = ?').get(id) as MachineRow | undefined;
    if (!row) throw new BootrackError('MACHINE_NOT_FOUND', `no machine ${id}`, { ref: id });
    return toMachine(row, this.#interfacesOf(id));
  }
}

function newMachineId(): string {
  return 'm' + randomBytes(6).toString('hex');
}

function normalizeTags(tags: string[]): string[] {
  for (const tag of tags) {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$/.test(tag)) {
      throw new BootrackError('VALIDATION_FAILED', `invalid tag ${JSON.stringify(tag)}: letters, digits, _ . : - and at most 63 characters`, { tag });
    }
  }
  return [...new Set(tags)].sort();
}
