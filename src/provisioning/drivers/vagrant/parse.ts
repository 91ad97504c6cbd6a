/**
 * Parsers for Vagrant's outputs, from real captures of Vagrant 2.3.4 + vagrant-libvirt 0.11.2
 * (test/provisioning/vagrant-units.test.ts holds them):
 *
 * `vagrant status --machine-readable` prints `timestamp,target,type,data…` lines. Inside data a
 * comma is written `%!(VAGRANT_COMMA)` and a newline a literal `\n` (Vagrant's machine-readable
 * UI escaping), so a line is split on real commas first and the fields are unescaped after.
 * States are the PROVIDER's words: libvirt says `shutoff` (not VirtualBox's `poweroff`),
 * `not_created`, `running`, `paused`, `preparing`, `crashed`….
 */
export interface MachineReadableLine {
  timestamp: number;
  target: string;
  type: string;
  data: string[];
}

export function unescapeVagrant(field: string): string {
  return field.replaceAll('%!(VAGRANT_COMMA)', ',').replaceAll('\\n', '\n').replaceAll('\\r', '\r');
}

export function parseMachineReadable(text: string): MachineReadableLine[] {
  const out: MachineReadableLine[] = [];
  for (const line of text.split(/\r?\n/)) {
    const parts = line.split(',');
    if (parts.length < 3 || !/^\d+$/.test(parts[0]!)) continue; // not a machine-readable line (a warning, a blank)
    out.push({ timestamp: Number(parts[0]), target: parts[1]!, type: parts[2]!, data: parts.slice(3).map(unescapeVagrant) });
  }
  return out;
}

export interface MachineStatus {
  name: string;
  /** The provider's state id: running, shutoff, poweroff, not_created, saved, paused, … */
  state: string;
  provider?: string;
  /** Vagrant's human sentence about the state. */
  description?: string;
}

/** One entry per machine named in the output, in order of appearance. */
export function parseStatus(text: string): MachineStatus[] {
  const byName = new Map<string, MachineStatus>();
  for (const l of parseMachineReadable(text)) {
    if (!l.target) continue; // the trailing `ui` line has no target
    const m = byName.get(l.target) ?? { name: l.target, state: 'unknown' };
    if (l.type === 'state') m.state = l.data[0] ?? 'unknown';
    else if (l.type === 'provider-name') m.provider = l.data[0];
    else if (l.type === 'metadata' && l.data[0] === 'provider') m.provider ??= l.data[1];
    else if (l.type === 'state-human-long') m.description = l.data.join(',');
    byName.set(l.target, m);
  }
  return [...byName.values()];
}

/** Provider states in which the machine is up (and SSH can be expected). */
export function isRunningState(state: string): boolean {
  return state === 'running';
}

/** Provider states with no VM at all. */
export function isNotCreatedState(state: string): boolean {
  return state === 'not_created' || state === 'not created';
}

export interface SshConfig {
  host: string;
  hostName: string;
  user: string;
  port: number;
  identityFiles: string[];
  /** false when Vagrant says `StrictHostKeyChecking no` (its default: every VM gets fresh keys). */
  strictHostKeyChecking: boolean;
}

/** `vagrant ssh-config [names…]`: one `Host` block per machine (OpenSSH client config syntax). */
export function parseSshConfig(text: string): SshConfig[] {
  const out: SshConfig[] = [];
  let cur: SshConfig | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const value = m[2]!.replace(/^"(.*)"$/, '$1');
    if (key === 'host') {
      cur = { host: value, hostName: value, user: 'vagrant', port: 22, identityFiles: [], strictHostKeyChecking: true };
      out.push(cur);
      continue;
    }
    if (!cur) continue;
    if (key === 'hostname') cur.hostName = value;
    else if (key === 'user') cur.user = value;
    else if (key === 'port') cur.port = Number(value);
    else if (key === 'identityfile') cur.identityFiles.push(value);
    else if (key === 'stricthostkeychecking') cur.strictHostKeyChecking = !/^(no|off|false)$/i.test(value);
  }
  return out;
}
