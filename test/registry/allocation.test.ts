import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBootrackError } from '../../src/common/errors.js';
import type { Constraints } from '../../src/registry/index.js';
import { codeOf, macFor, seedReady, SYSTEM, tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';


describe('allocation', () => {
  let t: TempRegistry;
  beforeEach(() => {
    t = tempRegistry();
    // node000000..node000031: cpus 2+(i%8), memory 1024*(1+i%16), disk 10*(1+i%50), arm64 when i%4==3, tags odd/even
    seedReady(t.registry, 32);
  });
  afterEach(() => t.cleanup());

  const cases: Array<[string, Constraints, (name: string) => boolean]> = [
    ['by name', { name: 'node000007' }, (n) => n === 'node000007'],
    ['by MAC in any spelling', { mac: macFor(9).toUpperCase().replaceAll(':', '-') }, (n) => n === 'node000009'],
    ['by arch', { arch: 'arm64' }, (n) => Number(n.slice(4)) % 4 === 3],
    ['by minimum CPUs', { minCpus: 9 }, (n) => 2 + (Number(n.slice(4)) % 8) >= 9],
    ['by minimum memory', { minMemoryMib: 15 * 1024 }, (n) => 1024 * (1 + (Number(n.slice(4)) % 16)) >= 15 * 1024],
    ['by minimum disk', { minDiskGib: 300 }, (n) => 10 * (1 + (Number(n.slice(4)) % 50)) >= 300],
    ['by tag', { tags: ['odd'] }, (n) => Number(n.slice(4)) % 2 === 1],
    ['by not-tag', { notTags: ['odd'] }, (n) => Number(n.slice(4)) % 2 === 0],
    ['combined', { arch: 'arm64', minCpus: 5, tags: ['odd'] }, (n) => { const i = Number(n.slice(4)); return i % 4 === 3 && 2 + (i % 8) >= 5; }],
  ];

  it.each(cases)('matches %s and takes only ready machines that satisfy every constraint', (_label, constraints, expected) => {
    const got: string[] = [];
    for (let i = 0; i < 40; i++) {
      try {
        got.push(t.registry.allocations.allocate({ constraints, owner: `o${i}` }, SYSTEM).machine.name);
      } catch (err) {
        expect(isBootrackError(err, 'NO_MATCHING_MACHINE')).toBe(true);
        break;
      }
    }
    const all = t.registry.machines.list().map((m) => m.name);
    expect(got.length).toBeGreaterThan(0);
    expect(new Set(got).size).toBe(got.length);
    expect(got.sort()).toEqual(all.filter(expected).sort());
  });

  it('is idempotent for the same owner and request key, and not across owners', () => {
    const first = t.registry.allocations.allocate({ constraints: { tags: ['odd'] }, owner: 'alice', requestKey: 'web1' }, SYSTEM);
    const again = t.registry.allocations.allocate({ constraints: { tags: ['odd'] }, owner: 'alice', requestKey: 'web1' }, SYSTEM);
    expect(first.created).toBe(true);
    expect(again).toEqual({ machine: first.machine, created: false });
    const bob = t.registry.allocations.allocate({ constraints: { tags: ['odd'] }, owner: 'bob', requestKey: 'web1' }, SYSTEM);
    expect(bob.created).toBe(true);
    expect(bob.machine.id).not.toBe(first.machine.id);
  });

  it('release checks the owner and returns the machine to ready', () => {
    const { machine } = t.registry.allocations.allocate({ constraints: {}, owner: 'alice' }, SYSTEM);
    expect(codeOf(() => t.registry.allocations.release(machine.id, 'bob', SYSTEM))).toBe('NOT_OWNER');
    expect(t.registry.machines.get(machine.id).state).toBe('allocated');
    expect(t.registry.allocations.release(machine.id, 'alice', SYSTEM).state).toBe('ready');
    expect(codeOf(() => t.registry.allocations.release(machine.id, null, SYSTEM))).toBe('ILLEGAL_TRANSITION');
  });

  it('never allocates a machine that is not ready', () => {
    const m = t.registry.machines.create({ name: 'fresh', macs: ['02:aa:00:00:00:01'] }, SYSTEM);
    expect(codeOf(() => t.registry.allocations.allocate({ constraints: { name: 'fresh' }, owner: 'x' }, SYSTEM))).toBe('NO_MATCHING_MACHINE');
    expect(t.registry.machines.get(m.id).state).toBe('new');
  });
});
