import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMac } from '../../src/common/mac.js';
import type { Firmware, Machine, MachineState, Registry } from '../../src/registry/index.js';
import { bootDirs, startBootHttp, tempDir, type BootHttpFixture } from '../helpers/http-fixtures.js';
import { macFor, PATH_FROM_NEW, tempRegistry, type TempRegistry } from '../helpers/registry-fixtures.js';

const T = { actor: 'test' };
const DISCOVERY: MachineState[] = ['new', 'commissioning'];
const LOCAL: MachineState[] = ['failed_commissioning', 'ready', 'allocated', 'deployed', 'failed_deployment', 'releasing', 'broken'];
const SSH_KEYS = ['ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH0bBZ1 alice@laptop', 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 bob'];

let n = 100;
function machineIn(registry: Registry, state: MachineState, firmware: Firmware | null): Machine {
  let m = registry.machines.create({ macs: [macFor(n++)], firmware }, T);
  for (const step of PATH_FROM_NEW[state]) {
    if (step === 'deploying') registry.machines.setBootProfile(m.id, { kind: 'ephemeral', sshPublicKeys: SSH_KEYS, cmdline: 'quiet ip=dhcp' }, T);
    m = registry.machines.transition(m.id, step, T);
  }
  return m;
}

const scriptPath = (m: Machine): string => `/boot/${m.interfaces[0]!.mac.replaceAll(':', '-')}.ipxe`;
const tokenOf = (text: string): string => /bootrack\.token=(\S+)/.exec(text)?.[1] ?? '';

describe('per-machine iPXE scripts (real registry on a temp file, in-process HTTP)', () => {
  let reg: TempRegistry;
  let dirs: ReturnType<typeof tempDir>;
  let http: BootHttpFixture;
  const get = async (path: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(http.base + path);
    return { status: res.status, text: await res.text() };
  };

  beforeAll(async () => {
    reg = tempRegistry('brkht-reg-');
    dirs = tempDir();
    http = await startBootHttp(reg.registry, bootDirs(dirs.dir));
  });
  afterAll(async () => {
    await http?.stop();
    reg?.cleanup();
    dirs?.cleanup();
  });

  for (const firmware of ['bios', 'uefi'] as const) {
    for (const state of DISCOVERY) {
      it(`${state} × ${firmware}: discovery OS with a fresh agent token, the boot URL and the MAC`, async () => {
        const m = machineIn(reg.registry, state, firmware);
        const { status, text } = await get(scriptPath(m));
        expect(status).toBe(200);
        expect(text.startsWith('#!ipxe\n')).toBe(true);
        const mac = m.interfaces[0]!.mac;
        expect(text).toContain(`kernel ${http.base}/images/discovery/vmlinuz?mac=${mac.replaceAll(':', '-')} `);
        expect(text).toContain(`initrd --name initrd.img ${http.base}/images/discovery/initrd.img?mac=`);
        expect(text).toContain(`bootrack.url=${http.base} `);
        expect(text).toContain(`bootrack.mac=${mac} `);
        expect(text).toContain('bootrack.mode=discovery');
        // The EFI stub loads the initrd by name; BIOS kernels get no such word.
        if (firmware === 'uefi') expect(text).toMatch(/^kernel \S+ initrd=initrd\.img /m);
        else expect(text).not.toContain('initrd=initrd.img');
        const record = reg.registry.tokens.verify(tokenOf(text));
        expect(record).toMatchObject({ role: 'agent', machineId: m.id });
        // `new` moves to commissioning when it fetches the discovery script; commissioning stays.
        expect(reg.registry.machines.get(m.id).state).toBe('commissioning');
        // The next fetch revokes this boot's token and mints another.
        const again = await get(scriptPath(m));
        expect(tokenOf(again.text)).not.toBe(tokenOf(text));
        expect(reg.registry.tokens.verify(tokenOf(text))).toBeNull();
        expect(reg.registry.tokens.verify(tokenOf(again.text))).not.toBeNull();
        const events = reg.registry.events.list({ machineId: m.id, kinds: ['http'] });
        expect(events.filter((e) => e.type === 'script_served').map((e) => e.data.script)).toEqual(['discovery', 'discovery']);
        expect(JSON.stringify(events)).not.toContain(tokenOf(again.text));
      });
    }

    it(`deploying × ${firmware}: the boot profile's target with an agent token and the SSH keys`, async () => {
      const m = machineIn(reg.registry, 'deploying', firmware);
      const { status, text } = await get(scriptPath(m));
      expect(status).toBe(200);
      expect(text).toContain('bootrack.mode=deploy');
      expect(text).toContain(' quiet ip=dhcp ');
      const keys = /bootrack\.ssh_keys=(\S+)/.exec(text)?.[1] ?? '';
      expect(Buffer.from(keys, 'base64url').toString('utf8').split('\n')).toEqual(SSH_KEYS);
      expect(reg.registry.tokens.verify(tokenOf(text))).toMatchObject({ role: 'agent', machineId: m.id });
      if (firmware === 'uefi') expect(text).toContain('initrd=initrd.img');
      expect(reg.registry.machines.get(m.id).state).toBe('deploying');
    });

    for (const state of LOCAL) {
      it(`${state} × ${firmware}: local disk the safe way, no token, no shell`, async () => {
        const m = machineIn(reg.registry, state, firmware);
        const { status, text } = await get(scriptPath(m));
        expect(status).toBe(200);
        const commands = text.split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('echo'));
        if (firmware === 'bios') expect(commands).toEqual([':local_bios', 'sanboot --no-describe --drive 0x80 || exit 1']);
        else expect(commands).toEqual([':local_efi', 'exit 1']);
        expect(commands.join('\n')).not.toMatch(/\b(shell|menu|kernel|chain)\b/);
        expect(text).not.toContain('bootrack.token');
        expect(reg.registry.machines.get(m.id).state).toBe(state);
      });
    }
  }

  it('deploying with an explicit kernel: absolute URLs kept, appliance paths served with the MAC', async () => {
    const m = machineIn(reg.registry, 'deploying', 'bios');
    reg.registry.machines.setBootProfile(m.id, { kind: 'ephemeral', sshPublicKeys: [], kernel: 'http://10.0.0.9/os/vmlinuz', initrd: '/images/os/initrd', cmdline: 'root=/dev/ram0' }, T);
    const { text } = await get(scriptPath(m));
    expect(text).toMatch(/^kernel http:\/\/10\.0\.0\.9\/os\/vmlinuz root=\/dev\/ram0 bootrack\.url=/m);
    expect(text).toContain(`initrd --name initrd.img ${http.base}/images/os/initrd?mac=`);
    expect(text).not.toContain('bootrack.ssh_keys');
  });

  it('a profile cmdline that would inject iPXE commands is refused: 400, nothing changes, the refusal is on the timeline', async () => {
    const m = machineIn(reg.registry, 'deploying', 'uefi');
    reg.registry.machines.setBootProfile(m.id, { kind: 'ephemeral', sshPublicKeys: [], cmdline: 'quiet ${net0/ip} || shell' }, T);
    const tokensBefore = reg.registry.tokens.list().length;
    const res = await fetch(http.base + scriptPath(m));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('VALIDATION_FAILED');
    expect(reg.registry.tokens.list().length).toBe(tokensBefore);
    expect(reg.registry.machines.get(m.id).state).toBe('deploying');
    const last = reg.registry.events.list({ machineId: m.id, kinds: ['http'] }).at(-1);
    expect(last).toMatchObject({ type: 'script_refused', data: { code: 'VALIDATION_FAILED' } });
  });

  it('unknown firmware: one script asks iPXE ${platform} and holds both exits', async () => {
    const m = machineIn(reg.registry, 'ready', null);
    const { text } = await get(scriptPath(m));
    expect(text).toContain('iseq ${platform} efi && goto local_efi || goto local_bios');
    expect(text).toContain(':local_efi\nexit 1\n');
    expect(text).toContain(':local_bios\nsanboot --no-describe --drive 0x80 || exit 1\n');
  });

  it('?platform= from iPXE picks the branch and is remembered on the machine record', async () => {
    const m = machineIn(reg.registry, 'deployed', null);
    const { text } = await get(`${scriptPath(m)}?platform=efi&arch=x86_64`);
    expect(text).not.toContain('sanboot');
    expect(text).toContain(':local_efi\nexit 1');
    expect(reg.registry.machines.get(m.id).firmware).toBe('uefi');
  });

  it('an unknown MAC is enlisted as new by actor http, then moves to commissioning with the discovery script', async () => {
    const mac = parseMac('52:54:00:aa:bb:01');
    expect(reg.registry.machines.findByMac(mac)).toBeNull();
    const { status, text } = await get('/boot/52-54-00-AA-BB-01.ipxe?platform=pcbios');
    expect(status).toBe(200);
    expect(text).toContain('bootrack.mode=discovery');
    const m = reg.registry.machines.findByMac(mac)!;
    expect(m).toMatchObject({ state: 'commissioning', firmware: 'bios' });
    const timeline = reg.registry.events.list({ machineId: m.id, mac });
    expect(timeline.map((e) => [e.type, e.actor, e.toState])).toEqual([
      ['created', 'http', 'new'],
      ['transition', 'http', 'commissioning'],
      ['script_served', 'http', null],
    ]);
  });

  it('a malformed MAC is a 400 INVALID_MAC and enlists nothing', async () => {
    const before = reg.registry.machines.list().length;
    const res = await fetch(`${http.base}/boot/not-a-mac-at-all.ipxe`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('INVALID_MAC');
    expect(reg.registry.machines.list().length).toBe(before);
  });

  it('asset downloads land on the machine timeline (asset_started/asset_completed with bytes and duration)', async () => {
    const m = machineIn(reg.registry, 'commissioning', 'bios');
    const { text } = await get(scriptPath(m));
    const kernelUrl = /^kernel (\S+)/m.exec(text)![1]!;
    const body = await (await fetch(kernelUrl)).arrayBuffer();
    expect(body.byteLength).toBe(64 * 1024);
    const assets = reg.registry.events.list({ machineId: m.id, kinds: ['http'] }).filter((e) => e.type.startsWith('asset_'));
    expect(assets.map((e) => e.type)).toEqual(['asset_started', 'asset_completed']);
    expect(assets[1]!.data).toMatchObject({ asset: 'images/discovery/vmlinuz', status: 200, bytes: 65536, size: 65536 });
    expect(typeof assets[1]!.data.durationMs).toBe('number');
    const metrics = await http.metrics.metrics();
    expect(metrics).toMatch(/bootrack_http_requests_total\{route="script",method="GET",status="200"\} \d+/);
    expect(metrics).toMatch(/bootrack_http_requests_total\{route="discovery",method="GET",status="200"\} \d+/);
    expect(metrics).toMatch(/bootrack_http_response_bytes_total\{route="discovery"\} \d{5,}/);
    expect(metrics).toContain('bootrack_http_request_duration_seconds_bucket{le="0.001",route="script"}');
  });
});

describe('discovery image missing', () => {
  it('is a 503 IMAGE_MISSING naming `bootrack image build`; the MAC is still enlisted, as new', async () => {
    const reg = tempRegistry('brkht-reg-');
    const dirs = tempDir();
    const http = await startBootHttp(reg.registry, bootDirs(dirs.dir, { withImage: false }));
    try {
      const res = await fetch(`${http.base}/boot/52-54-00-cc-dd-01.ipxe`);
      expect(res.status).toBe(503);
      const body = (await res.json()) as { code: string; message: string; details: { command: string } };
      expect(body.code).toBe('IMAGE_MISSING');
      expect(body.message).toContain('bootrack image build');
      expect(body.details.command).toBe('bootrack image build');
      const m = reg.registry.machines.findByMac(parseMac('52:54:00:cc:dd:01'))!;
      expect(m.state).toBe('new');
      expect(reg.registry.tokens.list()).toEqual([]);
      const refused = reg.registry.events.list({ machineId: m.id, kinds: ['http'] });
      expect(refused.map((e) => [e.type, e.data.code])).toEqual([['script_refused', 'IMAGE_MISSING']]);
      // Machines that boot their disk do not need the image.
      const ready = reg.registry.machines.create({ macs: ['52:54:00:cc:dd:02'], state: 'ready', firmware: 'bios' }, T);
      const local = await fetch(`${http.base}${scriptPath(ready)}`);
      expect(local.status).toBe(200);
    } finally {
      await http.stop();
      reg.cleanup();
      dirs.cleanup();
    }
  });
});
