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

/** NICs, storage controllers and disks of a real rack plus QEMU's virtio devices, in no particular order. */
export const DISCOVERY_MODULES = [
  'virtio_pci', 'virtio_net', 'virtio_blk', 'virtio_scsi',
  'e1000', 'e1000e', 'igb', 'igc', 'ixgbe', 'i40e', 'ice', 'bnxt_en', 'tg3', 'bnx2x', 'mlx4_en', 'mlx5_core', 'r8169',
  'ahci', 'ata_piix', 'nvme', 'sd_mod', 'sr_mod', 'megaraid_sas', 'mpt3sas', 'hpsa', 'smartpqi',
  'ipmi_si', 'ipmi_devintf',
] as const;

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
        /** How often lapsed offers and bindings are marked expired in the registry (the lease sweep). */
        leaseSweepSeconds: z.number().int().min(1).max(86_400).default(60),
        /** At most this many leases per subnet are expired per sweep, so one tick never stalls the socket loop. */
        leaseSweepLimit: z.number().int().min(1).max(100_000).default(1000),
        /**
         * Least milliseconds between two lease commits (default 0). Whatever it is, a commit that
         * took t ms spaces the next by 9 t (at most 2 ms): idle, an ACK is committed and sent at
         * once; busy, the ACKs that arrive meanwhile share a commit.
         */
        commitIntervalMs: z.number().min(0).max(100).default(0),
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
        /**
         * Busy-poll budget (µs) while a fast peer's ACK is due: the loop polls instead of sleeping, so
         * lock-step turnaround has no wake-up in it. Peers whose RTT is above it never trigger it. 0 = off.
         */
        busyPollUs: z.number().int().min(0).max(10_000).default(200),
        /** Files up to this size are read once and served from memory to every transfer (boot storms); 0 = off. */
        cacheFileMaxBytes: z.number().int().min(0).default(8 * 1024 * 1024),
        /** Memory budget of that cache. */
        cacheTotalBytes: z.number().int().min(0).default(64 * 1024 * 1024),
        /**
         * Files a symlink in a served root may point at outside that root (exact paths). Debian's ipxe
         * package links /usr/lib/ipxe/ipxe.efi → /boot/ipxe.efi; every other escaping symlink is refused.
         */
        allowedLinkTargets: z.array(z.string().min(1)).default(['/boot/ipxe.efi', '/boot/ipxe.lkrn']),
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
        /** Retries after BMC_BUSY ("insufficient resources for session"), with doubling jittered backoff. */
        busyRetries: z.number().int().min(0).max(10).default(4),
        busyBackoffMs: z.number().int().min(10).max(10_000).default(250),
        /** Most BMCs polled by one batched ipmipower process. */
        pollBatchSize: z.number().int().min(1).max(512).default(64),
        ipmi: z
          .object({
            ipmipowerPath: z.string().min(1).default('ipmipower'),
            ipmitoolPath: z.string().min(1).default('ipmitool'),
            /** 3 = HMAC-SHA1/AES; 17 = HMAC-SHA256/AES, often the only suite a modern BMC allows. Per machine: options.cipherSuite. */
            cipherSuite: z.number().int().min(0).max(17).default(3),
            privilege: z.enum(['USER', 'OPERATOR', 'ADMIN']).default('ADMIN'),
            /** FreeIPMI -W workaround flags (opensesspriv for ipmi_sim; intel20, supermicro20, sun20, ...). */
            workarounds: z.array(z.string().regex(/^[a-z0-9]+$/)).default([]),
            sessionTimeoutMs: z.number().int().min(200).max(60_000).default(5000),
            retransmissionTimeoutMs: z.number().int().min(50).max(10_000).default(1000),
            /** Run IPMI tools inside this network namespace ('' = the daemon's own). */
            netns: z.string().default(''),
          })
          .strict()
          .prefault({}),
        redfish: z
          .object({
            /** Per-request bound for Redfish HTTPS calls. */
            requestTimeoutMs: z.number().int().min(200).max(60_000).default(8000),
          })
          .strict()
          .prefault({}),
        wol: z
          .object({
            /** The provisioning interface magic packets leave from ('' = refuse to guess on a multi-homed host). */
            interface: z.string().default(''),
            port: z.number().int().min(1).max(65535).default(9),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    discovery: z
      .object({
        /** Move commissioned machines to ready without an operator's accept. */
        autoAccept: z.boolean().default(true),
        /** Operators' authorized_keys lines for root in the discovery OS (passed as bootrack.ssh_keys); none = no SSH login. */
        sshPublicKeys: z.array(z.string().regex(/^(ssh-|ecdsa-|sk-)\S+ \S+/, 'expected an OpenSSH public key line')).max(32).default([]),
        imageDir: z.string().default(''),
        /**
         * The Debian kernel package behind the discovery OS. The generic flavour is the default: the
         * cloud flavour has no ahci, e1000e, igb, ixgbe, i40e or bnxt_en, so it cannot see a real rack.
         */
        kernelPackage: z.string().regex(/^linux-image-[a-z0-9.+-]+$/).default('linux-image-amd64'),
        /** Kernel modules loaded at boot (with their dependencies); ones the kernel lacks are listed in the manifest. */
        modules: z.array(z.string().regex(/^[A-Za-z0-9_-]+$/)).default([...DISCOVERY_MODULES]),
        /** Downloaded .debs and unpacked trees, reused between builds. Defaults to <stateDir>/cache/image. */
        cacheDir: z.string().default(''),
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
