import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import { MACHINE_STATES, TRANSITIONS, type MachineState } from '../../src/registry/index.js';
import { PATH_FROM_NEW, SYSTEM, tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';


describe('machine lifecycle', () => {
  let t: TempRegistry;
  let n = 0;
  beforeEach(() => {
    t = tempRegistry();
  });
  afterEach(() => t.cleanup());

  function machineIn(state: MachineState): string {
    const m = t.registry.machines.create({ macs: [`02:00:00:00:${(n >> 8).toString(16).padStart(2, '0')}:${(n++ & 0xff).toString(16).padStart(2, '0')}`] }, SYSTEM);
    for (const step of PATH_FROM_NEW[state]) t.registry.machines.transition(m.id, step, SYSTEM);
    expect(t.registry.machines.get(m.id).state).toBe(state);
    return m.id;
  }

  const pairs = MACHINE_STATES.flatMap((from) => MACHINE_STATES.map((to) => [from, to] as const));

  it.each(pairs.filter(([from, to]) => TRANSITIONS[from].includes(to)))('%s → %s is legal and writes one event', (from, to) => {
    const id = machineIn(from);
    const before = t.registry.events.list({ machineId: id }).length;
    const after = t.registry.machines.transition(id, to, { actor: 'admin:test', reason: 'because' });
    expect(after.state).toBe(to);
    const events = t.registry.events.list({ machineId: id });
    expect(events).toHaveLength(before + 1);
    expect(events.at(-1)).toMatchObject({ kind: 'state', type: 'transition', actor: 'admin:test', fromState: from, toState: to, reason: 'because' });
  });

  it.each(pairs.filter(([from, to]) => !TRANSITIONS[from].includes(to)))('%s → %s is illegal and changes nothing', (from, to) => {
    const id = machineIn(from);
    const machineBefore = t.registry.machines.get(id);
    const eventsBefore = t.registry.events.list({ machineId: id });
    let caught: unknown;
    try {
      t.registry.machines.transition(id, to, SYSTEM);
    } catch (err) {
      caught = err;
    }
    expect(isBootrackError(caught, 'ILLEGAL_TRANSITION')).toBe(true);
    expect(t.registry.machines.get(id)).toEqual(machineBefore);
    expect(t.registry.events.list({ machineId: id })).toEqual(eventsBefore);
  });

  it('leaving the owned states clears owner, allocation key and boot profile', () => {
    const id = machineIn('ready');
    const { machine } = t.registry.allocations.allocate({ constraints: {}, owner: 'alice', requestKey: 'k1' }, SYSTEM);
    expect(machine.id).toBe(id);
    t.registry.machines.setBootProfile(id, { kind: 'ephemeral', sshPublicKeys: ['ssh-ed25519 AAAA test'] }, SYSTEM);
    t.registry.machines.transition(id, 'deploying', SYSTEM);
    expect(t.registry.machines.get(id)).toMatchObject({ owner: 'alice', allocationKey: 'k1', bootProfile: { kind: 'ephemeral' } });
    const released = t.registry.allocations.release(id, 'alice', SYSTEM);
    expect(released).toMatchObject({ state: 'ready', owner: null, allocationKey: null, allocatedAt: null, bootProfile: null });
    const kinds = t.registry.events.list({ machineId: id }).filter((e) => e.kind === 'state').map((e) => e.toState);
    expect(kinds.slice(-2)).toEqual(['releasing', 'ready']);
  });

  it('the events table refuses updates (append-only)', () => {
    const id = machineIn('ready');
    t.registry.close();
    const db = new Database(t.dbPath);
    try {
      expect(() => db.prepare("UPDATE events SET actor = 'mallory' WHERE machine_id = ?").run(id)).toThrow(/append-only/);
      expect(db.prepare("SELECT COUNT(*) AS n FROM events WHERE actor = 'mallory'").get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });
});
