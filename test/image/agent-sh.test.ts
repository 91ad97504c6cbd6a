import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { cpus, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { factsRequest } from '../../src/api/schemas.js';
import { AGENT_DIR } from '../helpers/image-shared.js';

// The agent's shell library under the real busybox-static of this host, with PATH holding busybox
// applets only — the same tools the initramfs has — so a GNU-only flag would fail here too.

let work: string;
let bbPath: string;
let busybox: string;

beforeAll(() => {
  try {
    busybox = execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('busybox (busybox-static) is required for the agent shell tests');
  }
  work = mkdtempSync(join(tmpdir(), 'bootrack-agentsh-'));
  bbPath = join(work, 'bin');
  execFileSync('mkdir', [bbPath]);
  for (const applet of execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean)) symlinkSync(busybox, join(bbPath, applet));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function sh(script: string, args: string[] = [], env: Record<string, string> = {}): string {
  return execFileSync(busybox, ['sh', '-c', `. '${AGENT_DIR}/lib.sh'; . '${AGENT_DIR}/facts.sh'; ${script}`, 'sh', ...args], {
    encoding: 'utf8',
    env: { PATH: bbPath, ...env },
  });
}

describe('agent lib.sh JSON helpers', () => {
  it('json_str yields a JSON string for quotes, backslashes, control characters and unicode', () => {
    const nasty = ['plain', 'say "hi"', 'back\\slash', 'tab\there', 'new\nline', 'bell\u0007x', '  padded  ', 'ünïcødé ✓', '$(reboot) `x` $HOME', ''];
    for (const s of nasty) {
      const out = sh('json_str "$1"', [s]);
      const parsed = JSON.parse(out) as string;
      const expected = s.replace(/[\t\r\n]/g, ' ').replace(/[\u0000-\u001f\u007f]/g, '').trim();
      expect(parsed, JSON.stringify(s)).toBe(expected);
    }
  });

  it('json_num, json_bool and json_str_or_null map shell values to JSON', () => {
    expect(sh('printf "[%s,%s,%s,%s]" "$(json_num 42)" "$(json_num 007)" "$(json_num -1)" "$(json_num abc)"')).toBe('[42,7,null,null]');
    expect(sh('printf "[%s,%s,%s]" "$(json_bool 1)" "$(json_bool 0)" "$(json_bool "")"')).toBe('[true,false,false]');
    expect(sh('printf "[%s,%s]" "$(json_str_or_null "  ")" "$(json_str_or_null x)"')).toBe('[null,"x"]');
  });

  it('cmdline_arg reads bootrack.* values (last wins, = inside values kept); norm_mac lowercases and colons', () => {
    const cmdline = join(work, 'cmdline');
    writeFileSync(cmdline, 'console=ttyS0 bootrack.url=http://10.0.0.1:8080 bootrack.ssh_key=c3NoLWVk== bootrack.mac=52-54-00-AB-CD-EF bootrack.url=http://10.9.9.9:8080/\n');
    expect(sh('cmdline_arg bootrack.url', [], { CMDLINE_FILE: cmdline })).toBe('http://10.9.9.9:8080/');
    expect(sh('cmdline_arg bootrack.ssh_key', [], { CMDLINE_FILE: cmdline })).toBe('c3NoLWVk==');
    expect(sh('cmdline_arg bootrack.token', [], { CMDLINE_FILE: cmdline })).toBe('');
    expect(sh('norm_mac "$(cmdline_arg bootrack.mac)"', [], { CMDLINE_FILE: cmdline })).toBe('52:54:00:ab:cd:ef');
  });
});

describe('agent facts.sh on this host (a real Linux peer)', () => {
  it('collect_facts prints the agreed JSON shape, and the CPU count and MACs match what Node sees', () => {
    const body = JSON.parse(sh('collect_facts')) as { facts: Record<string, any> };
    const f = body.facts;
    expect(Object.keys(f).sort()).toEqual(['arch', 'bmc', 'cpu', 'disks', 'dmi', 'firmware', 'lldp', 'lldpFrames', 'memoryMib', 'nics'].sort());
    expect(f.cpu.threads).toBe(cpus().length);
    expect(f.cpu.sockets).toBeGreaterThanOrEqual(1);
    expect(f.cpu.cores).toBeGreaterThanOrEqual(1);
    expect(f.memoryMib).toBeGreaterThan(0);
    expect(['bios', 'uefi']).toContain(f.firmware);
    const machine = execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim();
    expect(f.arch).toBe(({ x86_64: 'amd64', aarch64: 'arm64' } as Record<string, string>)[machine] ?? machine);
    // the body is what the API accepts (src/api/schemas.ts, strict)
    const parsed = factsRequest.safeParse(JSON.parse(sh('collect_facts 52:54:00:12:34:56')));
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(Object.keys(f.dmi).sort()).toEqual(['product', 'serial', 'uuid', 'vendor']);
    const hostMacs = new Set(Object.values(networkInterfaces()).flat().map((i) => i?.mac));
    for (const nic of f.nics as Array<{ mac: string; link: boolean }>) {
      expect(nic.mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      if (nic.link) expect(hostMacs.has(nic.mac), nic.mac).toBe(true);
    }
    for (const d of f.disks as Array<{ name: string; sizeBytes: number; rotational: boolean }>) {
      expect(d.sizeBytes).toBeGreaterThanOrEqual(0);
      expect(typeof d.rotational).toBe('boolean');
    }
  });

  it('every agent script parses under busybox sh -n', () => {
    for (const f of ['init', 'agent.sh', 'lib.sh', 'facts.sh', 'udhcpc.script']) {
      expect(() => execFileSync(busybox, ['sh', '-n', join(AGENT_DIR, f)], { stdio: 'pipe' }), f).not.toThrow();
    }
  });
});
