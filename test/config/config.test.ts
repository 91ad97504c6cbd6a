import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/bootrack.js';
import type { CliIo } from '../../src/cli/io.js';
import { isBootrackError } from '../../src/common/errors.js';
import { loadConfig } from '../../src/config/load.js';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function file(content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'bootrack-cfg-'));
  dirs.push(dir);
  const path = join(dir, 'bootrack.yaml');
  writeFileSync(path, content);
  return path;
}

function captureIo(env: NodeJS.ProcessEnv = {}): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { stdout, stderr, env, out: (t) => stdout.push(t), err: (t) => stderr.push(t) };
}

describe('config', () => {
  it('embedded defaults alone give a safe daemon: DHCP off, TLS API on, paths under the state dir', () => {
    const { config, file: from } = loadConfig({ configPath: undefined, env: {} });
    expect(from).toBeNull();
    expect(config.dhcp.interfaces).toEqual([]);
    expect(config.api.tls).toBe(true);
    expect(config.database.path).toBe('/var/lib/bootrack/bootrack.db');
    expect(config.secrets.keyPath).toBe('/var/lib/bootrack/secret.key');
    expect(Object.isFrozen(config) && Object.isFrozen(config.http)).toBe(true);
  });

  it('layers file < environment < flags', () => {
    const path = file('stateDir: /srv/br\nhttp:\n  port: 8081\ntftp:\n  port: 6969\n');
    const { config } = loadConfig({ configPath: path, env: { BOOTRACK_HTTP__PORT: '8082', BOOTRACK_TFTP__MAX_BLKSIZE: '1432', BOOTRACK_DHCP__INTERFACES: '[prov0, prov1]' }, overrides: ['http.port=8083'] });
    expect(config.stateDir).toBe('/srv/br');
    expect(config.database.path).toBe('/srv/br/bootrack.db');
    expect(config.tftp.port).toBe(6969);
    expect(config.tftp.maxBlksize).toBe(1432);
    expect(config.dhcp.interfaces).toEqual(['prov0', 'prov1']);
    expect(config.http.port).toBe(8083);
  });

  it.each([
    ['an unknown field', 'htpp:\n  port: 1\n', 'htpp'],
    ['a wrong type', 'http:\n  port: eighty\n', 'http.port'],
    ['an out-of-range value', 'tftp:\n  maxBlksize: 100\n', 'tftp.maxBlksize'],
    ['a bad address', 'advertiseAddress: 10.0.0.300\n', 'advertiseAddress'],
    ['a bad subnet', 'dhcp:\n  subnets:\n    - cidr: 10.0.0.0/24\n      rangeStart: 10.0.0.10\n      rangeEnd: nope\n', 'dhcp.subnets.0.rangeEnd'],
  ])('names the field path of %s', (_label, content, fieldPath) => {
    let caught: unknown;
    try {
      loadConfig({ configPath: file(content), env: {} });
    } catch (err) {
      caught = err;
    }
    expect(isBootrackError(caught, 'CONFIG_INVALID')).toBe(true);
    const issues = (caught as { details: { issues: Array<{ path: string }> } }).details.issues;
    expect(issues.map((i) => i.path).join(' ')).toContain(fieldPath);
  });

  it('a broken YAML file, a missing explicit file and a non-mapping are CONFIG_UNREADABLE / CONFIG_INVALID', () => {
    expect(() => loadConfig({ configPath: file('http: [unclosed\n'), env: {} })).toThrow(expect.objectContaining({ code: 'CONFIG_UNREADABLE' }));
    expect(() => loadConfig({ configPath: '/nonexistent/bootrack.yaml', env: {} })).toThrow(expect.objectContaining({ code: 'CONFIG_UNREADABLE' }));
    expect(() => loadConfig({ configPath: file('- a\n- b\n'), env: {} })).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });

  it('`bootrack config check` prints the effective config, or each error with its path and a non-zero exit', async () => {
    const good = captureIo();
    expect(await runCli(['config', 'check', '--config', file('http:\n  port: 9000\n'), '--json'], good)).toBe(0);
    expect(JSON.parse(good.stdout.join('')).config.http.port).toBe(9000);

    const bad = captureIo();
    expect(await runCli(['config', 'check', '--config', file('http:\n  port: 0\ntftp:\n  retries: many\n')], bad)).toBe(1);
    const text = bad.stderr.join('\n');
    expect(text).toContain('CONFIG_INVALID');
    expect(text).toContain('http.port');
    expect(text).toContain('tftp.retries');

    const unknown = captureIo();
    expect(await runCli(['frobnicate'], unknown)).toBe(2);
  });
});
