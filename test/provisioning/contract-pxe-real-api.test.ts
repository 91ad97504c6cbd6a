import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { driverForUrl } from '../../src/provisioning/driver-url.js';
import { FileEntryStore } from '../../src/provisioning/file-entry-store.js';
import type { PowerControl } from '../../src/power/types.js';
import type { Registry } from '../../src/registry/index.js';
import { startApi, type ApiHarness } from '../helpers/api-server.js';
import { freePort, startSshd } from '../helpers/provisioning-sshd.js';
import { driverContract } from './contract.js';

/**
 * The driver contract against the REAL appliance API (createApp + the real registry on a temp
 * SQLite file). What cannot run here is the bare metal: a POWER TEST DOUBLE stands in for the BMC
 * and, on power on/cycle, plays the booted machine — a DHCP lease for 127.0.0.1 and the agent's
 * real POST /api/v1/agent/status {ssh_ready, sshHostKey} with an agent token — so "the machine" is
 * the loopback sshd, on its own 127.0.0.x address. The full PXE e2e (DHCP, TFTP, iPXE, discovery OS) is wired separately.
 */
driverContract('pxe: against the real appliance API (power test double) + real sshd', async () => {
  // Each machine leases its own loopback address (leases are per IP), all served by one sshd.
  const ips = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 1}`);
  const sshd = await startSshd({ listen: ips });
  const power = new Map<string, 'on' | 'off'>();
  const timers = new Set<NodeJS.Timeout>();
  let registry!: Registry;
  let api!: ApiHarness;
  const powerTestDouble = (r: Registry): PowerControl => {
    registry = r;
    return {
      status: async (ref) => power.get(r.machines.get(ref).id) ?? 'off',
      setNextBoot: async () => undefined,
      act: async (ref, action) => {
        const m = r.machines.get(ref);
        const on = action !== 'off' && action !== 'soft_off';
        power.set(m.id, on ? 'on' : 'off');
        if (!on) return;
        const t = setTimeout(() => {
          timers.delete(t);
          r.leases.write({ ip: ips[Number(m.name.split('-')[1]) - 1]!, mac: m.interfaces[0]!.mac, subnet: '127.0.0.0/8', state: 'bound', expiresAt: new Date(Date.now() + 3_600_000) });
          const agent = r.tokens.create({ name: `agent-${m.id}`, role: 'agent', machineId: m.id }).token;
          void api.call('POST', '/api/v1/agent/status', { token: agent, body: { status: 'ssh_ready', sshHostKey: sshd.hostKey.publicKey } });
        }, 50);
        timers.add(t);
      },
    };
  };
  api = await startApi({ power: powerTestDouble });
  for (let i = 1; i <= 8; i++) registry.machines.create({ name: `rack1-${i}`, macs: [`52:54:00:bb:00:0${i}`], state: 'ready' }, { actor: 'system' });
  const dir = mkdtempSync(join(tmpdir(), 'bootrack-pxe-real-'));
  const driver = await driverForUrl(`pxe:${api.url}`, {
    driverOptions: { token: api.driverA },
    privateKeys: { bootstrap: sshd.userKey.privateKeyPath },
    machineOptions: { sshPort: sshd.port, pollIntervalMs: 50, readyTimeoutMs: 20_000 },
  });
  return {
    driver,
    store: new FileEntryStore(join(dir, 'store')),
    machineOptions: driver.machineOptionsFor({}),
    unreachableOptions: driver.machineOptionsFor({ sshPort: await freePort(), readyTimeoutMs: 1500 }),
    observe: async (id) => {
      const m = registry.machines.list({}).find((x) => x.id === id);
      return { exists: m !== undefined && m.owner === 'alice', power: power.get(id) ?? 'unknown' };
    },
    snapshot: async () => JSON.stringify(registry.machines.list({}).map((m) => [m.id, m.state, m.owner, m.allocationKey, power.get(m.id) ?? null])),
    // Someone else (an admin) released it behind the driver's back.
    vanish: async (id) => void (await api.call('DELETE', `/api/v1/allocations/${id}`)),
    remoteDir: dir,
    cleanup: async () => {
      for (const t of timers) clearTimeout(t);
      await api.close();
      await sshd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
