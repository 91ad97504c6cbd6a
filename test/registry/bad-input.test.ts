import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBootrackError, type ErrorCode } from '../../src/common/errors.js';
import { parseMac } from '../../src/common/mac.js';
import { SYSTEM, tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';

function snapshot(t: TempRegistry): string {
  return JSON.stringify({ machines: t.registry.machines.list(), events: t.registry.events.list({ limit: 10_000 }) });
}

function expectCode(code: ErrorCode, fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isBootrackError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
}

describe('MAC parsing', () => {
  it.each([
    ['52:54:00:AB:cd:01', '52:54:00:ab:cd:01'],
    ['52-54-00-ab-cd-01', '52:54:00:ab:cd:01'],
    ['5254.00ab.cd01', '52:54:00:ab:cd:01'],
    ['525400abcd01', '52:54:00:ab:cd:01'],
    ['  52:54:00:ab:cd:01 ', '52:54:00:ab:cd:01'],
  ])('accepts %j', (input, canonical) => expect(parseMac(input)).toBe(canonical));

  it.each(['', '52:54:00:ab:cd', '52:54:00:ab:cd:01:02', '52:54:00:ab:cd:zz', '52:54:00-ab:cd:01:', '52545400abcd01', "52:54:00:ab:cd:01'; DROP TABLE machines;--", '5:54:00:ab:cd:01'])(
    'refuses %j with INVALID_MAC naming the value',
    (input) => {
      let caught: unknown;
      try {
        parseMac(input);
      } catch (err) {
        caught = err;
      }
      expect(isBootrackError(caught, 'INVALID_MAC')).toBe(true);
      expect((caught as Error).message).toContain(JSON.stringify(input));
    },
  );
});

describe('registry refuses bad input and changes nothing', () => {
  let t: TempRegistry;
  beforeEach(() => {
    t = tempRegistry();
    t.registry.machines.create({ name: 'web1', macs: ['52:54:00:00:00:01', '52:54:00:00:00:02'] }, SYSTEM);
  });
  afterEach(() => t.cleanup());

  it('malformed MAC on create', () => {
    const before = snapshot(t);
    expectCode('INVALID_MAC', () => t.registry.machines.create({ macs: ['52:54:00:00:00:03', 'nonsense'] }, SYSTEM));
    expect(snapshot(t)).toBe(before);
  });

  it('duplicate MAC, in any spelling, on create and on add-interface', () => {
    const before = snapshot(t);
    expectCode('DUPLICATE_MAC', () => t.registry.machines.create({ macs: ['52-54-00-00-00-02'] }, SYSTEM));
    expectCode('DUPLICATE_MAC', () => t.registry.machines.create({ macs: ['52:54:00:00:00:09', '52:54:00:00:00:09'] }, SYSTEM));
    const other = t.registry.machines.create({ name: 'web2', macs: ['52:54:00:00:00:05'] }, SYSTEM);
    const mid = snapshot(t);
    expectCode('DUPLICATE_MAC', () => t.registry.machines.addInterface(other.id, '525400000001', SYSTEM));
    expect(snapshot(t)).toBe(mid);
    expect(before).not.toBe(mid);
  });

  it('duplicate name', () => {
    const before = snapshot(t);
    expectCode('DUPLICATE_NAME', () => t.registry.machines.create({ name: 'web1', macs: ['52:54:00:00:00:07'] }, SYSTEM));
    expect(snapshot(t)).toBe(before);
  });

  it('unknown machine for every operation', () => {
    const before = snapshot(t);
    expectCode('MACHINE_NOT_FOUND', () => t.registry.machines.get('nope'));
    expectCode('MACHINE_NOT_FOUND', () => t.registry.machines.get('52:54:00:99:99:99'));
    expectCode('MACHINE_NOT_FOUND', () => t.registry.machines.transition('nope', 'ready', SYSTEM));
    expectCode('MACHINE_NOT_FOUND', () => t.registry.machines.update('nope', { tags: ['x'] }, SYSTEM));
    expectCode('MACHINE_NOT_FOUND', () => t.registry.machines.remove('nope', SYSTEM));
    expectCode('MACHINE_NOT_FOUND', () => t.registry.machines.setPower('nope', { type: 'ipmi' }, SYSTEM));
    expectCode('MACHINE_NOT_FOUND', () => t.registry.allocations.release('nope', null, SYSTEM));
    expect(snapshot(t)).toBe(before);
  });

  it('invalid tags', () => {
    const before = snapshot(t);
    expectCode('VALIDATION_FAILED', () => t.registry.machines.update('web1', { tags: ['ok', 'not ok'] }, SYSTEM));
    expectCode('VALIDATION_FAILED', () => t.registry.machines.create({ macs: ['52:54:00:00:00:08'], tags: [''] }, SYSTEM));
    expect(snapshot(t)).toBe(before);
  });

  it('resolves a machine by id, name and any MAC spelling', () => {
    const m = t.registry.machines.get('web1');
    expect(t.registry.machines.get(m.id).name).toBe('web1');
    expect(t.registry.machines.get('52-54-00-00-00-02').id).toBe(m.id);
    expect(t.registry.machines.get('5254.0000.0001').id).toBe(m.id);
  });
});
