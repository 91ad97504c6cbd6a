import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Real peers for the discovery agent's LLDP and BMC facts, run inside a network namespace the
 * test created (the caller's `spawn` starts them there and stops them on close):
 *  - Debian's lldpd on the lab bridge itself: frames a bridge sends from its own interface are
 *    flooded to every port (the 01:80:c2:00:00:0e filter only applies to frames a port receives),
 *    so every VM's NIC hears them. tx-interval 1 s so a short capture window always sees one.
 *  - OpenIPMI's ipmi_sim as the BMC of a QEMU VM: QEMU's ipmi-bmc-extern connects to its VM-codec
 *    port, isa-ipmi-kcs gives the guest a KCS interface (ipmi_si → /dev/ipmi0). The LAN channel's
 *    address and MAC are set with ipmitool over ipmi_sim's own LAN port, as an operator would.
 */
export interface NsContext {
  ns: string;
  work: string;
  spawn(args: string[], logName: string): ChildProcess;
}

function nsRun(ns: string, args: string[], timeoutMs = 15_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8', timeout: timeoutMs });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${args[0]} is not installed (scripts/install-deps.sh)`);
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export function requirePeerTools(): void {
  for (const tool of ['lldpd', 'lldpcli', 'ipmi_sim', 'ipmitool']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is missing: run scripts/install-deps.sh (packages lldpd, openipmi, ipmitool)`);
  }
}

async function poll<T>(what: string, check: () => T | null, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const v = check();
      if (v !== null) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (${last})` : ''}`);
}

/** What lldpd itself says it advertises on one interface (lldpcli show interfaces). */
export interface LldpdView {
  systemName: string;
  systemDescription: string;
  chassisId: string;
  chassisIdType: string;
  /** lldpd's port ID for a bridge is the bridge's MAC, which Linux changes as ports join it: read it late. */
  portId: string;
  portIdType: string;
  /** Enabled capabilities, in the codec's names (lldpcli says Bridge, Router, Wlan, …). */
  capabilities: string[];
}

export interface LldpSwitch extends LldpdView {
  /** lldpd's view now. */
  view(): LldpdView;
  /** Deletes lldpd's socket/config directory (call after the namespace's processes are stopped). */
  remove(): void;
}

type LldpcliCapability = { type: string; enabled: boolean };
type LldpcliInterfaces = {
  lldp?: { interface?: Record<string, { chassis: Record<string, { id: { type: string; value: string }; descr: string; capability?: LldpcliCapability | LldpcliCapability[] }>; port: { id: { type: string; value: string } } }> };
};
const CAPABILITY_NAMES: Record<string, string> = { Other: 'other', Repeater: 'repeater', Bridge: 'bridge', Wlan: 'wlanAccessPoint', Router: 'router', Tel: 'telephone', Docsis: 'docsisCableDevice', Station: 'station' };

export async function startLldpSwitch(ctx: NsContext, iface: string, systemName: string): Promise<LldpSwitch> {
  // lldpd drops privileges to _lldpd and runs lldpcli -O as that user: the socket and config live
  // in a directory it can reach (ctx.work is private, mode 0700). remove() deletes it.
  const dir = mkdtempSync(join(tmpdir(), `${ctx.ns}-lldpd-`));
  chmodSync(dir, 0o755);
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  const sock = join(dir, 'lldpd.sock');
  const conf = join(dir, 'lldpd.conf');
  const description = `${systemName} (Debian lldpd, bootrack e2e)`;
  // -O: only this file, never the host's /etc/lldpd.conf; -I: exactly this interface (a bridge is
  // not a "physical" port to lldpd unless named exactly).
  writeFileSync(conf, `configure lldp tx-interval 1\nconfigure system hostname ${systemName}\nconfigure system description "${description}"\n`);
  ctx.spawn(['lldpd', '-d', '-u', sock, '-I', iface, '-O', conf], 'lldpd.log');
  let lastOutput = '';
  const query = (): LldpdView | null => {
    const r = nsRun(ctx.ns, ['lldpcli', '-u', sock, '-f', 'json', 'show', 'interfaces']);
    lastOutput = `lldpcli exit ${r.status}: ${r.stdout.slice(0, 1500)} ${r.stderr.slice(0, 500)}`;
    if (r.status !== 0) return null;
    const entry = (JSON.parse(r.stdout) as LldpcliInterfaces).lldp?.interface?.[iface];
    if (!entry) return null;
    const [name, c] = Object.entries(entry.chassis)[0]!;
    const caps = c.capability === undefined ? [] : Array.isArray(c.capability) ? c.capability : [c.capability];
    const capabilities = caps.filter((x) => x.enabled).map((x) => CAPABILITY_NAMES[x.type] ?? x.type);
    return { systemName: name, systemDescription: c.descr, chassisId: c.id.value, chassisIdType: c.id.type, portId: entry.port.id.value, portIdType: entry.port.id.type, capabilities };
  };
  const first = await poll(
    'lldpd to advertise on the bridge',
    () => {
      const v = query();
      return v && v.systemName === systemName && v.systemDescription === description ? v : null;
    },
    20_000,
  ).catch((err: Error) => {
    remove();
    const log = existsSync(join(ctx.work, 'lldpd.log')) ? readFileSync(join(ctx.work, 'lldpd.log'), 'utf8').slice(-2000) : '(no lldpd.log)';
    throw new Error(`${err.message}\nlast: ${lastOutput}\n--- lldpd.log ---\n${log}`);
  });
  const view = (): LldpdView => {
    const v = query();
    if (!v) throw new Error(`lldpcli no longer answers: ${lastOutput}`);
    return v;
  };
  return { ...first, view, remove };
}

export interface BmcSim {
  /** The VM-codec port QEMU's ipmi-bmc-extern connects to (127.0.0.1 in the namespace). */
  vmPort: number;
  address: string;
  mac: string;
  /** QEMU arguments giving a VM this BMC through a KCS interface. */
  qemuArgs: string[];
}

export async function startBmcSim(ctx: NsContext, opts: { lanPort: number; address: string; mac: string }): Promise<BmcSim> {
  const dir = join(ctx.work, 'ipmi_sim');
  mkdirSync(join(dir, 'state'), { recursive: true });
  const vmPort = opts.lanPort + 1;
  // ipmi_lan(5): one BMC at IPMB 0x20, LAN channel 1 on loopback (for ipmitool), channel 15 is
  // the system interface QEMU connects to (VM codec). Recipe: /work/shared/lab/ipmi.
  writeFileSync(
    join(dir, 'lan.conf'),
    [
      'name "brke2bmc"',
      'set_working_mc 0x20',
      '  startlan 1',
      `    addr 127.0.0.1 ${opts.lanPort}`,
      '    priv_limit admin',
      '    allowed_auths_callback md5',
      '    allowed_auths_user md5',
      '    allowed_auths_operator md5',
      '    allowed_auths_admin md5',
      '    guid a1b2c3d4e5f60718293a4b5c6d7e0e2e',
      '  endlan',
      `  serial 15 127.0.0.1 ${vmPort} codec VM`,
      '  user 2 true "admin" "s3cret" admin 10 md5',
      '',
    ].join('\n'),
  );
  // ipmi_sim_cmd(5): mc_add ipmb devid sdrs devrev fw-major fw-minor dev-support(chassis|SEL|SDR|…) mfg product
  writeFileSync(join(dir, 'bmc.emu'), 'mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nsel_enable 0x20 1000 0x0a\nmc_enable 0x20\n');
  ctx.spawn(['ipmi_sim', '-c', join(dir, 'lan.conf'), '-f', join(dir, 'bmc.emu'), '-s', join(dir, 'state'), '-n'], 'ipmi_sim.log');
  const ipmitool = (...args: string[]) => nsRun(ctx.ns, ['ipmitool', '-I', 'lanplus', '-C', '3', '-N', '1', '-R', '1', '-H', '127.0.0.1', '-p', String(opts.lanPort), '-U', 'admin', '-P', 's3cret', ...args]);
  await poll('ipmi_sim to answer ipmitool', () => (ipmitool('mc', 'info').status === 0 ? true : null), 20_000);
  for (const [param, value] of [['ipaddr', opts.address], ['macaddr', opts.mac]] as const) {
    const r = ipmitool('lan', 'set', '1', param, value);
    if (r.status !== 0) throw new Error(`ipmitool lan set 1 ${param} ${value} failed: ${r.stderr}`);
  }
  const print = ipmitool('lan', 'print', '1').stdout;
  if (!print.includes(`IP Address              : ${opts.address}`) || !print.includes(`MAC Address             : ${opts.mac}`)) throw new Error(`ipmi_sim did not keep the LAN settings:\n${print}`);
  return {
    vmPort,
    address: opts.address,
    mac: opts.mac,
    qemuArgs: ['-chardev', `socket,id=ipmi0,host=127.0.0.1,port=${vmPort},reconnect=10`, '-device', 'ipmi-bmc-extern,id=bmc0,chardev=ipmi0', '-device', 'isa-ipmi-kcs,bmc=bmc0'],
  };
}
