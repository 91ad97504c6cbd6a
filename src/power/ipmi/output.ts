import { BootrackError, type ErrorCode } from '../../common/errors.js';

/**
 * Parsing FreeIPMI / ipmitool output. ipmipower prints one `<host>: <result>` line per host and is
 * made to be parsed; its exit code says only "something failed", and some failures exit 0
 * (cipher suite 17 against ipmi_sim prints "BMC error" with rc=0 — lab failures.txt). So the
 * per-host text decides, never the exit code alone.
 */
export type HostResult = { ok: true; value: 'on' | 'off' | 'ok' } | { ok: false; error: BootrackError };

/** ipmipower messages (freeipmi 1.6 ipmipower_output.c) → catalog codes. */
const MESSAGE_CODES: ReadonlyArray<[RegExp, ErrorCode]> = [
  [/^(password invalid|username invalid|password length invalid|k_g invalid|privilege level insufficient|privilege level cannot be obtained for this user|authentication type unavailable for attempted privilege level|password verification timeout|username invalid length|password invalid length)$/i, 'BMC_AUTH_FAILED'],
  [/^(connection timeout|session timeout|invalid hostname|hostname invalid)$/i, 'BMC_UNREACHABLE'],
  [/^(BMC busy|out of resources|insufficient resources.*)$/i, 'BMC_BUSY'],
  [/^(cipher suite id unavailable|ipmi 2\.0 unavailable|ipmi 1\.5 unavailable|operation not supported|authentication type unavailable)$/i, 'BMC_UNSUPPORTED'],
];

export function codeForMessage(message: string): ErrorCode {
  for (const [re, code] of MESSAGE_CODES) if (re.test(message.trim())) return code;
  return 'BMC_ERROR';
}

/**
 * Parses ipmipower output into a result per host name. Output is keyed by host name only — the
 * port is dropped (lab pitfall 13) — so callers never batch two BMCs sharing a host name.
 */
export function parseIpmipower(stdout: string): Map<string, HostResult> {
  const results = new Map<string, HostResult>();
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    const m = /^(\S+?):\s+(.+)$/.exec(line);
    if (!m) continue;
    const host = m[1]!;
    const text = m[2]!.trim();
    if (text === 'on' || text === 'off' || text === 'ok') results.set(host, { ok: true, value: text });
    else results.set(host, { ok: false, error: new BootrackError(codeForMessage(text), `BMC ${host}: ${text}`, { host, bmcMessage: text }) });
  }
  return results;
}

/** ipmitool prints failures on stderr and may still exit 0 (bootdev: lab pitfall 11). */
export function ipmitoolFailure(stderr: string, code: number | null): BootrackError | null {
  const text = stderr.trim();
  const failed = /failed|error|unable/i.test(text);
  if (!failed && code === 0) return null;
  const first = text.split('\n').find((l) => /failed|error|unable/i.test(l)) ?? text.split('\n')[0] ?? `exit ${code}`;
  let errCode: ErrorCode = 'BMC_ERROR';
  if (/Unable to establish IPMI v2|Unable to establish LAN session|RAKP|password|Activate Session/i.test(text)) errCode = 'BMC_AUTH_FAILED';
  if (/Insufficient resources|node busy|busy/i.test(text)) errCode = 'BMC_BUSY';
  if (/Invalid data field|Invalid command|not supported|invalid authentication algorithm/i.test(text)) errCode = 'BMC_UNSUPPORTED';
  return new BootrackError(errCode, `ipmitool: ${first.trim()}`, { bmcMessage: first.trim(), exitCode: code });
}
