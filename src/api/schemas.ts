import { z } from 'zod';
import { isMac } from '../common/mac.js';
import { MACHINE_STATES } from '../registry/index.js';

/**
 * Every request and response shape of the REST API, in zod. The same schemas validate requests
 * (strict: an unknown field is a 400 naming it) and generate the OpenAPI document, so the two
 * cannot drift. Schemas carry `.meta({ id })` so the document names them under components.
 */

/** A MAC in any spelling parseMac accepts; a malformed one maps to INVALID_MAC, not VALIDATION_FAILED. */
export const macString = z
  .string()
  .max(32)
  .refine(isMac, { message: 'not a valid 48-bit MAC address', params: { code: 'INVALID_MAC' } })
  .meta({ description: 'MAC address: aa:bb:cc:dd:ee:ff, aa-bb-.., aabb.ccdd.eeff or bare hex', example: '52:54:00:12:34:56' });

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'letters, digits, _ . - and at most 63 characters');
const tag = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,62}$/, 'letters, digits, _ . : - and at most 63 characters');
const arch = z.string().regex(/^[a-z0-9_]{1,16}$/, 'e.g. amd64, arm64');
const firmware = z.enum(['bios', 'uefi']);
const sshKey = z
  .string()
  .max(16_384)
  .regex(/^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-(ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/=]+( [^\r\n]*)?$/, 'an OpenSSH public key line');
const machineState = z.enum(MACHINE_STATES);

export const errorBody = z
  .object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()) })
  .meta({ id: 'Error', description: 'Every error: a stable code from the catalog, a message for humans, details naming the offending values' });

// ---- machines -------------------------------------------------------------------------------

export const machineView = z
  .object({
    id: z.string(),
    name: z.string(),
    state: machineState,
    arch: z.string().nullable(),
    firmware: firmware.nullable(),
    tags: z.array(z.string()),
    facts: z.record(z.string(), z.unknown()),
    cpuCount: z.number().nullable(),
    memoryMib: z.number().nullable(),
    diskGib: z.number().nullable(),
    interfaces: z.array(z.object({ mac: z.string(), name: z.string().nullable(), boot: z.boolean() })),
    power: z.object({
      type: z.string().nullable(),
      address: z.string().nullable(),
      options: z.record(z.string(), z.unknown()),
      hasCredentials: z.boolean(),
      state: z.enum(['on', 'off', 'unknown', 'error']),
      checkedAt: z.string().nullable(),
    }),
    owner: z.string().nullable(),
    allocationKey: z.string().nullable(),
    allocatedAt: z.string().nullable(),
    bootProfile: z
      .object({
        kind: z.enum(['ephemeral', 'image']),
        sshPublicKeys: z.array(z.string()),
        kernel: z.string().optional(),
        initrd: z.string().optional(),
        cmdline: z.string().optional(),
        image: z.string().optional(),
      })
      .nullable(),
    sshHostKey: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    stateChangedAt: z.string(),
    ipAddresses: z.array(z.string()).meta({ description: 'addresses of active DHCP leases of its MACs' }),
  })
  .meta({ id: 'MachineView' });

export const machineList = z.object({ items: z.array(machineView) }).meta({ id: 'MachineList' });

export const machineQuery = z.strictObject({
  state: machineState.optional(),
  tag: tag.optional(),
  owner: z.string().max(128).optional(),
  arch: arch.optional(),
  mac: macString.optional(),
});

export const machineCreate = z
  .strictObject({
    name: name.optional(),
    macs: z.array(macString).min(1).max(64),
    arch: arch.nullable().optional(),
    firmware: firmware.nullable().optional(),
    tags: z.array(tag).max(64).optional(),
  })
  .meta({ id: 'MachineCreate' });

export const machinePatch = z
  .strictObject({
    name: name.optional(),
    arch: arch.nullable().optional(),
    firmware: firmware.nullable().optional(),
    tags: z.array(tag).max(64).optional(),
  })
  .meta({ id: 'MachinePatch' });

export const tagsChange = z.strictObject({ add: z.array(tag).max(64).optional(), remove: z.array(tag).max(64).optional() }).meta({ id: 'TagsChange' });

export const interfaceAdd = z.strictObject({ mac: macString, name: z.string().regex(/^[A-Za-z0-9_.:-]{1,32}$/).optional() }).meta({ id: 'InterfaceAdd' });

