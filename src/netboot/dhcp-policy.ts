import { BootrackError, isBootrackError } from '../common/errors.js';
import { systemClock, type Clock, type Logger } from '../common/logger.js';
import type { Mac } from '../common/mac.js';
import type { Config } from '../config/schema.js';
import { cidrContains, ipToInt, parseCidr, ZERO_IP } from '../protocol/dhcp/ip.js';
import type { DhcpPacket } from '../protocol/dhcp/packet.js';
import { classify, type BootClient } from '../protocol/pxe/classify.js';
import type { EventInput, LeaseRecord, Registry } from '../registry/index.js';
import { bootAnswer } from './dhcp-boot.js';
import { EventLimiter } from './dhcp-events.js';
import { LeaseTable } from './dhcp-leases.js';
import { AddressPool } from './dhcp-pool.js';
import { ReservationCache } from './dhcp-reservations.js';
import { addBootAnswer, addLeaseTimes, addSubnetOptions, replyTo } from './dhcp-reply.js';

/** What the DHCP server hands the policy (structurally the server's DhcpRequest; netboot never imports servers). */
export interface PolicyRequest {
  packet: DhcpPacket;
  iface: { name: string; address: string };
  pxePort: boolean;
  source: { address: string; port: number };
}

export interface DhcpPolicyDeps {
  config: Readonly<Config>;
  registry: Registry;
  logger: Logger;
  clock?: Clock;
  events?: EventLimiter;
}

const OFFER_SECONDS = 60;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** chaddr's Ethernet address in canonical form (lower-case, colons) without parsing a string. */
function macOf(chaddr: Buffer): Mac {
  return `${HEX[chaddr[0]!]}:${HEX[chaddr[1]!]}:${HEX[chaddr[2]!]}:${HEX[chaddr[3]!]}:${HEX[chaddr[4]!]}:${HEX[chaddr[5]!]}` as Mac;
}

/**
 * Which reply for which request: full (authoritative) mode with pools, reservations and persisted
 * leases, or proxyDHCP mode that only tells PXE clients what to boot. State changes are applied to
 * the in-memory lease table and queued; `flush` makes them durable in one registry transaction
 * (leases and the batch's timeline events together) before the server sends the batch's replies.
 */
export class DhcpPolicy {
  readonly #config: Readonly<Config>;
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #limiter: EventLimiter;
  readonly #table: LeaseTable | null;
  readonly #pools: AddressPool[];
  readonly #reservations: ReservationCache | null;
  readonly #serverIds = new Set<string>();
  #events: EventInput[] = [];
  readonly #commit: () => void;
  /** Whether the reservation cache was checked since the last flush (once per batch). */
  #checked = false;

