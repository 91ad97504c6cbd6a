import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMac } from '../../src/common/mac.js';
import { bootDirs, tempDir } from '../helpers/http-fixtures.js';
import { tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';

/**
 * Real iPXE (SeaBIOS + QEMU's iPXE option ROM, TCG) fetching its script from our server. Everything
 * lives in netns `brkht-qemu` (bridge + tap); dnsmasq there hands iPXE the per-MAC script URL
 * (DHCP only on that bridge), our service runs in a child process in the same netns on the test's
 * registry file. The VM's disk holds a 512-byte boot sector that prints BRKHT-DISK-BOOTED on COM1,
 * so "booted from local disk" is observed, not assumed.
 *  run 1: unknown MAC → enlisted → discovery script → kernel fetched (a fake one: iPXE refuses it)
 *         → the script's failure path `exit 1` → SeaBIOS falls through to the disk → marker.
 *  run 2: the machine is `ready` → local-disk script; firmware unknown, so iPXE takes the
 *         `iseq ${platform} efi` branch → `sanboot --no-describe --drive 0x80` → marker.
 */
const NS = 'brkht-qemu';
const BR = 'brkhtbr0';
const TAP = 'brkhttap0';
const HOST = '10.79.0.1';
const PORT = 8080;
const MAC = '52:54:00:79:00:01';
const MARKER = 'BRKHT-DISK-BOOTED';
const REPO = resolve(import.meta.dirname, '../..');

function sh(cmd: string, args: string[], allowFail = false): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${cmd} is not installed (see scripts/install-deps.sh)`);
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

function requireTools(): void {
  for (const [tool, pkg] of [['qemu-system-x86_64', 'qemu-system-x86'], ['dnsmasq', 'dnsmasq'], ['ip', 'iproute2']] as const) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`]);
    if (r.status !== 0) throw new Error(`${tool} is missing: apt-get install ${pkg} (this test needs the real client)`);
  }
  if (!existsSync('/usr/share/qemu/efi-virtio.rom') && !existsSync('/usr/lib/ipxe/qemu/efi-virtio.rom')) throw new Error('QEMU iPXE ROMs missing: apt-get install ipxe-qemu');
}

