import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BootrackError, isBootrackError } from '../../src/common/errors.js';
import { RecordingActionHandler } from '../../src/provisioning/action-handler.js';
import { driverForUrl } from '../../src/provisioning/driver-url.js';
import type { PxeDriver, PxeMachineOptions } from '../../src/provisioning/drivers/pxe/driver.js';
import { FileEntryStore } from '../../src/provisioning/file-entry-store.js';
import type { PowerControl } from '../../src/power/types.js';
import type { Registry } from '../../src/registry/index.js';
import { startApi, type ApiHarness } from '../helpers/api-server.js';
import { startSshd, type TestSshd } from '../helpers/provisioning-sshd.js';

/**
 * The pxe: driver's recovery paths against the REAL appliance API (createApp + the real registry on
 * a temp SQLite file) and a real sshd, in seconds. Bare metal cannot run here, so a POWER TEST
 * DOUBLE stands in for the BMC: it can refuse like a BMC with a wrong password, and on power on/cycle
 * it plays the booted machine (a lease for 127.0.0.1 and the agent's real POST /agent/status
 * ssh_ready) after `bootMs`. The driver reaches the API through a real TCP relay that the test takes
 * down and brings back (the appliance unreachable mid-ready). The same faults with real BMCs, VMs
 * and a real daemon restart: test/e2e/pxe-driver.test.ts.
 */
let api: ApiHarness;
let sshd: TestSshd;
let registry: Registry;
let driver: PxeDriver;
let store: FileEntryStore;
let dir: string;
let relay: { port: number; down(): Promise<void>; up(): Promise<void>; close(): Promise<void> };
const bmc = { refuse: new Set<'status' | 'setNextBoot' | 'act'>(), bootMs: 50, acts: [] as string[] };
const power = new Map<string, 'on' | 'off'>();
const timers = new Set<NodeJS.Timeout>();

const refused = (): BootrackError => new BootrackError('BMC_AUTH_FAILED', 'BMC 127.0.0.1: password invalid', { host: '127.0.0.1', bmcMessage: 'password invalid' });
const powerTestDouble = (r: Registry): PowerControl => {
  registry = r;
  return {
    status: async (ref) => {
      if (bmc.refuse.has('status')) throw refused();
      return power.get(r.machines.get(ref).id) ?? 'off';
    },
    setNextBoot: async () => {
      if (bmc.refuse.has('setNextBoot')) throw refused();
    },
    act: async (ref, action) => {
      if (bmc.refuse.has('act')) throw refused();
      const m = r.machines.get(ref);
      bmc.acts.push(action);
      const on = action !== 'off' && action !== 'soft_off';
      power.set(m.id, on ? 'on' : 'off');
      if (!on) return;
      const t = setTimeout(() => {
        timers.delete(t);
        r.leases.write({ ip: '127.0.0.1', mac: m.interfaces[0]!.mac, subnet: '127.0.0.0/8', state: 'bound', expiresAt: new Date(Date.now() + 3_600_000) });
        const agent = r.tokens.create({ name: `agent-${m.id}-${Date.now()}`, role: 'agent', machineId: m.id }).token;
        void api.call('POST', '/api/v1/agent/status', { token: agent, body: { status: 'ssh_ready', sshHostKey: sshd.hostKey.publicKey } });
      }, bmc.bootMs);
      timers.add(t);
    },
  };
};

/** A TCP relay 127.0.0.1:<port> → the API; down() closes the listener and cuts live connections (ECONNREFUSED). */
async function startRelay(target: URL): Promise<typeof relay> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const up = async (): Promise<void> => {
    if (server) return;
    server = createServer((client) => {
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server!.once('error', reject);
      server!.listen(port, '127.0.0.1', resolve);
    });
  };
  const down = async (): Promise<void> => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  };
  // A port below the ephemeral range (32768+): no outgoing connection (ssh2, fetch) can take it
  // while the relay is down, so up() can always listen on it again.
  for (let i = 0; port === 0 && i < 20; i++) {
    port = 20_000 + Math.floor(Math.random() * 10_000);
    await up().catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE') throw err;
      server = undefined;
      port = 0;
    });
  }
  if (port === 0) throw new Error('no free relay port in 20000-29999');
  return { port, up, down, close: down };
}

beforeAll(async () => {
  sshd = await startSshd();
  api = await startApi({ power: powerTestDouble });
  relay = await startRelay(new URL(api.url));
  dir = mkdtempSync(join(tmpdir(), 'bootrack-pxe-recovery-'));
  store = new FileEntryStore(join(dir, 'store'));
  driver = (await driverForUrl(`pxe:http://127.0.0.1:${relay.port}`, {
    driverOptions: { token: api.driverA },
    privateKeys: { bootstrap: sshd.userKey.privateKeyPath },
    machineOptions: { sshPort: sshd.port, pollIntervalMs: 50, readyTimeoutMs: 20_000 },
  })) as PxeDriver;
});

