/**
 * The DHCP policy's lease handling against the real registry on disk (SQLite in a temp dir), with
 * an injected clock: group commit (nothing acknowledged is unstored), offers kept in memory, the
 * periodic lease sweep (bounded per tick), restart from the registry, reservations added while running.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/logger.js';
import { configSchema } from '../../src/config/schema.js';
import { DhcpPolicy } from '../../src/netboot/dhcp.js';
import { decodePacket, type DhcpPacket } from '../../src/protocol/dhcp/packet.js';
import { openRegistry, type Registry } from '../../src/registry/index.js';
import { requestHex } from '../helpers/dhcp-packets.js';

const START = Date.parse('2026-01-01T00:00:00Z');
const LEASE_SECONDS = 600;
const config = configSchema.parse({
  advertiseAddress: '10.9.0.1',
  dhcp: {
    interfaces: ['prov0'],
    leaseSweepLimit: 3,
    subnets: [
      { cidr: '10.9.0.0/24', rangeStart: '10.9.0.10', rangeEnd: '10.9.0.29', leaseSeconds: LEASE_SECONDS },
      { cidr: '10.8.0.0/24', rangeStart: '10.8.0.10', rangeEnd: '10.8.0.29', leaseSeconds: LEASE_SECONDS },
    ],
  },
});

let dir: string;
let registry: Registry;
let now: number;
const clock = { now: () => new Date(now) };
const open = () => openRegistry({ databasePath: join(dir, 'bootrack.db'), secretKey: { path: join(dir, 'key') }, clock });
const policy = () => new DhcpPolicy({ config, registry, logger: silentLogger, clock });
const mac = (n: number) => `52:54:00:dd:70:${n.toString(16).padStart(2, '0')}`;

function ask(p: DhcpPolicy, m: string, options: Parameters<typeof requestHex>[1], header: Parameters<typeof requestHex>[2] = {}): DhcpPacket | null {
  const packet = decodePacket(Buffer.from(requestHex(m, options, header), 'hex'));
  return p.handle({ packet, iface: { name: 'prov0', address: '10.9.0.1' }, pxePort: false, source: { address: '0.0.0.0', port: 68 } });
}

/** DISCOVER → OFFER → REQUEST → ACK, flushed as the server does before it sends the ACK. */
function dora(p: DhcpPolicy, m: string, header: Parameters<typeof requestHex>[2] = {}): string {
  const offer = ask(p, m, { messageType: 'DISCOVER' }, header);
  expect(offer?.options.messageType).toBe('OFFER');
  const ack = ask(p, m, { messageType: 'REQUEST', serverId: '10.9.0.1', requestedIp: offer!.yiaddr }, header);
  expect(ack?.options.messageType).toBe('ACK');
  p.flush();
  return ack!.yiaddr;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'brkdh-leases-'));
  now = START;
  registry = open();
});

