import { describe, expect, it } from 'vitest';
import { subnetSchema } from '../config/schema.js';
import type { LeaseRecord } from '../registry/index.js';
import { LeaseTable, type LeaseStore } from './dhcp-leases.js';
import { AddressPool, type ReservationLookup } from './dhcp-pool.js';

// The pool is pure bookkeeping over the lease table; the registry's part (storing) is covered by
// test/dhcp/leases.test.ts on a real SQLite file. Here the table's store is a plain array.
function arrayStore(initial: LeaseRecord[] = []): LeaseStore {
  return { loadAll: () => initial, store: () => {} };
}
const noReservations: ReservationLookup = { reservationFor: () => null, reservationOf: () => null };
const NOW = 1_000_000;

/** 37 addresses: the busy bitmap's last 32-bit word is partly outside the range. */
function pool(leases: LeaseRecord[] = []) {
  const config = subnetSchema.parse({ cidr: '10.7.0.0/24', rangeStart: '10.7.0.10', rangeEnd: '10.7.0.46' });
  const table = new LeaseTable(arrayStore(leases));
  return { table, pool: new AddressPool(config, table, noReservations, ['10.7.0.1'], NOW) };
}

describe('AddressPool', () => {
  it('hands out every address of a range that is not a multiple of 32, then reports it exhausted', () => {
    const { pool: p, table } = pool();
    const given: string[] = [];
    for (let i = 0; i < 37; i++) {
      const mac = `00:00:00:00:00:${i.toString(16).padStart(2, '0')}`;
      const ip = p.allocate(mac, NOW);
      expect(ip).not.toBeNull();
      // As the policy does: the offer goes into the table (the truth) and the bitmap (the hint).
      table.put({ ip: ip!, mac, clientId: null, hostname: null, subnet: '10.7.0.0/24', state: 'offered', expiresAt: NOW + 60_000, updatedAt: NOW });
      p.markTaken(ip!);
      given.push(ip!);
    }
    expect(new Set(given).size).toBe(37);
    expect(given[0]).toBe('10.7.0.10');
    expect(given[36]).toBe('10.7.0.46');
    expect(p.allocate('00:00:00:00:01:00', NOW)).toBeNull();
  });

  it('gives a freed address again, and ignores marks outside its range', () => {
    const { pool: p } = pool();
    for (let i = 0; i < 37; i++) p.markTaken(`10.7.0.${10 + i}`);
    p.markTaken('10.7.0.200'); // in the subnet, outside the range
    p.markTaken('192.0.2.1'); // outside the subnet
    p.markFree('10.7.0.200');
    p.markFree('10.7.0.33');
    expect(p.allocate('00:00:00:00:02:00', NOW)).toBe('10.7.0.33');
  });

  it('skips held leases found in the table at start, and takes lapsed ones back', () => {
    const lease = (ip: string, state: LeaseRecord['state'], expiresAt: number): LeaseRecord => ({
      ip, mac: '00:00:00:00:03:00', clientId: null, hostname: null, subnet: '10.7.0.0/24', state, expiresAt, updatedAt: NOW - 1,
    });
    const { pool: p } = pool([lease('10.7.0.10', 'bound', NOW + 60_000), lease('10.7.0.11', 'bound', NOW - 1), lease('10.7.0.12', 'declined', NOW + 60_000)]);
    expect(p.allocate('00:00:00:00:04:00', NOW)).toBe('10.7.0.11');
    expect(p.allocate('00:00:00:00:04:01', NOW)).toBe('10.7.0.13');
  });
});
