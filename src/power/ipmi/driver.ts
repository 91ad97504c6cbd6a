import { createHash } from 'node:crypto';
import { BootrackError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { PowerState } from '../../registry/index.js';
import type { BootDevice, PowerAction, PowerDriver, PowerTarget, StatusBatch } from '../types.js';
import { runTool, sweepStaleSecretDirs, withSecretFile, type ToolResult } from './exec.js';
import { freeipmiCommonArgs, freeipmiConfig, freeipmiHost, resolveIpmi, sessionKey, type IpmiDefaults, type ResolvedIpmi } from './options.js';
import { ipmitoolFailure, parseIpmipower, type HostResult } from './output.js';

const ACTION_FLAGS: Record<PowerAction, string[]> = {
  on: ['--on'],
  off: ['--off'],
  // --on-if-off: cycling or resetting a machine that is off powers it on instead of failing
  // (many BMCs refuse Chassis Control cycle while off).
  cycle: ['--cycle', '--on-if-off'],
  reset: ['--reset', '--on-if-off'],
  soft_off: ['--soft'],
};

/**
 * IPMI through FreeIPMI: ipmipower for power (about 33 ms per status call against ipmi_sim, half of
 * ipmitool's), ipmitool (default) or ipmi-chassis for the boot device. Every run is spawned without
 * a shell, credentials sit in a 0600 file removed after the call, and each call is bounded by the
 * session timeout plus a kill timer.
 */
export class IpmiDriver implements PowerDriver {
  readonly type = 'ipmi';
  readonly #d: IpmiDefaults;
  readonly #log: Logger;

  constructor(defaults: IpmiDefaults, logger: Logger) {
    this.#d = defaults;
    this.#log = logger.child({ driver: 'ipmi' });
    // Credential files of a predecessor that was killed mid-call.
    const swept = sweepStaleSecretDirs(2 * defaults.commandTimeoutMs + 60_000);
    if (swept) this.#log.warn({ swept }, 'removed stale BMC credential files');
  }

  async status(target: PowerTarget): Promise<PowerState> {
    const r = resolveIpmi(target, this.#d);
    const result = await this.#ipmipower([r], ['--stat']);
    return toState(expectOne(result, r));
  }

  async act(target: PowerTarget, action: PowerAction): Promise<void> {
    const r = resolveIpmi(target, this.#d);
    const result = await this.#ipmipower([r], ACTION_FLAGS[action]);
    expectOne(result, r);
  }

  /**
   * Polls many BMCs with as few processes as possible: targets sharing credentials and session
   * settings ride one ipmipower call (-h a,b,c; parallel sessions in one process). Output is keyed by
   * host name without the port, so two BMCs on one host name never share a call.
   */
  async statusMany(targets: readonly PowerTarget[]): Promise<StatusBatch> {
    const out: StatusBatch = new Map();
    const groups = new Map<string, Array<{ t: PowerTarget; r: ResolvedIpmi }>[]>();
    for (const t of targets) {
      let r: ResolvedIpmi;
      try {
        r = resolveIpmi(t, this.#d);
      } catch (err) {
        out.set(t.machineId, err as BootrackError);
        continue;
      }
      const key = createHash('sha256').update(sessionKey(r)).digest('hex');
      const batches = groups.get(key) ?? [];
      let batch = batches.find((b) => !b.some((x) => x.r.host === r.host));
      if (!batch) batches.push((batch = []));
      batch.push({ t, r });
      groups.set(key, batches);
    }
    const calls = [...groups.values()].flat();
    await Promise.all(
      calls.map(async (batch) => {
        try {
          const results = await this.#ipmipower(
            batch.map((b) => b.r),
            ['--stat'],
          );
          for (const { t, r } of batch) {
            try {
              out.set(t.machineId, toState(expectOne(results, r)));
            } catch (err) {
              out.set(t.machineId, err as BootrackError);
            }
          }
        } catch (err) {
          for (const { t } of batch) out.set(t.machineId, err as BootrackError);
        }
      }),
    );
    return out;
  }

  async setNextBoot(target: PowerTarget, device: BootDevice, options: { persistent: boolean }): Promise<void> {
    const r = resolveIpmi(target, this.#d);
    if (r.bootdevTool === 'ipmi-chassis') return this.#bootdevFreeipmi(r, device, options.persistent);
    return this.#bootdevIpmitool(r, device, options.persistent);
  }

  async #ipmipower(rs: ResolvedIpmi[], flags: string[]): Promise<Map<string, HostResult>> {
    const first = rs[0]!;
    return withSecretFile(freeipmiConfig(first), async (configPath) => {
      const args = [...freeipmiCommonArgs(first, configPath, this.#d), '-h', rs.map(freeipmiHost).join(','), ...flags];
      const res = await this.#run(this.#d.ipmipowerPath, args);
      const parsed = parseIpmipower(res.stdout);
      if (res.killed) {
        // The kill timer fired: hosts that printed nothing did not answer within the bound.
        for (const r of rs) if (!parsed.has(r.host)) parsed.set(r.host, { ok: false, error: unreachable(r, res) });
      }
      for (const r of rs) {
        if (!parsed.has(r.host)) {
          const text = (res.stderr.trim() || res.stdout.trim()).split('\n')[0] ?? '';
          parsed.set(r.host, { ok: false, error: new BootrackError('BMC_ERROR', `ipmipower gave no result for ${r.host}: ${text}`, { host: r.host, exitCode: res.code, bmcMessage: text }) });
        }
      }
      this.#log.debug({ hosts: rs.map((r) => freeipmiHost(r)), flags, exitCode: res.code, ms: Math.round(res.ms) }, 'ipmipower');
      return parsed;
    });
  }

  async #bootdevIpmitool(r: ResolvedIpmi, device: BootDevice, persistent: boolean): Promise<void> {
    // ipmitool reads the password from a file (-f); -E would put it in the environment.
    await withSecretFile(r.password, async (passPath) => {
      // -N/-R bound ipmitool's own retries (total ≈ N·R·(R+1) s, lab measurement); R=1 → ~2 s.
      // -N follows retransmissionTimeoutMs (whole seconds, at least 1) as FreeIPMI's timeout does: a
      // BMC slower than 1 s per answer (seen with ipmi_sim's chassis program under load) otherwise
      // gets a retransmit mid-command and ipmitool gives up on a command the BMC carried out.
      const retries = this.#d.sessionTimeoutMs >= 6000 ? 2 : 1;
      const perTry = Math.max(1, Math.round(this.#d.retransmissionTimeoutMs / 1000));
      const args = ['-I', r.interface, '-H', r.host, '-p', String(r.port), '-U', r.username, '-f', passPath, '-L', ipmitoolPrivilege(r.privilege), '-N', String(perTry), '-R', String(retries)];
      if (r.interface === 'lanplus') args.push('-C', String(r.cipherSuite));
      args.push('chassis', 'bootdev', device === 'pxe' ? 'pxe' : 'disk');
      if (persistent) args.push('options=persistent');
      const res = await this.#run(this.#d.ipmitoolPath, args);
      if (res.killed) throw unreachable(r, res);
      const failure = ipmitoolFailure(res.stderr, res.code);
      if (failure) {
        // "Unable to establish" is both a refused login and a silent BMC; the time tells them apart.
        if (failure.code === 'BMC_AUTH_FAILED' && res.ms > 1500) throw unreachable(r, res);
        throw failure;
      }
      if (!/Set Boot Device to/i.test(res.stdout)) {
        throw new BootrackError('BMC_ERROR', `ipmitool did not confirm the boot device: ${res.stdout.trim().slice(0, 200)}`, { host: r.host });
      }
    });
  }

  async #bootdevFreeipmi(r: ResolvedIpmi, device: BootDevice, persistent: boolean): Promise<void> {
    await withSecretFile(freeipmiConfig(r), async (configPath) => {
      const args = [...freeipmiCommonArgs(r, configPath, this.#d), '-h', freeipmiHost(r), '--set-boot-flags', `--boot-device=${device === 'pxe' ? 'PXE' : 'HARD-DRIVE'}`];
      if (persistent) args.push('--boot-flags-persistent=yes');
      const res = await this.#run('ipmi-chassis', args);
      if (res.killed) throw unreachable(r, res);
      const text = `${res.stdout}\n${res.stderr}`.trim();
      if (res.code !== 0 || /failed|error/i.test(text)) {
        const code = /invalid parameters|not supported/i.test(text) ? 'BMC_UNSUPPORTED' : /password|privilege|username/i.test(text) ? 'BMC_AUTH_FAILED' : /timeout/i.test(text) ? 'BMC_UNREACHABLE' : 'BMC_ERROR';
        throw new BootrackError(code, `ipmi-chassis: ${text.split('\n')[0]}`, { host: r.host, exitCode: res.code });
      }
    });
  }

  #run(tool: string, args: string[]): Promise<ToolResult> {
    if (this.#d.netns) return runTool('ip', ['netns', 'exec', this.#d.netns, tool, ...args], { timeoutMs: this.#d.commandTimeoutMs });
    return runTool(tool, args, { timeoutMs: this.#d.commandTimeoutMs });
  }
}

function expectOne(results: Map<string, HostResult>, r: ResolvedIpmi): 'on' | 'off' | 'ok' {
  const res = results.get(r.host);
  if (!res) throw new BootrackError('BMC_ERROR', `no result for ${r.host}`, { host: r.host });
  if (!res.ok) throw res.error;
  return res.value;
}

function toState(value: 'on' | 'off' | 'ok'): PowerState {
  if (value === 'ok') throw new BootrackError('BMC_ERROR', 'ipmipower answered "ok" to a status query');
  return value;
}

function unreachable(r: ResolvedIpmi, res: ToolResult): BootrackError {
  return new BootrackError('BMC_UNREACHABLE', `BMC ${freeipmiHost(r)} did not answer within ${Math.round(res.ms)} ms`, { host: r.host, port: r.port, killed: res.killed });
}

function ipmitoolPrivilege(p: ResolvedIpmi['privilege']): string {
  return p === 'ADMIN' ? 'ADMINISTRATOR' : p;
}