function teardownNetns(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  if (!list.split('\n').some((l) => l.split(' ')[0] === NS)) return;
  // Only processes we started can live in our namespace.
  const pids = (spawnSync('ip', ['netns', 'pids', NS], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean);
  for (const pid of pids) spawnSync('kill', ['-9', pid]);
  sh('ip', ['netns', 'del', NS], true);
}

/** Own process group, so the whole `ip netns exec … X` chain is stopped by pgid. */
function startInNs(args: string[], log: string): ChildProcess {
  const child = spawn('ip', ['netns', 'exec', NS, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => out.push(c));
  child.on('exit', () => {
    try {
      writeFileSync(log, Buffer.concat(out));
    } catch {
      /* the temp dir is already gone after cleanup */
    }
  });
  return child;
}

function stopGroup(child: ChildProcess | undefined): void {
  if (!child?.pid || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** 16-bit boot sector: DS=0, print MARKER on COM1 (0x3f8), halt. */
function bootSector(): Buffer {
  const code = Buffer.from([0x31, 0xc0, 0x8e, 0xd8, 0xfc, 0xbe, 0x16, 0x7c, 0xba, 0xf8, 0x03, 0xac, 0x08, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xf4, 0xeb, 0xfd]);
  const disk = Buffer.alloc(1024 * 1024);
  code.copy(disk, 0);
  Buffer.from(`\r\n${MARKER}\r\n\0`, 'latin1').copy(disk, code.length);
  disk[510] = 0x55;
  disk[511] = 0xaa;
  return disk;
}

describe('real iPXE in QEMU (SeaBIOS) fetches its script from the boot HTTP service', () => {
  let reg: TempRegistry;
  let dirs: ReturnType<typeof tempDir>;
  let dnsmasq: ChildProcess | undefined;
  let server: ChildProcess | undefined;
  let qemu: ChildProcess | undefined;

  beforeAll(async () => {
    requireTools();
    teardownNetns();
    reg = tempRegistry('brkht-reg-');
    dirs = tempDir('brkht-qemu-');
    const d = bootDirs(dirs.dir);
    writeFileSync(join(dirs.dir, 'disk.img'), bootSector());
    // A fake kernel larger than base memory: iPXE would run anything smaller as a PXE NBP (and hang).
    writeFileSync(join(d.imageDir, 'vmlinuz'), Buffer.alloc(1024 * 1024, 7));
    sh('ip', ['netns', 'add', NS]);
    const nsx = (...args: string[]): void => sh('ip', ['netns', 'exec', NS, ...args]);
    nsx('ip', 'link', 'set', 'lo', 'up');
    nsx('ip', 'link', 'add', BR, 'type', 'bridge');
    nsx('ip', 'link', 'set', BR, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0');
    nsx('ip', 'addr', 'add', `${HOST}/24`, 'dev', BR);
    nsx('ip', 'addr', 'add', 'fd79::1/64', 'dev', BR, 'nodad');
    nsx('ip', 'link', 'set', BR, 'up');
    nsx('ip', 'tuntap', 'add', 'dev', TAP, 'mode', 'tap');
    nsx('ip', 'link', 'set', TAP, 'master', BR);
    nsx('ip', 'link', 'set', TAP, 'up');
    const conf = join(dirs.dir, 'dnsmasq.conf');
    writeFileSync(
      conf,
      [
        'port=0',
        `interface=${BR}`,
        'bind-interfaces',
        'no-ping',
        'dhcp-authoritative',
        `dhcp-range=10.79.0.100,10.79.0.150,255.255.255.0,1h`,
        `dhcp-leasefile=${join(dirs.dir, 'leases')}`,
        'dhcp-userclass=set:ipxe,iPXE',
        // What our DHCP hands iPXE: ipxeScriptUrl(base, mac).
        `dhcp-boot=tag:ipxe,http://${HOST}:${PORT}/boot/${MAC.replaceAll(':', '-')}.ipxe`,
        // iPXE otherwise waits ~13 s for IPv6 autoconfiguration (lab pitfall 1).
        'enable-ra',
        `dhcp-range=::,constructor:${BR},ra-only,64`,
        'user=root',
        `log-facility=${join(dirs.dir, 'dnsmasq.log')}`,
      ].join('\n') + '\n',
    );
    dnsmasq = startInNs(['dnsmasq', '-k', `--conf-file=${conf}`], join(dirs.dir, 'dnsmasq.out'));
    const tsx = join(REPO, 'node_modules/tsx/dist/esm/index.mjs');
    server = startInNs(
      [process.execPath, '--import', tsx, join(REPO, 'test/helpers/http-serve-child.ts'), '--db', reg.dbPath, '--key', reg.key.toString('hex'), '--address', HOST, '--port', String(PORT), '--images', d.imageDir, '--ipxe', d.ipxeDir],
      join(dirs.dir, 'server.out'),
    );
    let ready = '';
    server.stdout?.on('data', (c: Buffer) => (ready += c.toString()));
    await waitFor('the boot HTTP child to listen', () => ready.includes('ready'), 30_000);
  });

  afterAll(() => {
    stopGroup(qemu);
    stopGroup(server);
    stopGroup(dnsmasq);
    teardownNetns();
    reg?.cleanup();
    dirs?.cleanup();
  });

  async function bootVm(run: string, expectLines: string[]): Promise<string> {
    const serial = join(dirs.dir, `serial-${run}.log`);
    writeFileSync(serial, '');
    qemu = startInNs(
      [
        'qemu-system-x86_64', '-machine', 'pc', '-accel', 'tcg', '-m', '128', '-nographic', '-monitor', 'none', '-no-reboot',
        '-serial', `file:${serial}`,
        '-netdev', `tap,id=n0,ifname=${TAP},script=no,downscript=no`,
        // QEMU's default ROM for virtio-net-pci (efi-virtio.rom) is iPXE; an explicit romfile= is skipped by SeaBIOS (lab pitfall 3).
        '-device', `virtio-net-pci,netdev=n0,mac=${MAC},bootindex=1`,
        '-drive', `file=${join(dirs.dir, 'disk.img')},format=raw,if=none,id=d0`, '-device', 'ide-hd,drive=d0,bootindex=2',
      ],
      join(dirs.dir, `qemu-${run}.out`),
    );
    try {
      await waitFor(`${MARKER} on the serial console (${run})`, () => readFileSync(serial, 'latin1').includes(MARKER), 120_000);
    } catch (err) {
      const tail = readFileSync(serial, 'latin1').slice(-3000);
      throw new Error(`${(err as Error).message}\n--- serial console tail ---\n${tail}`);
    } finally {
      stopGroup(qemu);
    }
    const text = readFileSync(serial, 'latin1');
    let at = 0;
    for (const line of expectLines) {
      const i = text.indexOf(line, at);
      expect(i, `serial console of ${run} shows "${line}" in order`).toBeGreaterThanOrEqual(0);
      at = i + line.length;
    }
    return text;
  }

  it('run 1: unknown MAC is enlisted and gets the discovery script; the kernel download is on its timeline', async () => {
    await bootVm('discovery', ['iPXE', 'boots the discovery OS', '/images/discovery/vmlinuz', 'discovery boot failed', MARKER]);
    const m = reg.registry.machines.findByMac(parseMac(MAC))!;
    expect(m.state).toBe('commissioning');
    const http = reg.registry.events.list({ machineId: m.id, mac: MAC, kinds: ['http'] });
    expect(http[0]).toMatchObject({ type: 'script_served', data: { script: 'discovery', firmware: 'auto' } });
    const kernel = http.find((e) => e.type === 'asset_completed' && e.data.asset === 'images/discovery/vmlinuz');
    expect(kernel?.data).toMatchObject({ status: 200, bytes: 1024 * 1024 });
  }, 180_000);

  it('run 2: the ready machine boots its local disk through iseq ${platform} → sanboot --drive 0x80', async () => {
    const m = reg.registry.machines.findByMac(parseMac(MAC))!;
    reg.registry.machines.transition(m.id, 'ready', { actor: 'test' });
    await bootVm('local', ['iPXE', 'boots from local disk', MARKER]);
    const served = reg.registry.events.list({ machineId: m.id, kinds: ['http'] }).filter((e) => e.type === 'script_served');
    expect(served.at(-1)?.data).toMatchObject({ script: 'local', state: 'ready' });
  }, 180_000);
});
