import { mkdtempSync } from 'node:fs';
import { startBmc, sleep, BMC_PASS, BMC_USER } from '../test/helpers/power-bmc.js';
import { IpmiDriver } from '../src/power/ipmi/driver.js';
import { silentLogger } from '../src/common/logger.js';
const root = mkdtempSync('/tmp/brkpw-');
const b = await startBmc({ root, index: 1, host: '127.77.0.1', port: 21230 });
const b2 = await startBmc({ root, index: 2, host: '127.77.0.2', port: 21240 });
const d = new IpmiDriver({ ipmipowerPath: 'ipmipower', ipmitoolPath: 'ipmitool', cipherSuite: 3, privilege: 'ADMIN', workarounds: ['opensesspriv'], sessionTimeoutMs: 3000, retransmissionTimeoutMs: 500, commandTimeoutMs: 5000, netns: '' }, silentLogger);
const t = (bmc: typeof b, pass = BMC_PASS) => ({ machineId: 'm' + bmc.index, address: bmc.host, credentials: { username: BMC_USER, password: pass }, options: { port: bmc.port } });
try {
  console.log(await d.status(t(b)));
  await d.setNextBoot(t(b), 'pxe', { persistent: false });
  console.log('bootdev', b.bootdev());
  await d.act(t(b), 'on');
  console.log(await d.status(t(b)), b.vmPid());
  console.log(await d.statusMany([t(b), t(b2)]));
  await sleep(2000);
  await d.act(t(b), 'reset');
  await d.act(t(b), 'off');
  console.log(await d.status(t(b)), b.vmPid());
  try { await d.status(t(b, 'wrong')); } catch (e) { console.log('wrong', (e as any).code, (e as any).message); }
  try { await d.status({ ...t(b), options: { port: 21299 } }); } catch (e) { console.log('closed', (e as any).code, (e as any).message); }
  try { await d.status({ ...t(b), options: { port: b.port, cipherSuite: 17 } }); } catch (e) { console.log('c17', (e as any).code, (e as any).message); }
  console.log(b.chassisLog());
} finally { await b.stop(); await b2.stop(); }
