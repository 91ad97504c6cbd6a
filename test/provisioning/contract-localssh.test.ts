import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DriverRegistry } from '../../src/provisioning/driver-url.js';
import { FileEntryStore } from '../../src/provisioning/file-entry-store.js';
import { LocalSshDriver } from '../helpers/provisioning-localssh-driver.js';
import { freePort, startSshd } from '../helpers/provisioning-sshd.js';
import { driverContract } from './contract.js';

/** The contract suite proven against the localssh: TEST DOUBLE driver and a real sshd on loopback. */
driverContract('localssh: (test double) + real sshd', async () => {
  const sshd = await startSshd();
  const dir = mkdtempSync(join(tmpdir(), 'bootrack-contract-'));
  const registry = new DriverRegistry({});
  registry.register('localssh', LocalSshDriver);
  const driver = (await registry.driverForUrl(`localssh:${join(dir, 'boxes')}/`, {
    driverOptions: { port: sshd.port, hostKey: sshd.hostKey.publicKey },
    privateKeys: { bootstrap: sshd.userKey.privateKeyPath },
  })) as LocalSshDriver;
  const boxes = join(dir, 'boxes');
  return {
    driver,
    store: new FileEntryStore(join(dir, 'store')),
    machineOptions: { readyTimeoutMs: 20_000 },
    unreachableOptions: { sshPort: await freePort(), readyTimeoutMs: 1200 },
    observe: async (id) => {
      const box = await driver.box(id);
      return box ? { exists: true, power: box.power } : { exists: false, power: 'unknown' };
    },
    snapshot: async () => {
      const files = (() => {
        try {
          return readdirSync(boxes).sort();
        } catch {
          return [];
        }
      })();
      return JSON.stringify(files.map((f) => [f, readFileSync(join(boxes, f), 'utf8')]));
    },
    vanish: async (id) => rmSync(join(boxes, `${id}.json`)),
    remoteDir: dir, // the machines are this host: keep their files in the test's temp dir
    cleanup: async () => {
      await sshd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