afterAll(async () => {
  for (const t of timers) clearTimeout(t);
  await relay?.close();
  await api?.close();
  await sshd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('pxe: driver recovery (real API, real sshd, power test double)', () => {
  const opts = (o: PxeMachineOptions = {}): PxeMachineOptions => driver.machineOptionsFor(o);

  it('a BMC refusing the login fails ready at the pre-flight with BMC_AUTH_FAILED: no deploy, no state change, reference kept', async () => {
    registry.machines.create({ name: 'rec-1', macs: ['52:54:00:cc:00:01'], state: 'ready' }, { actor: 'system' });
    const spec = await store.getMachine('r-auth');
    await driver.allocateMachine(new RecordingActionHandler(), spec, opts({ machineName: 'rec-1' }));
    const ref = structuredClone(spec.reference);
    bmc.refuse.add('status');
    try {
      const ah = new RecordingActionHandler();
      const err = await driver.readyMachine(ah, spec, opts()).catch((e: unknown) => e as Error);
      expect(isBootrackError(err, 'BMC_AUTH_FAILED'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/^r-auth: could not read the power state \(machine \S+\): the machine's BMC refused the credentials; fix its power settings .* password invalid$/);
      expect(ah.texts('action')).toEqual([]);
      expect(registry.machines.get('rec-1').state).toBe('allocated');
      expect((await store.getMachine('r-auth')).reference).toEqual(ref);
    } finally {
      bmc.refuse.clear();
    }
    await driver.destroyMachine(new RecordingActionHandler(), spec, opts());
  });

  it('a deploy left unfinished (BMC refused the cycle after deploy) is started over by the next ready: redeploy, cycle, only a fresh ssh_ready counts', async () => {
    registry.machines.create({ name: 'rec-2', macs: ['52:54:00:cc:00:02'], state: 'ready' }, { actor: 'system' });
    const spec = await store.getMachine('r-left');
    await driver.allocateMachine(new RecordingActionHandler(), spec, opts({ machineName: 'rec-2' }));
    bmc.refuse.add('setNextBoot');
    const err = await driver.readyMachine(new RecordingActionHandler(), spec, opts()).catch((e: unknown) => e as Error);
    bmc.refuse.clear();
    expect(isBootrackError(err, 'BMC_AUTH_FAILED'), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/could not (power cycle|power on) it into PXE/);
    expect(registry.machines.get('rec-2').state).toBe('deploying');

    const acts = bmc.acts.length;
    const ah = new RecordingActionHandler();
    const machine = await driver.readyMachine(ah, spec, opts());
    try {
      expect(ah.texts('action').join('\n')).toMatch(/an earlier deploy was left unfinished; starting it over/);
      expect(bmc.acts.slice(acts)).toHaveLength(1);
      expect(registry.machines.get('rec-2').state).toBe('deployed');
      expect((await machine.execute(ah, 'echo redeployed'))?.stdout).toBe('redeployed\n');
    } finally {
      await machine.disconnect();
    }
    const audit = registry.events.list({ machineId: registry.machines.get('rec-2').id }).filter((e) => e.type === 'api.machines.deploy');
    expect(audit.at(-1)?.data).toMatchObject({ restarted: true });
    await driver.destroyMachine(new RecordingActionHandler(), spec, opts());
  });

  it('the appliance unreachable while ready waits: the wait reports it and goes on; the ready completes once it answers again', async () => {
    registry.machines.create({ name: 'rec-3', macs: ['52:54:00:cc:00:03'], state: 'ready' }, { actor: 'system' });
    const spec = await store.getMachine('r-outage');
    await driver.allocateMachine(new RecordingActionHandler(), spec, opts({ machineName: 'rec-3' }));
    bmc.bootMs = 1500;
    const ah = new RecordingActionHandler();
    const ready = driver.readyMachine(ah, spec, opts());
    try {
      // Down once the cycle went out (the machine is booting), up again before it reports.
      for (let i = 0; i < 200 && !ah.texts('progress').some((t) => /waiting for the agent/.test(t)); i++) await new Promise((r) => setTimeout(r, 10));
      await relay.down();
      await new Promise((r) => setTimeout(r, 600));
      await relay.up();
      const machine = await ready;
      try {
        expect((await machine.execute(ah, 'echo survived'))?.stdout).toBe('survived\n');
      } finally {
        await machine.disconnect();
      }
      const progress = ah.texts('progress').join('\n');
      expect(progress).toMatch(/the appliance is not answering \(.*(ECONNREFUSED|ECONNRESET).*\); the machine keeps booting, still waiting/);
      expect(progress).toMatch(/the appliance answers again after \d+ s/);
    } finally {
      bmc.bootMs = 50;
      await relay.up();
    }
    await driver.destroyMachine(new RecordingActionHandler(), spec, opts());
  });

  it('an appliance that stays away fails ready at its deadline with TIMEOUT naming the outage, the reference kept', async () => {
    registry.machines.create({ name: 'rec-4', macs: ['52:54:00:cc:00:04'], state: 'ready' }, { actor: 'system' });
    const spec = await store.getMachine('r-gone');
    await driver.allocateMachine(new RecordingActionHandler(), spec, opts({ machineName: 'rec-4' }));
    const ref = structuredClone(spec.reference);
    bmc.bootMs = 60_000;
    const ah = new RecordingActionHandler();
    const ready = driver.readyMachine(ah, spec, opts({ readyTimeoutMs: 2500 })).catch((e: unknown) => e as Error);
    try {
      for (let i = 0; i < 200 && !ah.texts('progress').some((t) => /waiting for the agent/.test(t)); i++) await new Promise((r) => setTimeout(r, 10));
      await relay.down();
      const err = await ready;
      expect(isBootrackError(err, 'TIMEOUT'), String(err)).toBe(true);
      expect((err as Error).message).toMatch(/did not report SSH ready .*; the appliance has not answered for the last \d+ s: .*(ECONNREFUSED|ECONNRESET)/);
      expect((await store.getMachine('r-gone')).reference).toEqual(ref);
    } finally {
      bmc.bootMs = 50;
      await relay.up();
    }
    await driver.destroyMachine(new RecordingActionHandler(), spec, opts());
  });
});