export const powerSettings = z
  .strictObject({
    type: z.string().regex(/^[a-z0-9_-]{1,32}$/).nullable(),
    address: z.string().max(255).nullable().optional(),
    options: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    username: z.string().max(255).optional(),
    password: z.string().max(1024).optional(),
  })
  .meta({ id: 'PowerSettings', description: 'username/password are write-only: stored encrypted, never returned' });

export const emptyBody = z.strictObject({}).meta({ id: 'Empty' });

// ---- allocation and deploy ------------------------------------------------------------------

export const constraints = z
  .strictObject({
    name: z.string().max(63).optional(),
    mac: macString.optional(),
    arch: arch.optional(),
    minCpus: z.number().int().min(0).max(100_000).optional(),
    minMemoryMib: z.number().int().min(0).max(1 << 30).optional(),
    minDiskGib: z.number().int().min(0).max(1 << 30).optional(),
    tags: z.array(tag).max(64).optional(),
    notTags: z.array(tag).max(64).optional(),
  })
  .meta({ id: 'Constraints' });

export const allocationRequest = z
  .strictObject({
    constraints: constraints.default({}),
    requestKey: z.string().min(1).max(128).optional(),
    owner: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$/).optional().meta({ description: 'admin tokens only; drivers allocate under their own owner' }),
  })
  .meta({ id: 'AllocationRequest' });

export const allocationResult = z.object({ machine: machineView, created: z.boolean() }).meta({ id: 'AllocationResult' });

export const bootProfileInput = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('ephemeral'), kernel: z.string().max(255).optional(), initrd: z.string().max(255).optional(), cmdline: z.string().max(2048).optional() }),
    z.strictObject({ kind: z.literal('image'), image: z.string().min(1).max(255), cmdline: z.string().max(2048).optional() }),
  ])
  .meta({ id: 'BootProfileInput', description: "ephemeral: the discovery OS with the allocation's keys; image: reserved for image-to-disk deploys" });

export const deployRequest = z
  .strictObject({ sshPublicKeys: z.array(sshKey).min(1).max(32), profile: bootProfileInput.optional() })
  .meta({ id: 'DeployRequest' });

// ---- power --------------------------------------------------------------------------------

export const powerAction = z.strictObject({ action: z.enum(['on', 'off', 'cycle', 'reset', 'soft_off']) }).meta({ id: 'PowerAction' });
export const powerStatus = z.object({ state: z.enum(['on', 'off', 'unknown', 'error']) }).meta({ id: 'PowerStatus' });
export const powerActionResult = z.object({ action: z.string(), done: z.boolean() }).meta({ id: 'PowerActionResult' });
export const bootDevice = z.strictObject({ device: z.enum(['pxe', 'disk']), persistent: z.boolean() }).meta({ id: 'BootDevice' });

// ---- events, timeline, leases -----------------------------------------------------------------

export const eventRecord = z
  .object({
    id: z.number(),
    at: z.string(),
    machineId: z.string().nullable(),
    mac: z.string().nullable(),
    kind: z.enum(['state', 'dhcp', 'tftp', 'http', 'agent', 'power', 'audit']),
    type: z.string(),
    actor: z.string(),
    fromState: z.string().nullable(),
    toState: z.string().nullable(),
    reason: z.string().nullable(),
    data: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'Event' });

export const eventList = z.object({ items: z.array(eventRecord) }).meta({ id: 'EventList' });

const limit = z.coerce.number().int().min(1).max(10_000).optional();
export const eventQuery = z.strictObject({
  machine: z.string().max(128).optional(),
  mac: macString.optional(),
  kind: z.enum(['state', 'dhcp', 'tftp', 'http', 'agent', 'power', 'audit']).optional(),
  since: z.coerce.number().int().min(0).optional(),
  limit,
});
export const machineEventQuery = z.strictObject({ since: z.coerce.number().int().min(0).optional(), limit });

export const timelineQuery = z.strictObject({ gapSeconds: z.coerce.number().int().min(1).max(86_400).optional(), limit });

const timelineStep = z.object({ at: z.string(), kind: z.string(), type: z.string(), mac: z.string().nullable(), summary: z.string(), data: z.record(z.string(), z.unknown()) });
export const timelineBody = z
  .object({
    machine: z.object({ id: z.string(), name: z.string(), macs: z.array(z.string()) }),
    boots: z.array(
      z.object({
        startedAt: z.string(),
        endedAt: z.string(),
        reached: z.string(),
        stalledAt: z.string().nullable(),
        verdict: z.string(),
        inProgress: z.boolean(),
        steps: z.array(timelineStep),
      }),
    ),
    before: z.array(timelineStep),
  })
  .meta({ id: 'Timeline' });

