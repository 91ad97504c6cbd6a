import { describe, expect, it } from 'vitest';
import { codeForMessage, ipmitoolFailure, parseIpmipower } from './output.js';
import { freeipmiCommonArgs, freeipmiConfig, freeipmiHost, resolveIpmi, type IpmiDefaults } from './options.js';

// Lines below are verbatim from the lab transcripts (/work/shared/lab/ipmi/results/*.txt).
describe('parseIpmipower', () => {
  it('reads per-host states from a batched call', () => {
    const r = parseIpmipower('10.231.0.12: on\n10.231.0.11: off\n');
    expect(r.get('10.231.0.11')).toEqual({ ok: true, value: 'off' });
    expect(r.get('10.231.0.12')).toEqual({ ok: true, value: 'on' });
  });

  it('maps each failure text to its catalog code, including those printed with exit code 0', () => {
    const cases: Array<[string, string]> = [
      ['password invalid', 'BMC_AUTH_FAILED'],
      ['username invalid', 'BMC_AUTH_FAILED'],
      ['privilege level cannot be obtained for this user', 'BMC_AUTH_FAILED'],
      ['connection timeout', 'BMC_UNREACHABLE'],
      ['session timeout', 'BMC_UNREACHABLE'],
      ['BMC busy', 'BMC_BUSY'],
      ['out of resources', 'BMC_BUSY'],
      ['cipher suite id unavailable', 'BMC_UNSUPPORTED'],
      ['ipmi 2.0 unavailable', 'BMC_UNSUPPORTED'],
      ['BMC error', 'BMC_ERROR'], // cipher 17 against ipmi_sim: rc=0
      ['something new', 'BMC_ERROR'],
    ];
    for (const [text, code] of cases) {
      expect(codeForMessage(text)).toBe(code);
      const r = parseIpmipower(`127.0.0.1: ${text}\n`).get('127.0.0.1');
      expect(r?.ok === false && r.error.code).toBe(code);
    }
  });

  it('ignores lines that are not host results', () => {
    expect(parseIpmipower('\n  \ngarbage\n').size).toBe(0);
  });
});

describe('ipmitoolFailure', () => {
  it('catches a failed bootdev that exits 0', () => {
    const err = ipmitoolFailure('Set Chassis Boot Parameter 5 failed: Invalid data field in request\n', 0);
    expect(err?.code).toBe('BMC_UNSUPPORTED');
  });
  it('passes a clean run', () => {
    expect(ipmitoolFailure('', 0)).toBeNull();
  });
  it('reports a refused session as an auth failure', () => {
    expect(ipmitoolFailure('Error: Unable to establish IPMI v2 / RMCP+ session\n', 1)?.code).toBe('BMC_AUTH_FAILED');
  });
});

describe('IPMI options', () => {
  const d: IpmiDefaults = { ipmipowerPath: 'ipmipower', ipmitoolPath: 'ipmitool', cipherSuite: 3, privilege: 'ADMIN', workarounds: [], sessionTimeoutMs: 5000, retransmissionTimeoutMs: 1000, commandTimeoutMs: 10000, netns: '' };
  const target = { machineId: 'm', address: '10.0.0.5', credentials: { username: 'admin', password: 'pw' }, options: {} as Record<string, unknown> };

  it('puts credentials in the config file and never in argv', () => {
    const r = resolveIpmi(target, d);
    expect(freeipmiConfig(r)).toBe('username admin\npassword pw\n');
    const args = freeipmiCommonArgs(r, '/tmp/x/secret', d);
    expect(args.join(' ')).not.toContain('pw');
    expect(args).toEqual(['--config-file', '/tmp/x/secret', '-D', 'LAN_2_0', '-l', 'ADMIN', '-I', '3', '--session-timeout=5000', '--retransmission-timeout=1000']);
  });

  it('takes cipher suite 17, privilege, workarounds and port per machine', () => {
    const r = resolveIpmi({ ...target, options: { cipherSuite: 17, privilege: 'OPERATOR', workarounds: ['intel20'], port: 6230 } }, d);
    expect(freeipmiCommonArgs(r, 'f', d)).toEqual(expect.arrayContaining(['-I', '17', '-l', 'OPERATOR', '-W', 'intel20']));
    expect(freeipmiHost(r)).toBe('10.0.0.5:6230');
  });

  it('refuses option values that could smuggle arguments or config directives', () => {
    for (const address of ['-hevil', 'a,b', 'node[1-4]', '10.0.0.1:623', 'a b']) {
      expect(() => resolveIpmi({ ...target, address }, d)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    }
    expect(() => resolveIpmi({ ...target, options: { workarounds: ['a,b'] } }, d)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => resolveIpmi({ ...target, options: { bogus: 1 } }, d)).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
    expect(() => freeipmiConfig(resolveIpmi({ ...target, credentials: { username: 'a', password: 'x\ndriver-type LAN' } }, d))).toThrow(expect.objectContaining({ code: 'VALIDATION_FAILED' }));
  });
});
