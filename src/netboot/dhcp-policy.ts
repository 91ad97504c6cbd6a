import { BootrackError, isBootrackError } from '../common/errors.js';
import { systemClock, type Clock, type Logger } from '../common/logger.js';
import { macFromBytes, type Mac } from '../common/mac.js';
import type { Config } from '../config/schema.js';
import { cidrContains, ipToInt, parseCidr, ZERO_IP } from '../protocol/dhcp/ip.js';
import type { DhcpPacket } from '../protocol/dhcp/packet.js';
import { classify, type BootClient } from '../protocol/pxe/classify.js';
import type { Lease, Registry } from '../registry/index.js';
import { bootAnswer } from './dhcp-boot.js';
import { EventLimiter } from './dhcp-events.js';
import { AddressPool } from './dhcp-pool.js';
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

/**
 * Which reply for which request, backed by the registry: full (authoritative) mode with pools,
 * reservations and persisted leases, or proxyDHCP mode that only tells PXE clients what to boot.
 */
export class DhcpPolicy {
  readonly #config: Readonly<Config>;
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #events: EventLimiter;
  readonly #pools: AddressPool[];
  #batchOpen = false;

  constructor(deps: DhcpPolicyDeps) {
    this.#config = deps.config;
    this.#registry = deps.registry;
    this.#log = deps.logger;
    this.#clock = deps.clock ?? systemClock;
    this.#events = deps.events ?? new EventLimiter(this.#clock);
    if (deps.config.dhcp.mode === 'full') validateSubnets(deps.config);
    this.#pools =
      deps.config.dhcp.mode === 'full'
        ? deps.config.dhcp.subnets.map((s) => new AddressPool(s, deps.registry.leases, this.#clock, [deps.config.advertiseAddress]))
        : [];
  }

  /**
   * Makes the writes of the requests handled so far durable (one commit per batch). The server calls
   * it before sending the batch's replies, so no ACK ever leaves for a lease that is not stored.
   */
  flush(): void {
    if (this.#batchOpen) {
      this.#registry.leases.commitBatch(); // on failure the batch stays open and the next flush retries
      this.#batchOpen = false;
    }
  }

  handle(request: PolicyRequest): DhcpPacket | null {
    if (!this.#batchOpen) this.#batchOpen = this.#registry.leases.beginBatch();
    const p = request.packet;
    const type = p.options.messageType;
    // Leases and the machine registry are keyed by Ethernet MACs; other hardware types are not served.
    if (type === undefined || p.htype !== 1 || p.hlen !== 6) return null;
    const mac = macFromBytes(p.chaddr.subarray(0, 6));
    const client = classify(p);
    this.#event(mac, type, { xid: p.xid, client: client.kind, iface: request.iface.name, ...(p.giaddr !== ZERO_IP ? { giaddr: p.giaddr } : {}) });
    const reply = this.#config.dhcp.mode === 'proxy' ? this.#proxy(request, mac, client) : this.#full(request, mac, client);
    if (reply) {
      const t = reply.options.messageType ?? 'unknown';
      this.#event(mac, t, { xid: p.xid, ...(reply.yiaddr !== ZERO_IP ? { ip: reply.yiaddr } : {}), ...(reply.options.bootfileName ? { bootFile: reply.options.bootfileName } : {}) });
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

  #full(request: PolicyRequest, mac: Mac, client: BootClient): DhcpPacket | null {
    const p = request.packet;
    const serverId = request.iface.address;
    const pool = this.#poolFor(request);
    if (!pool) {
      this.#log.debug({ mac, giaddr: p.giaddr, iface: request.iface.name }, 'no configured subnet for this request; ignored');
      return null;
    }
    pool.markTaken(serverId);
    const leases = this.#registry.leases;
    const now = this.#clock.now().getTime();
    const theirs = p.options.serverId !== undefined && p.options.serverId !== serverId;
    switch (p.options.messageType) {
      case 'DISCOVER': {
        if (client.kind !== 'os') this.#enlist(mac, client);
        const reservation = leases.reservationFor(mac);
        const { ip, lease: previous } = this.#choose(pool, mac, p.options.requestedIp, reservation?.ip);
        if (ip === null) {
          this.#log.warn({ mac, subnet: pool.key }, 'address pool exhausted; DISCOVER not answered');
          return null;
        }
        const current = previous?.ip === ip ? previous : leases.get(ip);
        const stillBound = current?.mac === mac && current.state === 'bound' && current.expiresAt.getTime() > now;
        if (!stillBound) {
          leases.put({ ip, mac, clientId: p.options.clientId?.toString('hex') ?? null, hostname: p.options.hostname ?? null, subnet: pool.key, state: 'offered', expiresAt: new Date(now + OFFER_SECONDS * 1000) });
        }
        pool.markTaken(ip);
        return this.#lease(replyTo(p, 'OFFER', serverId), p, pool, ip, mac, client, reservation?.ip === ip ? reservation.hostname : null);
      }
      case 'REQUEST': {
        if (theirs) {
          // RFC 2131 §4.3.2: the client chose another server; our offer is void. Stay silent.
          const offered = leases.findByMac(mac, pool.key);
          if (offered?.state === 'offered') {
            leases.put({ ...offered, state: 'released', expiresAt: new Date(now) });
            pool.markFree(offered.ip);
          }
          return null;
        }
        const ip = p.options.requestedIp ?? (p.ciaddr !== ZERO_IP ? p.ciaddr : null);
        if (ip === null) return null;
        if (!pool.contains(ip)) return this.#nak(p, serverId, `${ip} is not on subnet ${pool.key}`);
        const lease = leases.get(ip);
        const reservation = leases.reservationFor(mac);
        const reserved = reservation?.ip === ip;
        const known = reserved || (lease !== null && lease.mac === mac && lease.state !== 'declined');
        if (!known || !pool.availableTo(ip, mac, lease) || (!reserved && !pool.inRange(ip))) {
          // SELECTING with a stale offer, or INIT-REBOOT/RENEWING with a lease we never gave: we are authoritative.
          return this.#nak(p, serverId, `no lease of ${ip} for ${mac}`);
        }
        if (client.kind !== 'os') this.#enlist(mac, client);
        leases.put({ ip, mac, clientId: p.options.clientId?.toString('hex') ?? null, hostname: p.options.hostname ?? lease?.hostname ?? null, subnet: pool.key, state: 'bound', expiresAt: new Date(now + pool.config.leaseSeconds * 1000) });
        pool.markTaken(ip);
        const ack = this.#lease(replyTo(p, 'ACK', serverId), p, pool, ip, mac, client, reserved ? reservation!.hostname : null);
        ack.ciaddr = p.ciaddr;
        return ack;
      }
      case 'DECLINE': {
        const ip = p.options.requestedIp;
        const lease = ip === undefined ? null : leases.get(ip);
        if (theirs || !lease || lease.mac !== mac) return null;
        // RFC 2131 §4.3.3: the address is in use by someone else; keep it out of the pool for a while.
        leases.put({ ...lease, state: 'declined', expiresAt: new Date(now + this.#config.dhcp.declineQuarantineSeconds * 1000) });
        pool.markTaken(lease.ip);
        this.#log.warn({ mac, ip: lease.ip }, 'address declined by the client; quarantined');
        return null;
      }
      case 'RELEASE': {
        const lease = p.ciaddr === ZERO_IP ? null : leases.get(p.ciaddr);
        if (theirs || !lease || lease.mac !== mac) return null;
        leases.put({ ...lease, state: 'released', expiresAt: new Date(now) });
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

  /** Reservation first, then this MAC's previous address, then the address it asks for, then the pool. */
  #choose(pool: AddressPool, mac: Mac, requested: string | undefined, reserved: string | undefined): { ip: string | null; lease: Lease | null } {
    if (reserved !== undefined && pool.contains(reserved)) return { ip: reserved, lease: null };
    const previous = this.#registry.leases.findByMac(mac, pool.key);
    if (previous && previous.state !== 'declined' && pool.inRange(previous.ip) && pool.availableTo(previous.ip, mac, previous)) return { ip: previous.ip, lease: previous };
    if (requested && pool.inRange(requested) && pool.availableTo(requested, mac)) return { ip: requested, lease: null };
    return { ip: pool.allocate(mac), lease: null };
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

  #event(mac: Mac, type: string, data: Record<string, unknown>): void {
    const name = type.toLowerCase();
    if (!this.#events.allow(mac, name)) return;
    this.#registry.events.append({ mac, kind: 'dhcp', type: name, actor: 'dhcp', data });
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