  constructor(deps: DhcpPolicyDeps) {
    this.#config = deps.config;
    this.#registry = deps.registry;
    this.#log = deps.logger;
    this.#clock = deps.clock ?? systemClock;
    this.#limiter = deps.events ?? new EventLimiter(this.#clock);
    const full = deps.config.dhcp.mode === 'full';
    if (full) validateSubnets(deps.config);
    this.#table = full ? new LeaseTable(deps.registry.leases) : null;
    this.#reservations = full ? new ReservationCache(deps.registry.leases) : null;
    this.#commit = deps.registry.writer(() => {
      this.#table?.flush();
      for (const e of this.#events) this.#registry.events.append(e);
    });
    const now = this.#clock.now().getTime();
    this.#pools = this.#table
      ? deps.config.dhcp.subnets.map((s) => new AddressPool(s, this.#table!, this.#reservations!, [deps.config.advertiseAddress], now))
      : [];
  }

  /**
   * Makes the state changes of the requests handled so far durable, in one write transaction. The
   * server calls it before sending the batch's replies, so no ACK ever leaves for a lease that is
   * not stored. On failure everything stays queued and the next flush retries.
   *
   * Durability matches Kea's memfile backend, which appends each lease to its CSV with a plain
   * write and no fsync before it answers: a committed SQLite transaction in WAL mode with
   * synchronous=NORMAL (registry/db.ts) is in the OS when the ACK leaves, so it survives a crash of
   * the daemon; like Kea's last CSV lines, the newest commits may be lost on power loss.
   */
  flush(): void {
    this.#checked = false;
    const table = this.#table;
    if ((table === null || table.pending === 0) && this.#events.length === 0) return;
    this.#commit();
    this.#events = [];
  }

  /**
   * Durable changes queued so far, ever: the server sends a reply at once unless handling it queued
   * one (a binding, a release), which must be committed first. Timeline events do not count: an
   * OFFER need not wait for its event row.
   */
  get queuedWrites(): number {
    return this.#table?.queued ?? 0;
  }

  /**
   * The lease sweep (the server calls it every dhcp.leaseSweepSeconds): marks lapsed offers and
   * bindings expired, at most `limit` per subnet per call so one tick never stalls the socket loop.
   * Returns how many leases it expired.
   */
  sweep(limit = this.#config.dhcp.leaseSweepLimit): number {
    if (this.#table === null) return 0;
    this.flush();
    this.#reservations!.refresh(true);
    const now = this.#clock.now().getTime();
    let expired = 0;
    for (const pool of this.#pools) expired += this.#table.sweep(pool.key, now, limit).length;
    if (expired > 0) this.#log.debug({ expired }, 'expired lapsed DHCP leases');
    return expired;
  }

  handle(request: PolicyRequest): DhcpPacket | null {
    const p = request.packet;
    const type = p.options.messageType;
    // Leases and the machine registry are keyed by Ethernet MACs; other hardware types are not served.
    if (type === undefined || p.htype !== 1 || p.hlen !== 6) return null;
    const now = this.#clock.now().getTime();
    const mac = macOf(p.chaddr);
    const client = classify(p);
    if (this.#limiter.allow(mac, type, now)) {
      this.#event(mac, type, { xid: p.xid, client: client.kind, iface: request.iface.name, ...(p.giaddr !== ZERO_IP ? { giaddr: p.giaddr } : {}) });
    }
    const reply = this.#config.dhcp.mode === 'proxy' ? this.#proxy(request, mac, client) : this.#full(request, mac, client, now);
    const replyType = reply?.options.messageType;
    if (reply && replyType && this.#limiter.allow(mac, replyType, now)) {
      this.#event(mac, replyType, { xid: p.xid, ...(reply.yiaddr !== ZERO_IP ? { ip: reply.yiaddr } : {}), ...(reply.options.bootfileName ? { bootFile: reply.options.bootfileName } : {}) });
    }
    return reply;
  }

  /**
   * The pool for a request (RFC 2131 §4.3.1): by giaddr for relayed requests (several subnets), by
   * ciaddr for a client that already has an address (RENEWING, INFORM, possibly routed), else the
   * subnet of the interface it arrived on.
   */
  #poolFor(request: PolicyRequest): AddressPool | null {
    const p = request.packet;
    if (p.giaddr !== ZERO_IP) return this.#pools.find((pool) => pool.contains(p.giaddr)) ?? null;
    const byClient = p.ciaddr !== ZERO_IP ? this.#pools.find((pool) => pool.contains(p.ciaddr)) : undefined;
    return byClient ?? this.#pools.find((pool) => pool.contains(request.iface.address)) ?? null;
  }

  #full(request: PolicyRequest, mac: Mac, client: BootClient, now: number): DhcpPacket | null {
    const p = request.packet;
    const serverId = request.iface.address;
    if (!this.#serverIds.has(serverId)) {
      this.#serverIds.add(serverId);
      for (const pool of this.#pools) pool.never(serverId); // this server's own address is never leased
    }
    const pool = this.#poolFor(request);
    if (!pool) {
      this.#log.debug({ mac, giaddr: p.giaddr, iface: request.iface.name }, 'no configured subnet for this request; ignored');
      return null;
    }
    const table = this.#table!;
    const reservations = this.#reservations!;
    if (!this.#checked) {
      reservations.refresh();
      this.#checked = true;
    }
    const theirs = p.options.serverId !== undefined && p.options.serverId !== serverId;
    switch (p.options.messageType) {
      case 'DISCOVER': {
        if (client.kind !== 'os') this.#enlist(mac, client);
        const reservation = reservations.reservationFor(mac);
        const ip = this.#choose(pool, mac, p.options.requestedIp, reservation?.ip, now);
        if (ip === null) {
          this.#log.warn({ mac, subnet: pool.key }, 'address pool exhausted; DISCOVER not answered');
          return null;
        }
        const current = table.get(ip);
        const stillBound = current?.mac === mac && current.state === 'bound' && current.expiresAt > now;
        if (!stillBound) this.#put(pool, ip, mac, p, 'offered', now + OFFER_SECONDS * 1000, now, current);
        pool.markTaken(ip);
        return this.#lease(replyTo(p, 'OFFER', serverId), p, pool, ip, mac, client, reservation?.ip === ip ? reservation.hostname : null);
      }
      case 'REQUEST': {
        if (theirs) {
          // RFC 2131 §4.3.2: the client chose another server; our offer is void. Stay silent.
          const offered = table.newest(mac, pool.key);
          if (offered?.state === 'offered') {
            table.put({ ...offered, state: 'released', expiresAt: now, updatedAt: now });
            pool.markFree(offered.ip);
          }
          return null;
        }
        const ip = p.options.requestedIp ?? (p.ciaddr !== ZERO_IP ? p.ciaddr : null);
        if (ip === null) return null;
        if (!pool.contains(ip)) return this.#nak(p, serverId, `${ip} is not on subnet ${pool.key}`);
        const lease = table.get(ip);
        const reservation = reservations.reservationFor(mac);
        const reserved = reservation?.ip === ip;
        const known = reserved || (lease !== undefined && lease.mac === mac && lease.state !== 'declined');
        if (!known || !pool.availableTo(ip, mac, now, lease) || (!reserved && !pool.inRange(ip))) {
          // SELECTING with a stale offer, or INIT-REBOOT/RENEWING with a lease we never gave: we are authoritative.
          return this.#nak(p, serverId, `no lease of ${ip} for ${mac}`);
        }
        if (client.kind !== 'os') this.#enlist(mac, client);
        this.#put(pool, ip, mac, p, 'bound', now + pool.config.leaseSeconds * 1000, now, lease);
        pool.markTaken(ip);
        const ack = this.#lease(replyTo(p, 'ACK', serverId), p, pool, ip, mac, client, reserved ? reservation.hostname : null);
        ack.ciaddr = p.ciaddr;
        return ack;
      }
      case 'DECLINE': {
        const ip = p.options.requestedIp;
        const lease = ip === undefined ? undefined : table.get(ip);
        if (theirs || !lease || lease.mac !== mac) return null;
        // RFC 2131 §4.3.3: the address is in use by someone else; keep it out of the pool for a while.
        table.put({ ...lease, state: 'declined', expiresAt: now + this.#config.dhcp.declineQuarantineSeconds * 1000, updatedAt: now });
        pool.markTaken(lease.ip);
        this.#log.warn({ mac, ip: lease.ip }, 'address declined by the client; quarantined');
        return null;
      }
      case 'RELEASE': {
        const lease = p.ciaddr === ZERO_IP ? undefined : table.get(p.ciaddr);
        if (theirs || !lease || lease.mac !== mac) return null;
        table.put({ ...lease, state: 'released', expiresAt: now, updatedAt: now });
        pool.markFree(lease.ip);
        return null;
      }
      case 'INFORM': {
        // RFC 2131 §4.3.5: configuration only; no yiaddr and no lease time.
        const ack = replyTo(p, 'ACK', serverId);
        ack.ciaddr = p.ciaddr;
        addSubnetOptions(ack, pool);
        addBootAnswer(ack, p, client, bootAnswer(client, mac, this.#config), false);
        return ack;
      }
      default:
        return null;
    }
  }

  #put(pool: AddressPool, ip: string, mac: Mac, p: DhcpPacket, state: 'offered' | 'bound', expiresAt: number, now: number, before: LeaseRecord | undefined): void {
    const clientId = p.options.clientId?.toString('hex') ?? null;
    const hostname = p.options.hostname ?? (before?.mac === mac ? before.hostname : null);
    this.#table!.put({ ip, mac, clientId, hostname, subnet: pool.key, state, expiresAt, updatedAt: now });
  }

  #lease(reply: DhcpPacket, request: DhcpPacket, pool: AddressPool, ip: string, mac: Mac, client: BootClient, hostname: string | null): DhcpPacket {
    reply.yiaddr = ip;
    addSubnetOptions(reply, pool);
    addLeaseTimes(reply, pool.config.leaseSeconds);
    if (hostname) reply.options.hostname = hostname;
    addBootAnswer(reply, request, client, bootAnswer(client, mac, this.#config), false);
    return reply;
  }

  #nak(request: DhcpPacket, serverId: string, message: string): DhcpPacket {
    const nak = replyTo(request, 'NAK', serverId);
    nak.options.message = message;
    return nak;
  }

  /**
   * Reservation first (when no one else holds it), then this MAC's previous address, then the
   * address it asks for, then the pool.
   */
  #choose(pool: AddressPool, mac: Mac, requested: string | undefined, reserved: string | undefined, now: number): string | null {
    if (reserved !== undefined && pool.contains(reserved)) {
      if (pool.availableTo(reserved, mac, now)) return reserved;
      this.#log.warn({ mac, ip: reserved }, 'reserved address is held by another client; offering a dynamic one until it is free');
    }
    const previous = this.#table!.newest(mac, pool.key);
    if (previous && previous.state !== 'declined' && pool.inRange(previous.ip) && pool.availableTo(previous.ip, mac, now, previous)) return previous.ip;
    if (requested && pool.inRange(requested) && pool.availableTo(requested, mac, now)) return requested;
    return pool.allocate(mac, now);
  }

  /**
   * proxyDHCP (PXE 2.1 §2.2.2, as Pixiecore and dnsmasq do it): answer PXE clients only, never with
   * an address. DISCOVER on 67 → OFFER with yiaddr 0, 60 "PXEClient" and the boot file; REQUEST on
   * 4011 → ACK with the boot file, back to the source port. OS clients are left to the LAN's server.
   */
  #proxy(request: PolicyRequest, mac: Mac, client: BootClient): DhcpPacket | null {
    const p = request.packet;
    if (client.kind === 'os' || client.kind === 'unsupported') return null;
    const type = p.options.messageType;
    let reply: DhcpPacket;
    if (!request.pxePort && type === 'DISCOVER') {
      this.#enlist(mac, client);
      reply = replyTo(p, 'OFFER', request.iface.address);
    } else if (request.pxePort && (type === 'REQUEST' || type === 'INFORM') && client.kind !== 'http') {
      reply = replyTo(p, 'ACK', request.iface.address);
      reply.ciaddr = p.ciaddr;
    } else return null;
    addBootAnswer(reply, p, client, bootAnswer(client, mac, this.#config), true);
    return reply;
  }

  /** An unknown MAC that PXE-boots becomes a machine in state new (DESIGN.md: enlist, then discover). */
  #enlist(mac: Mac, client: BootClient): void {
    const registry = this.#registry;
    if (registry.machines.findId(mac) !== null) return;
    const platform = client.kind === 'os' || client.kind === 'unsupported' ? null : client.platform;
    try {
      const machine = registry.machines.create(
        {
          macs: [mac],
          firmware: platform === null ? null : platform === 'bios' ? 'bios' : 'uefi',
          // amd64/arm64: the names the API, iPXE scripts and the discovery agent use.
          arch: platform === 'uefi-x64' ? 'amd64' : platform === 'uefi-arm64' ? 'arm64' : null,
          state: 'new',
        },
        { actor: 'dhcp', reason: `network boot (${client.kind}) from an unknown MAC` },
      );
      this.#log.info({ mac, machine: machine.id, client: client.kind }, 'enlisted a new machine');
    } catch (err) {
      // Enlisting must never cost the client its answer; a MAC enlisted meanwhile is not even a problem.
      if (!isBootrackError(err, 'DUPLICATE_MAC')) this.#log.warn({ err, mac }, 'could not enlist the machine; answering anyway');
    }
  }

  /** Timeline events are queued and written with the batch's leases (one commit), already rate-limited. */
  #event(mac: Mac, type: string, data: Record<string, unknown>): void {
    this.#events.push({ mac, kind: 'dhcp', type: type.toLowerCase(), actor: 'dhcp', data });
  }
}

/** Full mode needs at least one subnet, and each range must lie inside its subnet, start before its end. */
export function validateSubnets(config: Readonly<Config>): void {
  if (config.dhcp.subnets.length === 0) {
    throw new BootrackError('DHCP_CONFIG_INVALID', 'dhcp.mode full needs at least one entry in dhcp.subnets', {});
  }
  for (const s of config.dhcp.subnets) {
    const cidr = parseCidr(s.cidr);
    if (!cidrContains(cidr, s.rangeStart) || !cidrContains(cidr, s.rangeEnd) || ipToInt(s.rangeStart) > ipToInt(s.rangeEnd)) {
      throw new BootrackError('DHCP_CONFIG_INVALID', `range ${s.rangeStart}-${s.rangeEnd} is not an ordered range inside ${s.cidr}`, { subnet: s.cidr });
    }
  }
}
