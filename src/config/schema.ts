import { z } from 'zod';

/**
 * The whole configuration in one schema. Every field has an embedded default, so an empty file
 * (or none) yields a daemon that serves TFTP and HTTP on all addresses and keeps DHCP off:
 * bootrack must never answer DHCP on a LAN nobody told it to.
 */
const port = z.number().int().min(1).max(65535);
const ipv4 = z.ipv4();
const cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'expected an IPv4 CIDR such as 10.0.0.0/24');

export const subnetSchema = z
  .object({
    cidr,
    /** First and last address handed out from the pool. */
    rangeStart: ipv4,
    rangeEnd: ipv4,
    router: ipv4.optional(),
    dnsServers: z.array(ipv4).default([]),
    domainName: z.string().optional(),
    leaseSeconds: z.number().int().min(60).max(7 * 24 * 3600).default(3600),
  })
  .strict();

export const configSchema = z
  .object({
    /** The address machines use to reach this appliance (boot URLs, TFTP next-server). */
    advertiseAddress: ipv4.default('127.0.0.1'),
    stateDir: z.string().min(1).default('/var/lib/bootrack'),
    log: z
      .object({
        level: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        /** Defaults to <stateDir>/bootrack.db when empty. */
        path: z.string().default(''),
        busyTimeoutMs: z.number().int().min(0).max(60_000).default(5000),
      })
      .strict()
      .prefault({}),
    secrets: z
      .object({
        /** AES-256-GCM key for BMC credentials; created 0600 on first start. Defaults to <stateDir>/secret.key. */
        keyPath: z.string().default(''),
      })
      .strict()
      .prefault({}),
    dhcp: z
      .object({
        /** DHCP is off unless at least one interface is named here. */
        interfaces: z.array(z.string().min(1)).default([]),
        mode: z.enum(['full', 'proxy']).default('full'),
        port: port.default(67),
        proxyPort: port.default(4011),
        subnets: z.array(subnetSchema).default([]),
        /** Addresses refused by a client (DECLINE) stay out of the pool this long. */
        declineQuarantineSeconds: z.number().int().min(0).default(3600),
      })
      .strict()
      .prefault({}),
    tftp: z
      .object({
        enabled: z.boolean().default(true),
        address: ipv4.default('0.0.0.0'),
        port: port.default(69),
        /** Where iPXE boot programs live (Debian's ipxe package). */
        root: z.string().default('/usr/lib/ipxe'),
        maxBlksize: z.number().int().min(512).max(65464).default(1468),
        maxWindowsize: z.number().int().min(1).max(64).default(16),
        maxTransfers: z.number().int().min(1).default(512),
        maxTransfersPerClient: z.number().int().min(1).default(8),
        retries: z.number().int().min(1).max(20).default(6),
        initialTimeoutMs: z.number().int().min(10).max(10_000).default(250),
      })
      .strict()
      .prefault({}),
    http: z
      .object({
        /** Plain HTTP for firmware and iPXE on the provisioning LAN. */
        address: ipv4.default('0.0.0.0'),
        port: port.default(8080),
      })
      .strict()
      .prefault({}),
    api: z
      .object({
        address: ipv4.default('0.0.0.0'),
        port: port.default(8443),
        /** TLS unless explicitly turned off; a self-signed pair is created on first start when none is given. */
        tls: z.boolean().default(true),
        certPath: z.string().default(''),
        keyPath: z.string().default(''),
        maxBodyBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(256 * 1024),
      })
      .strict()
      .prefault({}),
    power: z
      .object({
        /** Background power-state reconciliation; the rate adapts between these bounds. */
        pollMinSeconds: z.number().int().min(1).default(30),
        pollMaxSeconds: z.number().int().min(1).default(300),
        commandTimeoutMs: z.number().int().min(500).max(120_000).default(10_000),
      })
      .strict()
      .prefault({}),
    discovery: z
      .object({
        /** Move commissioned machines to ready without an operator's accept. */
        autoAccept: z.boolean().default(true),
        imageDir: z.string().default(''),
      })
      .strict()
      .prefault({}),
    ipxe: z
      .object({
        /** Directory of iPXE boot programs; Debian ships them in /usr/lib/ipxe. */
        dir: z.string().default('/usr/lib/ipxe'),
        biosFile: z.string().default('undionly.kpxe'),
        uefiX64File: z.string().default('ipxe.efi'),
        uefiArm64File: z.string().default('arm64-efi/ipxe.efi'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type SubnetConfig = z.infer<typeof subnetSchema>;

/** Paths in the config that hold secrets; redacted whenever the config is printed. */
export const SECRET_PATHS: readonly string[] = [];