export const leaseQuery = z.strictObject({ mac: macString.optional(), subnet: z.string().max(32).optional(), active: z.enum(['true', 'false']).optional(), limit });
export const leaseList = z
  .object({
    items: z.array(z.object({ ip: z.string(), mac: z.string().nullable(), clientId: z.string().nullable(), hostname: z.string().nullable(), subnet: z.string(), state: z.string(), expiresAt: z.string(), updatedAt: z.string() })),
  })
  .meta({ id: 'LeaseList' });

// ---- tokens -------------------------------------------------------------------------------

export const tokenRecord = z
  .object({
    id: z.string(),
    name: z.string(),
    role: z.enum(['admin', 'driver', 'agent']),
    owner: z.string().nullable(),
    machineId: z.string().nullable(),
    singleUse: z.boolean(),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    usedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .meta({ id: 'TokenRecord' });

export const tokenCreate = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}$/),
    role: z.enum(['admin', 'driver', 'agent']),
    owner: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}$/).optional().meta({ description: 'driver tokens: the owner allocations are made under (defaults to name)' }),
    machine: z.string().max(128).optional().meta({ description: 'agent tokens: the machine (id, name or MAC) it speaks for' }),
    expiresInSeconds: z.number().int().min(60).max(10 * 365 * 86_400).optional(),
  })
  .meta({ id: 'TokenCreate' });

export const tokenCreated = z.object({ token: z.string().meta({ description: 'shown exactly once' }), record: tokenRecord }).meta({ id: 'TokenCreated' });
export const tokenList = z.object({ items: z.array(tokenRecord) }).meta({ id: 'TokenList' });

// ---- agent --------------------------------------------------------------------------------

export const factsSchema = z
  .strictObject({
    cpu: z.strictObject({ model: z.string().max(256), sockets: z.number().int().min(0).max(1024), cores: z.number().int().min(0).max(1 << 20), threads: z.number().int().min(0).max(1 << 20) }),
    memoryMib: z.number().int().min(0).max(1 << 30),
    disks: z
      .array(
        z.strictObject({
          name: z.string().max(64),
          sizeBytes: z.number().int().min(0),
          model: z.string().max(256).nullable(),
          serial: z.string().max(256).nullable(),
          rotational: z.boolean(),
        }),
      )
      .max(256),
    nics: z.array(z.strictObject({ mac: macString, driver: z.string().max(64).nullable(), link: z.boolean(), speedMbps: z.number().int().min(0).nullable() })).max(256),
    lldp: z
      .array(z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])))
      .max(256)
      .default([])
      .meta({ description: 'LLDP neighbours; the appliance appends those it decodes from lldpFrames (each: interface, chassisId, portId, ttl, portDescription?, systemName?, systemDescription?, capabilities?, managementAddresses?)' }),
    lldpFrames: z
      .record(z.string().regex(/^[A-Za-z0-9_.:@-]{1,15}$/, 'a Linux interface name'), z.array(z.string().max(3200).regex(/^[0-9a-f]*$/, 'lowercase hex')).max(64))
      .refine((r) => Object.keys(r).length <= 64, { message: 'at most 64 interfaces' })
      .optional()
      .meta({ description: 'raw LLDPDUs (hex, the bytes after the Ethernet header) received per interface; decoded by the appliance, a bad one is logged and skipped' }),
    dmi: z.strictObject({ vendor: z.string().max(256).nullable(), product: z.string().max(256).nullable(), serial: z.string().max(256).nullable(), uuid: z.string().max(64).nullable() }),
    bmc: z
      .strictObject({ address: z.string().max(255), mac: macString.optional() })
      .nullable()
      .meta({ description: "the local BMC's LAN address (IPMI Get LAN Configuration Parameters through /dev/ipmi0); null when none answered" }),
    firmware,
    arch,
  })
  .meta({ id: 'Facts' });

export const factsRequest = z
  .strictObject({ facts: factsSchema, mac: macString.optional().meta({ description: 'the MAC the agent booted from; must belong to the token’s machine' }) })
  .meta({ id: 'FactsRequest' });

export const agentStatus = z
  .strictObject({
    status: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/).meta({ description: 'booted, ssh_ready, error, or another progress word' }),
    message: z.string().max(2048).optional(),
    sshHostKey: sshKey.optional(),
  })
  .meta({ id: 'AgentStatus' });

export const agentAck = z.object({ machine: z.string(), state: machineState }).meta({ id: 'AgentAck' });

export const health = z.object({ status: z.literal('ok'), version: z.string() }).meta({ id: 'Health' });
