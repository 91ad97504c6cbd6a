import { describe, expect, it } from 'vitest';
import { SHARDS, ShardedMap, shardOf } from './sharded-map.js';

describe('ShardedMap', () => {
  it('behaves as a Map for set, get, delete and values', () => {
    const reference = new Map<string, number>();
    const sharded = new ShardedMap<number>();
    const keys = ['', 'a', 'ab', '10.0.0.1', '10.0.0.10', '00:0c:01:00:00:ff', 'aa:bb:cc:dd:ee:ff'];
    for (let i = 0; i < 5000; i++) keys.push(`10.${(i >> 8) & 255}.${i & 255}.${i % 7}`, `00:0c:01:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`);
    keys.forEach((key, i) => {
      reference.set(key, i);
      sharded.set(key, i);
    });
    // Overwrites replace (values() below finds no duplicates); deletes of present and absent keys do what Map does.
    for (const key of keys.slice(0, 100)) {
      reference.set(key, -1);
      sharded.set(key, -1);
    }
    for (const key of [...keys.filter((_, i) => i % 3 === 0), 'absent']) expect(sharded.delete(key)).toBe(reference.delete(key));
    for (const key of [...keys, 'absent']) expect(sharded.get(key)).toBe(reference.get(key));
    expect([...sharded.values()].sort((a, b) => a - b)).toEqual([...reference.values()].sort((a, b) => a - b));
  });

  it('spreads addresses and MACs that differ only in their last octets over all shards', () => {
    // Not a timing test: it checks the spread that keeps every shard small.
    const spread = (keys: string[]) => {
      const counts = new Array<number>(SHARDS).fill(0);
      for (const key of keys) counts[shardOf(key)]!++;
      return { used: counts.filter((c) => c > 0).length, largest: Math.max(...counts), fair: keys.length / SHARDS };
    };
    const hex = (n: number) => n.toString(16).padStart(2, '0');
    const pools = [
      Array.from({ length: 65536 }, (_, i) => `10.88.${i >> 8}.${i & 255}`),
      Array.from({ length: 65536 }, (_, i) => `00:0c:01:00:${hex(i >> 8)}:${hex(i & 255)}`),
      Array.from({ length: 4096 }, (_, i) => `192.168.${100 + (i >> 8)}.${i & 255}`),
    ];
    for (const keys of pools) {
      const { used, largest, fair } = spread(keys);
      expect(used).toBe(SHARDS);
      expect(largest).toBeLessThanOrEqual(4 * fair);
    }
  });
});
