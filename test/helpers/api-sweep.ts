import Database from 'better-sqlite3';
import { resourceRoutes } from '../../src/api/app.js';
import { withDefaults } from '../../src/api/deps.js';
import type { AnyRoute } from '../../src/api/route.js';
import { silentLogger, systemClock } from '../../src/common/logger.js';
import { createMetrics } from '../../src/common/metrics.js';
import type { Registry } from '../../src/registry/index.js';
import { factsFor, SSH_KEY } from './api-server.js';

/** Every route the API mounts (the same list the OpenAPI document is generated from). */
export function allRoutes(registry: Registry): AnyRoute[] {
  const deps = withDefaults({ registry, logger: silentLogger, metrics: createMetrics({ defaultMetrics: false }), power: null }, { clock: systemClock });
  return resourceRoutes(deps).flatMap((r) => r.routes);
}

/** A valid body for each mutating route, so a refusal is about the token, never about the body. */
export function sampleBody(routeId: string, mac: string): unknown {
  const samples: Record<string, unknown> = {
    'machines.create': { macs: ['52:54:00:99:99:01'], name: 'sweep-new' },
    'machines.update': { arch: 'arm64' },
    'machines.delete': undefined,
    'machines.commission': {},
    'machines.tags': { add: ['x'] },
    'interfaces.add': { mac: '52:54:00:99:99:02' },
    'interfaces.remove': undefined,
    'machines.powerSettings': { type: 'ipmi', address: '10.0.0.1', username: 'u', password: 'p' },
    'allocations.create': { constraints: {} },
    'allocations.release': undefined,
    'machines.deploy': { sshPublicKeys: [SSH_KEY] },
    'power.act': { action: 'on' },
    'power.bootDevice': { device: 'pxe', persistent: false },
    'tokens.create': { name: 'x', role: 'admin' },
    'tokens.revoke': undefined,
    'agent.facts': { facts: factsFor([mac]) },
    'agent.status': { status: 'booted' },
  };
  if (!(routeId in samples)) throw new Error(`no sample body for route ${routeId}: add one so the sweep covers it`);
  return samples[routeId];
}

/** Fills :ref, :mac and :id with real values. */
export function fillPath(path: string, values: { ref: string; mac: string; id: string }): string {
  return `/api/v1${path.replace(':ref', encodeURIComponent(values.ref)).replace(':mac', encodeURIComponent(values.mac)).replace(':id', encodeURIComponent(values.id))}`;
}

/** Every row of every table, to prove a refused request wrote nothing. */
export function dbSnapshot(dbPath: string): string {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).all() as Array<{ name: string }>;
    const dump: Record<string, unknown[]> = {};
    const withoutRowid = (name: string) => /\bWITHOUT\s+ROWID\s*$/i.test((db.prepare(`SELECT sql FROM sqlite_master WHERE name = ?`).get(name) as { sql: string }).sql);
    // A WITHOUT ROWID table (leases) has no rowid: its scan is in primary-key order.
    for (const { name } of tables) dump[name] = db.prepare(`SELECT * FROM "${name}"${withoutRowid(name) ? '' : ' ORDER BY rowid'}`).all();
    return JSON.stringify(dump);
  } finally {
    db.close();
  }
}