afterEach(() => {
  registry.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('group commit', () => {
  it('a binding is stored by flush, not before; an offer is never stored but still reserved in memory', () => {
    const p = policy();
    const other = open(); // another connection sees only committed state
    try {
      const offer = ask(p, mac(1), { messageType: 'DISCOVER' })!;
      p.flush();
      expect(other.leases.get(offer.yiaddr)).toBeNull();
      // The offered address is not offered to anyone else while the offer lasts.
      expect(ask(p, mac(2), { messageType: 'DISCOVER', requestedIp: offer.yiaddr })!.yiaddr).not.toBe(offer.yiaddr);
      ask(p, mac(1), { messageType: 'REQUEST', serverId: '10.9.0.1', requestedIp: offer.yiaddr });
      expect(other.leases.get(offer.yiaddr)).toBeNull();
      p.flush();
      expect(other.leases.get(offer.yiaddr)).toMatchObject({ mac: mac(1), state: 'bound', expiresAt: new Date(START + LEASE_SECONDS * 1000) });
      // The batch's timeline events are committed with it.
      expect(other.events.list({ mac: mac(1), kinds: ['dhcp'] }).map((e) => e.type)).toEqual(['discover', 'offer', 'request', 'ack']);
    } finally {
      other.close();
    }
  });

  it('a new policy on the same database (a restart) keeps every binding and forgets offers', () => {
    const first = policy();
    const bound = [1, 2, 3].map((n) => dora(first, mac(n)));
    const offered = ask(first, mac(9), { messageType: 'DISCOVER' })!.yiaddr;
    first.flush();
    const second = policy();
    // Returning clients keep their address; a newcomer never gets a bound one.
    expect([1, 2, 3].map((n) => ask(second, mac(n), { messageType: 'DISCOVER' })!.yiaddr)).toEqual(bound);
    const fresh = ask(second, mac(4), { messageType: 'DISCOVER' })!.yiaddr;
    expect(bound).not.toContain(fresh);
    // The forgotten offer: a REQUEST for it is refused, the client starts over (RFC 2131 §4.3.2).
    expect(ask(second, mac(9), { messageType: 'REQUEST', serverId: '10.9.0.1', requestedIp: offered })?.options.messageType).toBe('NAK');
  });
});

describe('lease sweep', () => {
  it('expires lapsed bindings, at most leaseSweepLimit per subnet per call, in the registry and in memory', () => {
    const p = policy();
    const early = [1, 2, 3, 4, 5].map((n) => dora(p, mac(n)));
    now += 300_000;
    const late = dora(p, mac(6)); // bound 5 minutes later: not lapsed at the first sweep
    const relayed = dora(p, mac(7), { giaddr: '10.8.0.1' }); // the other subnet
    expect(relayed).toMatch(/^10\.8\.0\./);

    expect(p.sweep()).toBe(0); // nothing has lapsed yet
    now = START + LEASE_SECONDS * 1000 + 1;
    expect(p.sweep()).toBe(3); // bounded: 3 of the 5 lapsed bindings of 10.9.0.0/24
    const states = () => early.map((ip) => registry.leases.get(ip)!.state);
    expect(states().filter((s) => s === 'expired')).toHaveLength(3);
    expect(p.sweep()).toBe(2);
    expect(states()).toEqual(['expired', 'expired', 'expired', 'expired', 'expired']);
    expect(registry.leases.get(early[0]!)!.updatedAt).toEqual(new Date(now));
    expect(registry.leases.get(late)!.state).toBe('bound');
    expect(registry.leases.get(relayed)!.state).toBe('bound');
    expect(p.sweep()).toBe(0);

    now += 300_000;
    expect(p.sweep()).toBe(2); // the late one and the relayed one, one per subnet
    expect(registry.leases.list({ activeOnly: true })).toEqual([]);
    // An expired address is free again for another client; its old holder gets it back if still free.
    expect(ask(p, mac(1), { messageType: 'DISCOVER' })!.yiaddr).toBe(early[0]);
  });

  it('an expired lease is not re-bound by a stale REQUEST of another client, and a renewed one is not expired', () => {
    const p = policy();
    const ip = dora(p, mac(1));
    now = START + LEASE_SECONDS * 1000 - 1000;
    expect(ask(p, mac(1), { messageType: 'REQUEST', requestedIp: ip }, { ciaddr: ip })?.options.messageType).toBe('ACK'); // RENEWING
    p.flush();
    now = START + LEASE_SECONDS * 1000 + 1;
    expect(p.sweep()).toBe(0);
    expect(registry.leases.get(ip)!.state).toBe('bound');
    expect(ask(p, mac(2), { messageType: 'REQUEST', requestedIp: ip })?.options.messageType).toBe('NAK');
  });

  it('a sweep keeps declined addresses in quarantine until it ends', () => {
    const p = policy();
    const ip = dora(p, mac(1));
    ask(p, mac(1), { messageType: 'DECLINE', serverId: '10.9.0.1', requestedIp: ip });
    p.flush();
    now = START + LEASE_SECONDS * 1000 + 1; // the quarantine (declineQuarantineSeconds = 3600) lasts longer
    p.sweep();
    expect(registry.leases.get(ip)!.state).toBe('declined');
    expect(ask(p, mac(2), { messageType: 'DISCOVER', requestedIp: ip })!.yiaddr).not.toBe(ip);
    expect(ask(p, mac(1), { messageType: 'DISCOVER', requestedIp: ip })!.yiaddr).not.toBe(ip); // not even the decliner
  });
});

describe('reservations', () => {
  it('a reservation written by another process while running is honoured within 100 ms (its next check)', async () => {
    const p = policy();
    const taken = ask(p, mac(2), { messageType: 'DISCOVER' })!.yiaddr;
    p.flush();
    const admin = open();
    try {
      admin.machines.create({ name: 'r1', macs: [mac(1)], state: 'ready' }, { actor: 'test', reason: 'reservation' });
      admin.leases.reserve({ mac: mac(1), ip: '10.9.0.200', hostname: 'r1' });
      admin.machines.create({ name: 'r3', macs: [mac(3)], state: 'ready' }, { actor: 'test', reason: 'reservation' });
      admin.leases.reserve({ mac: mac(3), ip: taken, hostname: null });
    } finally {
      admin.close();
    }
    // Another connection's commits are looked for every 100 ms (a PRAGMA), not on every batch.
    await new Promise((resolve) => setTimeout(resolve, 150));
    const offer = ask(p, mac(1), { messageType: 'DISCOVER' })!;
    expect(offer.yiaddr).toBe('10.9.0.200');
    expect(offer.options.hostname).toBe('r1');
    expect(dora(p, mac(1))).toBe('10.9.0.200');
    // A reserved address still offered to someone else is not taken from them; the owner gets another meanwhile.
    expect(ask(p, mac(3), { messageType: 'DISCOVER' })!.yiaddr).not.toBe(taken);
    // Nobody else is given a reserved address, even when asking for it.
    expect(ask(p, mac(4), { messageType: 'REQUEST', requestedIp: '10.9.0.200' })?.options.messageType).toBe('NAK');
  });
});
